//! The Lambda watcher's configuration: the same [`WatcherConfig`] every watcher reads, plus how
//! this one reaches the state container from outside Azure. Read once at start; a bad value
//! stops the process before the first invocation is taken, every problem named.

use std::path::Path;

use bcdr_core::settings::{ConfigError, Reader, Settings};
use bcdr_core::store::StoreConfig;
use watchdog::{AlertUrls, Watchdog, WatcherConfig};

use crate::federation::Federation;

/// The setting that chooses how the state container is reached.
pub const STATE_AUTH_SETTING: &str = "BCDR_STATE_AUTH";

/// How the Lambda reaches the state container.
#[derive(Debug, Clone)]
pub enum StateAccess {
    /// Workload identity federation: an STS web identity token exchanged for an Entra token of
    /// the Azure identity that trusts it. Nothing secret is stored in AWS. The default.
    Federated(Box<Federation>),
    /// The storage account key in `BCDR_STATE_ACCOUNT_KEY` (Azurite, key-based accounts). Only
    /// with `BCDR_STATE_AUTH=account-key`: a key stored in AWS is a secret that crossed clouds.
    AccountKey,
}

pub struct LambdaConfig {
    pub watcher: WatcherConfig,
    pub access: StateAccess,
}

impl LambdaConfig {
    pub fn from_settings(settings: &dyn Settings, beside_executable: &Path) -> Result<LambdaConfig, ConfigError> {
        let mut r = Reader::new(settings);
        // A channel's URL is a secret; one the template leaves out is skipped, not an error.
        let watcher = WatcherConfig::read(&mut r, settings, beside_executable, AlertUrls::WhereSet);
        let mode = r.optional(STATE_AUTH_SETTING).unwrap_or_else(|| "federated".to_owned());
        let access = match mode.as_str() {
            "federated" => Federation::from_settings(&mut r).map(|f| StateAccess::Federated(Box::new(f))),
            "account-key" => Some(StateAccess::AccountKey),
            other => {
                r.problems.push(STATE_AUTH_SETTING, Some(other), "expected federated (the default) or account-key");
                None
            }
        };
        if let (Some(watcher), Some(access)) = (&watcher, &access) {
            match (&watcher.store, access) {
                (StoreConfig::File { .. }, _) => r.problems.push(
                    "BCDR_STATE_URL",
                    None,
                    "a Lambda's file system is its own and is lost with its sandbox: set the blob container the Azure watchers share",
                ),
                (StoreConfig::BlobSharedKey { .. }, StateAccess::Federated(_)) => r.problems.push(
                    "BCDR_STATE_ACCOUNT_KEY",
                    None,
                    "a storage key is set, but BCDR_STATE_AUTH is federated: remove the key (no secret should cross clouds), or set BCDR_STATE_AUTH=account-key to mean it",
                ),
                (StoreConfig::BlobToken { .. }, StateAccess::AccountKey) => r.problems.push(
                    "BCDR_STATE_ACCOUNT_KEY",
                    None,
                    "BCDR_STATE_AUTH=account-key needs the storage account key",
                ),
                _ => {}
            }
        }
        let (Some(watcher), Some(access)) = (watcher, access) else {
            return Err(r.finish(()).expect_err("a missing value was recorded as a problem"));
        };
        r.finish(LambdaConfig { watcher, access })
    }

    /// The watchdog with real clients; the state store is reached as [`LambdaConfig::access`]
    /// says.
    pub fn watchdog(&self) -> Result<Watchdog, String> {
        let identity = match &self.access {
            StateAccess::Federated(federation) => federation.credential(None),
            StateAccess::AccountKey => Err("BCDR_STATE_AUTH is account-key: no identity".to_owned()),
        };
        self.watcher.watchdog(identity)
    }
}
