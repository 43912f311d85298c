//! The watchdog's configuration: the plan's `watchdog` and `alerts` sections and the app
//! settings, read once and checked before the port is bound, every problem reported at once.
//!
//! [`WatcherConfig`] is what every watcher reads wherever it runs; [`Config`] adds what the
//! Functions host gives (the port, the app's managed identity). The Lambda watcher reads the same
//! `WatcherConfig` and brings its own identity (`watchdog-lambda`).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bcdr_core::alert::AlertChannels;
use bcdr_core::identity::{self, Identity};
use bcdr_core::outbound::{self, Purpose};
use bcdr_core::plan::{FailoverPlan, Watch};
use bcdr_core::runtime;
use bcdr_core::settings::{ConfigError, Problems, Reader, Settings};
use bcdr_core::signature::signing_secret;
use bcdr_core::store::{StoreConfig, DEFAULT_TIMEOUT};

use crate::tick::Watchdog;
use bcdr_core::activation_client::SignedActivation;
use bcdr_core::prober::HttpProber;

/// The watchdog as a Functions custom handler.
pub struct Config {
    pub port: u16,
    pub watcher: WatcherConfig,
    /// The managed identity for the state store, read with the rest of the settings.
    pub identity: Identity,
}

impl Config {
    pub fn from_settings(settings: &dyn Settings, beside_executable: &Path) -> Result<Config, ConfigError> {
        let mut r = Reader::new(settings);
        let port = runtime::port(&mut r);
        let watcher = WatcherConfig::read(&mut r, settings, beside_executable, AlertUrls::Required);
        let (Some(port), Some(watcher)) = (port, watcher) else {
            return Err(r.finish(()).expect_err("a missing value was recorded as a problem"));
        };
        r.finish(Config { port, watcher, identity: identity::managed_identity(settings) })
    }

    /// The watchdog with real clients, the state store reached as the app's managed identity.
    pub fn watchdog(&self) -> Result<Watchdog, String> {
        self.watcher.watchdog(self.identity.clone())
    }
}

/// Whether every alert channel's URL setting must be set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertUrls {
    /// Every channel the plan names must have its URL (a Functions watcher: its Bicep sets them
    /// all, and a missing one is a deployment mistake).
    Required,
    /// The channels whose URL is set are used, the others skipped with a warning at start (the
    /// Lambda watcher: its template may leave a channel out; every alert still reaches its log).
    WhereSet,
}

/// What a watcher reads wherever it runs: the plan, the state store, the keys it sends, the
/// activation function, its name and the alert channels.
pub struct WatcherConfig {
    pub plan: FailoverPlan,
    pub plan_file: PathBuf,
    pub watches: Vec<Watch>,
    pub store: StoreConfig,
    pub health_key: Option<String>,
    pub activation_url: reqwest::Url,
    pub activation_key: Option<String>,
    pub activation_secret: Vec<u8>,
    /// This watcher's name in votes and decisions; distinct per deployment for a quorum.
    pub name: String,
    pub alerts: AlertChannels,
}

impl WatcherConfig {
    /// Reads the watcher's settings into `r`, which collects the problems; `None` when a
    /// required value is missing or bad (the problem is then recorded).
    pub fn read(
        r: &mut Reader<'_>,
        settings: &dyn Settings,
        beside_executable: &Path,
        alert_urls: AlertUrls,
    ) -> Option<WatcherConfig> {
        let (plan_file, plan) = FailoverPlan::from_settings(r, beside_executable);
        let watches = match plan.as_ref().map(|p| p.watchdog.as_ref()) {
            Some(Some(w)) => w.watches.clone(),
            Some(None) => {
                r.problems.push("$.watchdog", None, "the plan has no watchdog section: nothing to watch");
                Vec::new()
            }
            None => Vec::new(),
        };
        let store = StoreConfig::from_settings(r, beside_executable);
        let health_key = r.optional("BCDR_HEALTH_KEY");
        let activation_url = r
            .required(
                "BCDR_ACTIVATION_URL",
                "the activation function's URL, e.g. https://<app>.azurewebsites.net/api/activate",
            )
            .and_then(|raw| match reqwest::Url::parse(&raw) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.query().is_none() => Some(u),
                _ => {
                    r.problems.push(
                        "BCDR_ACTIVATION_URL",
                        Some(&raw),
                        "expected an http(s) URL without a query (the key comes from BCDR_ACTIVATION_KEY)",
                    );
                    None
                }
            });
        let activation_key = r.optional("BCDR_ACTIVATION_KEY");
        let activation_secret = signing_secret(r);
        let name = r
            .optional("BCDR_WATCHER_ID")
            .or_else(|| r.optional("WEBSITE_SITE_NAME"))
            .or_else(|| r.optional("AWS_LAMBDA_FUNCTION_NAME"))
            .or_else(|| r.optional("HOSTNAME"))
            .unwrap_or_else(|| "watcher".to_owned());
        let alert_plan = plan.as_ref().map(|p| p.alerts.clone()).unwrap_or_default();
        let alerts = match alert_urls {
            AlertUrls::Required => AlertChannels::resolve(&alert_plan, "$.alerts", settings, &mut r.problems),
            AlertUrls::WhereSet => {
                let mut unset = Problems::new();
                let channels = AlertChannels::resolve(&alert_plan, "$.alerts", settings, &mut unset);
                if let Err(skipped) = unset.finish(()) {
                    for problem in skipped.problems {
                        tracing::warn!(%problem, "this watcher's alerts skip a channel (they still reach its log)");
                    }
                }
                channels
            }
        };
        Some(WatcherConfig {
            plan: plan?,
            plan_file,
            watches,
            store: store?,
            health_key,
            activation_url: activation_url?,
            activation_key,
            activation_secret: activation_secret?,
            name,
            alerts,
        })
    }

    /// Time between two ticks: the plan's schedule (which the deployment sets as the timer's).
    pub fn interval(&self) -> Duration {
        self.plan.watchdog.as_ref().and_then(|w| w.interval()).unwrap_or(Duration::from_secs(60))
    }

    /// The watchdog with real clients: the store (a blob container without a key is reached as
    /// `identity`), HTTP probes, the signed activation client, and the alert channels.
    pub fn watchdog(&self, identity: Identity) -> Result<Watchdog, String> {
        let store = self.store.open(identity, DEFAULT_TIMEOUT)?;
        let longest = self.watches.iter().map(|w| w.policy.activation_timeout_ms).max().unwrap_or(60_000);
        Ok(Watchdog {
            watches: self.watches.clone(),
            store,
            prober: Arc::new(HttpProber::new(self.health_key.clone())),
            activation: Arc::new(SignedActivation::new(
                self.activation_url.clone(),
                self.activation_key.clone(),
                self.activation_secret.clone(),
                Duration::from_millis(longest.min(300_000)),
            )),
            alerter: self.alerts.alerter(&outbound::client(Purpose::Alerts)),
            watcher: self.name.clone(),
            interval: self.interval(),
        })
    }
}
