//! The activation app's configuration: the plan (its resources, router and activation sections),
//! the signing secrets, ARM and the store, read once and checked before the port is bound.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bcdr_core::arm::{ArmClient, DEFAULT_ARM_ENDPOINT};
use bcdr_core::identity::{self, Identity};
use bcdr_core::outbound::{self, Purpose};
use bcdr_core::plan::FailoverPlan;
use bcdr_core::runtime;
use bcdr_core::settings::{ConfigError, Reader, Settings};
use bcdr_core::signature::Verifier;
use bcdr_core::store::{StoreConfig, DEFAULT_TIMEOUT};

use crate::Activation;

pub struct Config {
    pub port: u16,
    pub plan: FailoverPlan,
    pub plan_file: PathBuf,
    pub arm_endpoint: String,
    pub store: StoreConfig,
    pub verifier: Verifier,
    /// The managed identity, for ARM and the store, read with the rest of the settings.
    pub identity: Identity,
}

impl Config {
    pub fn from_settings(settings: &dyn Settings, beside_executable: &Path) -> Result<Config, ConfigError> {
        let mut r = Reader::new(settings);
        let port = runtime::port(&mut r);
        let (plan_file, plan) = FailoverPlan::from_settings(&mut r, beside_executable);
        if let Some(p) = &plan {
            if p.resources.is_empty() && p.router.is_none() {
                r.problems.push("$.resources", None, "the plan switches nothing: add resources or a router");
            }
        }
        let arm_endpoint = r.optional("BCDR_ARM_ENDPOINT").unwrap_or_else(|| DEFAULT_ARM_ENDPOINT.to_owned());
        if !(arm_endpoint.starts_with("https://") || arm_endpoint.starts_with("http://")) {
            r.problems.push("BCDR_ARM_ENDPOINT", Some(&arm_endpoint), "expected an http(s) URL");
        }
        let store = StoreConfig::from_settings(&mut r, beside_executable);
        let verifier = Verifier::from_reader(&mut r);
        let (Some(port), Some(plan), Some(store), Some(verifier)) = (port, plan, store, verifier) else {
            return Err(r.finish(()).expect_err("a missing value was recorded as a problem"));
        };
        let identity = identity::managed_identity(settings);
        r.finish(Config { port, plan, plan_file, arm_endpoint, store, verifier, identity })
    }

    /// The app with real clients: ARM through the managed identity, and the store.
    pub fn service(self) -> Result<Activation, String> {
        let store = self.store.open(self.identity.clone(), DEFAULT_TIMEOUT)?;
        let arm = ArmClient::new(&self.arm_endpoint, outbound::client(Purpose::Arm), self.identity);
        Ok(Activation {
            plan: self.plan,
            arm: Arc::new(arm),
            store,
            verifier: self.verifier,
            running: Default::default(),
        })
    }
}
