//! The generic webhook sink (the alert itself as JSON), and the one HTTP POST all webhook sinks
//! share: status codes turned into [`AlertError`]s, with the secret URL kept out of every message
//! (the wording is [`crate::outbound`]'s).

use std::fmt;

use async_trait::async_trait;
use reqwest::{StatusCode, Url};
use serde::Serialize;
use serde_json::Value;

use super::{Alert, AlertError, AlertSink};
use crate::outbound::{self, Secret};

/// A webhook URL and the client that posts to it. The URL is the credential, so `Debug` shows
/// only its scheme and host.
#[derive(Clone)]
pub(crate) struct Endpoint {
    client: reqwest::Client,
    url: Url,
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}/…", self.url.scheme(), self.url.host_str().unwrap_or_default())
    }
}

impl Endpoint {
    pub(crate) fn new(client: reqwest::Client, url: Url) -> Self {
        Self { client, url }
    }

    /// POSTs `payload` as JSON. Any 2xx is success (Teams workflows answer 202, Slack 200).
    pub(crate) async fn post(&self, payload: &impl Serialize) -> Result<(), AlertError> {
        let res = self
            .client
            .post(self.url.clone())
            .json(payload)
            .send()
            .await
            .map_err(|e| AlertError::Unavailable { detail: self.scrub(&outbound::describe(&e)) })?;
        let status = res.status();
        if status.is_success() {
            return Ok(());
        }
        // The body says why (Slack: `invalid_payload`, `channel_is_archived`; Power Automate: a
        // JSON error), which is what the operator needs to fix the channel.
        let body = res.bytes().await.unwrap_or_default();
        if status == StatusCode::REQUEST_TIMEOUT || status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error()
        {
            let detail = outbound::status_text(status.as_u16(), &body, &self.url, Secret::PathAndQuery);
            Err(AlertError::Unavailable { detail })
        } else {
            let detail =
                outbound::excerpt(&body, Some(&self.url), Secret::PathAndQuery).unwrap_or_else(|| "no body".to_owned());
            Err(AlertError::Rejected { status: status.as_u16(), detail })
        }
    }

    /// Takes the URL out of text that may quote it: the path (Slack) or the `sig` query
    /// parameter (Power Automate) is the secret.
    fn scrub(&self, text: &str) -> String {
        outbound::scrub(text, &self.url, Secret::PathAndQuery)
    }
}

/// Posts the alert itself as JSON (see [`Alert`] for the fields), for receivers of one's own:
/// a Logic App, an incident tool, a chat bridge.
#[derive(Debug, Clone)]
pub struct WebhookSink {
    name: String,
    endpoint: Endpoint,
}

impl WebhookSink {
    pub fn new(name: impl Into<String>, url: Url, client: reqwest::Client) -> Self {
        Self { name: name.into(), endpoint: Endpoint::new(client, url) }
    }

    /// The body sent: the alert's own camelCase JSON.
    pub fn payload(alert: &Alert) -> Value {
        serde_json::to_value(alert).expect("an alert is plain data and always serializes")
    }
}

#[async_trait]
impl AlertSink for WebhookSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.endpoint.post(&Self::payload(alert)).await
    }
}
