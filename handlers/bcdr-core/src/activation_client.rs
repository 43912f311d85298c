//! The activation function as its callers see it (the watchdog's ticks, the operator's CLI): the
//! [`ActivationApi`] trait, the real client that sends a signed `POST /api/activate`, and what an
//! answer means to the watch.

use std::time::Duration;

use async_trait::async_trait;

use crate::outbound::{self, Purpose, Secret};
use crate::signature::{signed_headers, ActivationRequest};
use crate::watch::ActivationOutcome;

/// The activation function, as the watchdog sees it.
#[async_trait]
pub trait ActivationApi: Send + Sync {
    async fn request(&self, request: &ActivationRequest) -> ActivationOutcome;
}

/// The real client: the body signed with the shared secret, the function key on top.
pub struct SignedActivation {
    http: reqwest::Client,
    url: reqwest::Url,
    key: Option<String>,
    secret: Vec<u8>,
}

impl SignedActivation {
    pub fn new(url: reqwest::Url, key: Option<String>, secret: Vec<u8>, timeout: Duration) -> Self {
        Self { http: outbound::client(Purpose::Activation { timeout }), url, key, secret }
    }
}

impl SignedActivation {
    /// Sends one signed request; the answer's status and body (`Null` if it is not JSON, and the
    /// URL taken out of it wherever it is quoted), or why there was no answer.
    pub async fn send(&self, request: &ActivationRequest) -> Result<(u16, serde_json::Value), String> {
        let body = serde_json::to_vec(request).expect("plain data serializes");
        let timestamp = chrono::Utc::now().timestamp();
        let mut req = self.http.post(self.url.clone()).header("content-type", "application/json");
        for (name, value) in signed_headers(&self.secret, "POST", self.url.path(), timestamp, &body) {
            req = req.header(name, value);
        }
        if let Some(key) = &self.key {
            req = req.header("x-functions-key", key);
        }
        let res = req
            .body(body)
            .send()
            .await
            .map_err(|e| format!("activation did not answer: {}", outbound::describe(&e)))?;
        let status = res.status().as_u16();
        let text = outbound::scrub(&res.text().await.unwrap_or_default(), &self.url, Secret::Query);
        Ok((status, serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))))
    }
}

/// What an activation answer means to the watch: done, or a failure and whether asking again
/// (with the same epoch) may help.
pub fn outcome_of(status: u16, body: &serde_json::Value) -> ActivationOutcome {
    match status {
        // 202: the activation ran but could not finish (a client-state copy's primary could not
        // be confirmed fenced): not done, so the same epoch is asked for again later.
        202 => ActivationOutcome::Failed {
            reason: "activation is waiting for the primary's copies to be fenced".to_owned(),
            retryable: true,
        },
        200..=299 => ActivationOutcome::Succeeded,
        _ => {
            let detail = body.get("error").and_then(|e| e.as_str()).map(str::to_owned).unwrap_or_else(|| {
                let text = body.as_str().map(str::to_owned).unwrap_or_else(|| body.to_string());
                outbound::excerpt(text.as_bytes(), None, Secret::Query).unwrap_or_default()
            });
            // A refusal of the request itself (bad signature, stale epoch, unknown watch) will
            // not change by asking again; anything else may.
            let retryable = !matches!(status, 400 | 401 | 403 | 404 | 409 | 422);
            ActivationOutcome::Failed { reason: format!("activation answered {status}: {detail}"), retryable }
        }
    }
}

#[async_trait]
impl ActivationApi for SignedActivation {
    async fn request(&self, request: &ActivationRequest) -> ActivationOutcome {
        match self.send(request).await {
            Ok((status, body)) => outcome_of(status, &body),
            Err(reason) => ActivationOutcome::Failed { reason, retryable: true },
        }
    }
}
