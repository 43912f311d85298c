//! The alert channels a plan configures. A webhook URL is a credential, so the plan never holds
//! it: each channel names the app setting that does (`"urlSetting": "BCDR_TEAMS_WEBHOOK_URL"`),
//! typically a Key Vault reference. The plan is checked on its own ([`AlertPlan::validate`]);
//! the URLs are read and checked when a binary starts ([`AlertChannels::resolve`]).

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use serde::{Deserialize, Serialize};

use super::{AlertSink, Alerter, SlackSink, TeamsSink, WebhookSink};
use crate::settings::{ConfigError, Problems, Settings};

/// How long one attempt to deliver to one channel may take, unless the plan says otherwise.
pub const DEFAULT_ALERT_TIMEOUT_MS: u64 = 5_000;

/// The plan's `alerts` section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertPlan {
    /// Where alerts go besides the log, which always gets them.
    #[serde(default)]
    pub channels: Vec<AlertChannel>,
    /// Each attempt to deliver to one channel is cut off after this many milliseconds.
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_timeout_ms() -> u64 {
    DEFAULT_ALERT_TIMEOUT_MS
}

impl Default for AlertPlan {
    fn default() -> Self {
        Self { channels: Vec::new(), timeout_ms: DEFAULT_ALERT_TIMEOUT_MS }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlertChannel {
    /// Names the channel in logs, in place of its URL.
    pub name: String,
    pub kind: ChannelKind,
    /// The app setting that holds the webhook URL.
    pub url_setting: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// The alert as JSON, to any receiver.
    Webhook,
    /// A Microsoft Teams Workflows webhook.
    Teams,
    /// A Slack incoming webhook.
    Slack,
}

impl AlertPlan {
    /// The rules the types cannot express, each problem at its JSON path under `at`
    /// (the section's own path, e.g. `$.alerts`).
    pub fn validate(&self, at: &str, p: &mut Problems) {
        if !(100..=60_000).contains(&self.timeout_ms) {
            p.push(
                format!("{at}.timeoutMs"),
                Some(&self.timeout_ms.to_string()),
                "must be between 100 and 60000 milliseconds",
            );
        }
        let mut names = HashSet::new();
        for (i, channel) in self.channels.iter().enumerate() {
            let here = format!("{at}.channels[{i}]");
            let name = channel.name.trim();
            if name.is_empty() {
                p.push(format!("{here}.name"), Some(&channel.name), "must not be empty");
            } else if name.eq_ignore_ascii_case("log") {
                p.push(
                    format!("{here}.name"),
                    Some(&channel.name),
                    "is reserved for the log, which always gets alerts",
                );
            } else if !names.insert(name.to_ascii_lowercase()) {
                p.push(format!("{here}.name"), Some(&channel.name), "is used by another channel");
            }
            let setting = &channel.url_setting;
            if setting.contains("://") {
                // Someone pasted the URL itself: say so without repeating the secret.
                p.push(
                    format!("{here}.urlSetting"),
                    None,
                    "must name the app setting that holds the URL, not the URL itself (the URL is a secret)",
                );
            } else if setting.is_empty() || !setting.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                p.push(
                    format!("{here}.urlSetting"),
                    Some(setting),
                    "must be an app setting name (letters, digits and underscores)",
                );
            }
        }
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_millis(self.timeout_ms)
    }
}

/// A channel with its URL read from settings. `Debug` leaves the URL out.
#[derive(Clone)]
pub struct ResolvedChannel {
    name: String,
    kind: ChannelKind,
    url: Url,
}

impl fmt::Debug for ResolvedChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResolvedChannel").field("name", &self.name).field("kind", &self.kind).finish_non_exhaustive()
    }
}

impl ResolvedChannel {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn kind(&self) -> ChannelKind {
        self.kind
    }

    pub fn sink(&self, client: &reqwest::Client) -> Arc<dyn AlertSink> {
        let (name, url, client) = (self.name.clone(), self.url.clone(), client.clone());
        match self.kind {
            ChannelKind::Webhook => Arc::new(WebhookSink::new(name, url, client)),
            ChannelKind::Teams => Arc::new(TeamsSink::new(name, url, client)),
            ChannelKind::Slack => Arc::new(SlackSink::new(name, url, client)),
        }
    }
}

/// The configured channels, ready to build sinks from.
#[derive(Debug, Clone)]
pub struct AlertChannels {
    channels: Vec<ResolvedChannel>,
    timeout: Duration,
}

impl AlertChannels {
    /// Reads each channel's URL from its setting. A missing setting, or one that is not an https
    /// URL (http only to localhost, for local receivers), is a problem at the channel's
    /// `urlSetting` path; the URL itself never goes into a problem.
    pub fn resolve(plan: &AlertPlan, at: &str, settings: &dyn Settings, p: &mut Problems) -> Self {
        let mut channels = Vec::new();
        for (i, channel) in plan.channels.iter().enumerate() {
            let here = format!("{at}.channels[{i}].urlSetting");
            let setting = channel.url_setting.as_str();
            let Some(raw) = settings.get(setting).filter(|v| !v.trim().is_empty()) else {
                p.push(here, Some(setting), "the app setting is not set");
                continue;
            };
            match webhook_url(raw.trim()) {
                Ok(url) => {
                    channels.push(ResolvedChannel { name: channel.name.trim().to_owned(), kind: channel.kind, url })
                }
                Err(why) => p.push(here, Some(setting), format!("the app setting {why}")),
            }
        }
        Self { channels, timeout: plan.timeout() }
    }

    /// [`resolve`](Self::resolve), failing with every problem found.
    pub fn from_plan(plan: &AlertPlan, at: &str, settings: &dyn Settings) -> Result<Self, ConfigError> {
        let mut p = Problems::new();
        let channels = Self::resolve(plan, at, settings, &mut p);
        p.finish(channels)
    }

    pub fn channels(&self) -> &[ResolvedChannel] {
        &self.channels
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    pub fn sinks(&self, client: &reqwest::Client) -> Vec<Arc<dyn AlertSink>> {
        self.channels.iter().map(|c| c.sink(client)).collect()
    }

    /// The fan-out over every channel, each attempt under the plan's timeout.
    pub fn alerter(&self, client: &reqwest::Client) -> Alerter {
        Alerter::new(self.sinks(client), self.timeout)
    }
}

/// An https URL, or http to this machine (a local receiver in tests and demos).
fn webhook_url(raw: &str) -> Result<Url, &'static str> {
    let url = Url::parse(raw).map_err(|_| "does not hold a URL")?;
    let local = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" if url.host_str().is_some() => Ok(url),
        "http" if local => Ok(url),
        "http" => Err("must hold an https URL (http is allowed only for localhost)"),
        _ => Err("must hold an https URL"),
    }
}
