//! Microsoft Teams through a Workflows webhook (Power Automate, trigger "When a Teams webhook
//! request is received"). The Office 365 connector webhooks that took `MessageCard`s are retired;
//! a workflow takes a message whose attachments are Adaptive Cards and posts each card to the
//! channel, so the payload is
//! `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive","contentUrl":null,"content":<card>}]}`.

use async_trait::async_trait;
use reqwest::Url;
use serde_json::{json, Value};

use super::webhook::Endpoint;
use super::{Alert, AlertError, AlertSink, Severity};

/// The card schema version; Teams renders 1.4 on every client, later versions not everywhere.
const CARD_VERSION: &str = "1.4";

#[derive(Debug, Clone)]
pub struct TeamsSink {
    name: String,
    endpoint: Endpoint,
}

impl TeamsSink {
    pub fn new(name: impl Into<String>, url: Url, client: reqwest::Client) -> Self {
        Self { name: name.into(), endpoint: Endpoint::new(client, url) }
    }

    /// The message posted: one Adaptive Card with the title (coloured by severity), the text, and
    /// a fact set of the watch, severity, kind, epoch, time and the alert's own fields.
    pub fn payload(alert: &Alert) -> Value {
        let color = match alert.severity {
            Severity::Critical => "Attention",
            Severity::Warning => "Warning",
            Severity::Info => "Accent",
        };
        let mut body = vec![json!({
            "type": "TextBlock",
            "text": alert.title,
            "size": "Large",
            "weight": "Bolder",
            "color": color,
            "wrap": true,
        })];
        if !alert.text.is_empty() {
            body.push(json!({ "type": "TextBlock", "text": alert.text, "wrap": true }));
        }
        let mut facts = vec![
            fact("Watch", &alert.watch),
            fact("Severity", alert.severity.label()),
            fact("Kind", alert.kind.label()),
            fact("Epoch", &alert.epoch.to_string()),
            fact("Time (UTC)", &alert.at.format("%Y-%m-%d %H:%M:%S").to_string()),
        ];
        facts.extend(alert.fields.iter().map(|(k, v)| fact(k, v)));
        body.push(json!({ "type": "FactSet", "facts": facts }));
        json!({
            "type": "message",
            "attachments": [{
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": null,
                "content": {
                    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                    "type": "AdaptiveCard",
                    "version": CARD_VERSION,
                    "body": body,
                },
            }],
        })
    }
}

fn fact(title: &str, value: &str) -> Value {
    json!({ "title": title, "value": value })
}

#[async_trait]
impl AlertSink for TeamsSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.endpoint.post(&Self::payload(alert)).await
    }
}
