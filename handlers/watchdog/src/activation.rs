//! Asking for activation: a signed `POST /api/activate` to the secondary's activation function.

use std::time::Duration;

use async_trait::async_trait;
use bcdr_core::signature::{signed_headers, ActivationRequest};
use bcdr_core::watch::ActivationOutcome;

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
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("bcdr-watchdog/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("a client with static settings builds");
        Self { http, url, key, secret }
    }
}

#[async_trait]
impl ActivationApi for SignedActivation {
    async fn request(&self, request: &ActivationRequest) -> ActivationOutcome {
        let body = serde_json::to_vec(request).expect("plain data serializes");
        let timestamp = chrono::Utc::now().timestamp();
        let mut req = self.http.post(self.url.clone()).header("content-type", "application/json");
        for (name, value) in signed_headers(&self.secret, "POST", self.url.path(), timestamp, &body) {
            req = req.header(name, value);
        }
        if let Some(key) = &self.key {
            req = req.header("x-functions-key", key);
        }
        match req.body(body).send().await {
            // 202: the activation ran but could not finish (a client-state copy's primary could
            // not be confirmed fenced): not done, so the same epoch is asked for again later.
            Ok(res) if res.status() == reqwest::StatusCode::ACCEPTED => ActivationOutcome::Failed {
                reason: "activation is waiting for the primary's copies to be fenced".to_owned(),
                retryable: true,
            },
            Ok(res) if res.status().is_success() => ActivationOutcome::Succeeded,
            Ok(res) => {
                let status = res.status().as_u16();
                let text = res.text().await.unwrap_or_default();
                let reason = format!(
                    "activation answered {status}: {}",
                    text.lines().next().unwrap_or("").chars().take(200).collect::<String>()
                );
                // A refusal of the request itself (bad signature, stale epoch, unknown watch)
                // will not change by asking again; anything else may.
                let retryable = !matches!(status, 400 | 401 | 403 | 404 | 409 | 422);
                ActivationOutcome::Failed { reason, retryable }
            }
            Err(e) => ActivationOutcome::Failed {
                reason: format!("activation did not answer: {}", e.without_url()),
                retryable: true,
            },
        }
    }
}
