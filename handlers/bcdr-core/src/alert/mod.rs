//! Alerts to the operators: what an alert says, the sinks that carry it (a generic webhook,
//! Microsoft Teams, Slack, and the log, which always runs), the channels a plan configures, and
//! the fan-out that sends to all of them without ever holding up the caller.
//!
//! Webhook URLs are secrets (the URL is the credential): they come from app settings named in the
//! plan, and they never appear in logs, errors or `Debug` output.

mod channels;
mod dispatch;
mod log;
mod slack;
mod teams;
mod webhook;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use crate::plan::Watch;
use crate::watch;

pub use channels::{AlertChannel, AlertChannels, AlertPlan, ChannelKind, ResolvedChannel, DEFAULT_ALERT_TIMEOUT_MS};
pub use dispatch::{AlertDelivery, Alerter, DEFAULT_RETRY_DELAY};
pub use log::LogSink;
pub use slack::SlackSink;
pub use teams::TeamsSink;
pub use webhook::WebhookSink;

/// The one alert vocabulary: the decision core raises alerts of these kinds and severities, and
/// every channel carries the same words.
pub use crate::watch::{AlertKind, Severity};

/// One thing the operators should know about, e.g. the primary is down or activation was asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Alert {
    /// The watch it concerns.
    pub watch: String,
    pub severity: Severity,
    /// What happened, a stable name receivers can route on, spelled as in the decision log:
    /// `primaryDown`, `activationRequested`.
    pub kind: AlertKind,
    /// One line for a notification.
    pub title: String,
    /// What happened and what to do, a few sentences.
    pub text: String,
    /// The watch's epoch when the alert was raised, so alerts from one outage group together.
    pub epoch: u64,
    pub at: DateTime<Utc>,
    /// Details shown as a table: probe results, thresholds, links.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
}

impl Alert {
    pub fn new(
        watch: impl Into<String>,
        severity: Severity,
        kind: AlertKind,
        title: impl Into<String>,
        at: DateTime<Utc>,
    ) -> Self {
        Self {
            watch: watch.into(),
            severity,
            kind,
            title: title.into(),
            text: String::new(),
            epoch: 0,
            at,
            fields: BTreeMap::new(),
        }
    }

    /// The message for an alert the decision core raised on `watch`, as stepped by `watcher`:
    /// the one conversion from a decision's alert to what the channels carry.
    pub fn raised(raised: &watch::Alert, watch: &Watch, watcher: &str, epoch: u64, at: DateTime<Utc>) -> Self {
        let again = if raised.reminder { " (reminder)" } else { "" };
        let title = format!("{}: {}{again}", watch.name, raised.kind);
        Alert::new(&watch.name, raised.severity, raised.kind, title, at)
            .with_text(&raised.message)
            .with_epoch(epoch)
            .with_field("watcher", watcher)
            .with_field("target", &watch.target)
    }

    pub fn with_text(mut self, text: impl Into<String>) -> Self {
        self.text = text.into();
        self
    }

    pub fn with_epoch(mut self, epoch: u64) -> Self {
        self.epoch = epoch;
        self
    }

    pub fn with_field(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.fields.insert(name.into(), value.into());
        self
    }
}

/// Why a sink could not deliver an alert, shaped by whether trying again can help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlertError {
    /// The receiver refused the alert (a 4xx answer): the URL or the payload is wrong, and sending
    /// it again will not help. The operator must fix the channel.
    #[error("rejected with status {status}: {detail}")]
    Rejected { status: u16, detail: String },
    /// The receiver failed (5xx, 408, 429), could not be reached, or did not answer in time: a
    /// later attempt may succeed.
    #[error("unavailable: {detail}")]
    Unavailable { detail: String },
}

impl AlertError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, AlertError::Unavailable { .. })
    }
}

/// Somewhere alerts go. Implementations must not put their URL or credentials in errors.
#[async_trait]
pub trait AlertSink: Send + Sync {
    /// The channel's name from the plan, used in logs instead of its URL.
    fn name(&self) -> &str;
    async fn send(&self, alert: &Alert) -> Result<(), AlertError>;
}
