//! Slack through an incoming webhook: `{"text": <fallback>, "blocks": [...]}`. With blocks present
//! Slack shows `text` only in notifications, so it carries the whole alert in one line.

use async_trait::async_trait;
use reqwest::Url;
use serde_json::{json, Value};

use super::webhook::Endpoint;
use super::{Alert, AlertError, AlertSink, Severity};

// Block Kit limits: a header's text, a section's text, the fields of one section, and the
// fields shown in all (a message holds at most 50 blocks).
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;
const FIELDS_PER_SECTION: usize = 10;
const FIELDS_MAX: usize = 40;

#[derive(Debug, Clone)]
pub struct SlackSink {
    name: String,
    endpoint: Endpoint,
}

impl SlackSink {
    pub fn new(name: impl Into<String>, url: Url, client: reqwest::Client) -> Self {
        Self { name: name.into(), endpoint: Endpoint::new(client, url) }
    }

    /// The message posted: a header with the title, the text, the alert's fields two to a row,
    /// and a context line with the severity, kind, watch, epoch and time.
    pub fn payload(alert: &Alert) -> Value {
        let marker = match alert.severity {
            Severity::Critical => ":red_circle:",
            Severity::Warning => ":warning:",
            Severity::Info => ":information_source:",
        };
        let mut blocks = vec![json!({
            "type": "header",
            "text": { "type": "plain_text", "text": clip(&format!("{marker} {}", alert.title), HEADER_MAX), "emoji": true },
        })];
        if !alert.text.is_empty() {
            blocks.push(json!({
                "type": "section",
                "text": { "type": "mrkdwn", "text": clip(&escape(&alert.text), SECTION_MAX) },
            }));
        }
        let mut fields: Vec<Value> = alert
            .fields
            .iter()
            .take(FIELDS_MAX)
            .map(|(k, v)| json!({ "type": "mrkdwn", "text": clip(&format!("*{}*\n{}", escape(k), escape(v)), FIELD_MAX) }))
            .collect();
        if alert.fields.len() > FIELDS_MAX {
            // Replace the last shown field so the count stays within the limit.
            fields.pop();
            let more = alert.fields.len() - FIELDS_MAX + 1;
            fields.push(json!({ "type": "mrkdwn", "text": format!("*…*\n{more} more fields") }));
        }
        for chunk in fields.chunks(FIELDS_PER_SECTION) {
            blocks.push(json!({ "type": "section", "fields": chunk }));
        }
        blocks.push(json!({
            "type": "context",
            "elements": [{
                "type": "mrkdwn",
                "text": format!(
                    "*{}* · {} · watch {} · epoch {} · {}",
                    alert.severity.label().to_uppercase(),
                    escape(alert.kind.label()),
                    escape(&alert.watch),
                    alert.epoch,
                    alert.at.format("%Y-%m-%d %H:%M:%S UTC"),
                ),
            }],
        }));
        let fallback = format!(
            "[{}] {}: {} (watch {}, epoch {})",
            alert.severity.label().to_uppercase(),
            alert.kind,
            alert.title,
            alert.watch,
            alert.epoch
        );
        json!({ "text": escape(&fallback), "blocks": blocks })
    }
}

/// Slack reads `&`, `<` and `>` as markup (`<!channel>` would notify everyone), so text from
/// probes and plans is escaped before it goes in.
fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let kept: String = s.chars().take(max.saturating_sub(1)).collect();
    format!("{kept}…")
}

#[async_trait]
impl AlertSink for SlackSink {
    fn name(&self) -> &str {
        &self.name
    }

    async fn send(&self, alert: &Alert) -> Result<(), AlertError> {
        self.endpoint.post(&Self::payload(alert)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_keeps_within_the_limit() {
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(clip("abcd", 3), "ab…");
        assert_eq!(clip("ééé", 3), "ééé");
        assert_eq!(clip("éééé", 3).chars().count(), 3);
    }
}
