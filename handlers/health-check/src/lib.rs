//! The health-check function app: its configuration (the plan's `health` section and the app
//! settings) and its one function, `health` at `GET|HEAD /api/health`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bcdr_core::arm::{ArmClient, DEFAULT_ARM_ENDPOINT};
use bcdr_core::health::{Checker, HealthService};
use bcdr_core::identity::{self, Identity};
use bcdr_core::outbound::{self, Purpose};
use bcdr_core::plan::{setting_reference, CheckKind, FailoverPlan};
use bcdr_core::runtime::{self, FunctionApp};
use bcdr_core::settings::{ConfigError, Reader, Settings};
use http::{header, HeaderMap, HeaderName, HeaderValue, Method};

/// Everything the health-check needs, parsed and checked before the port is bound.
pub struct Config {
    pub port: u16,
    pub plan: FailoverPlan,
    pub plan_file: PathBuf,
    pub arm_endpoint: String,
    /// Per check name, its request headers with setting references resolved.
    pub headers: HashMap<String, HeaderMap>,
    /// The managed identity for ARM checks, read with the rest of the settings.
    pub identity: Identity,
}

impl Config {
    /// Reads the settings and the plan they point to, reporting every problem at once.
    /// `beside_executable` is where the plan is looked for when `BCDR_PLAN_FILE` is unset.
    pub fn from_settings(settings: &dyn Settings, beside_executable: &Path) -> Result<Config, ConfigError> {
        let mut r = Reader::new(settings);
        let port = runtime::port(&mut r);
        let arm_endpoint = r.optional("BCDR_ARM_ENDPOINT").unwrap_or_else(|| DEFAULT_ARM_ENDPOINT.to_owned());
        if !(arm_endpoint.starts_with("https://") || arm_endpoint.starts_with("http://")) {
            r.problems.push("BCDR_ARM_ENDPOINT", Some(&arm_endpoint), "expected an http(s) URL");
        }
        let (plan_file, plan) = FailoverPlan::from_settings(&mut r, beside_executable);
        let headers = plan.as_ref().map(|p| resolve_headers(p, &mut r)).unwrap_or_default();
        let (Some(port), Some(plan)) = (port, plan) else {
            return Err(r.finish(()).expect_err("a missing value was recorded as a problem"));
        };
        let identity = identity::managed_identity(settings);
        r.finish(Config { port, plan, plan_file, arm_endpoint, headers, identity })
    }

    /// The engine with real clients: reqwest for `http`, the managed identity for ARM checks.
    pub fn service(&self) -> HealthService {
        let arm = ArmClient::new(&self.arm_endpoint, outbound::client(Purpose::Arm), self.identity.clone());
        let http = outbound::client(Purpose::HealthChecks);
        let checker = Checker { http, arm: Arc::new(arm), headers: self.headers.clone() };
        HealthService::new(checker, self.plan.health.clone(), &self.plan.name, &self.plan.regions.primary)
    }
}

/// Header values written `%NAME%` come from the app setting NAME; a missing one is a problem.
fn resolve_headers(plan: &FailoverPlan, r: &mut Reader<'_>) -> HashMap<String, HeaderMap> {
    let mut all = HashMap::new();
    for (i, check) in plan.health.checks.iter().enumerate() {
        let CheckKind::Http(http) = &check.kind else { continue };
        let mut map = HeaderMap::new();
        for (name, value) in &http.headers {
            let at = format!("$.health.checks[{i}].headers.{name}");
            let value = match setting_reference(value) {
                Some(setting) => match r.optional(setting) {
                    Some(v) => v,
                    None => {
                        r.problems.push(
                            at,
                            Some(value),
                            format!("refers to the app setting {setting}, which is not set"),
                        );
                        continue;
                    }
                },
                None => value.clone(),
            };
            match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&value)) {
                (Ok(n), Ok(mut v)) => {
                    v.set_sensitive(true);
                    map.insert(n, v);
                }
                // The value may be a key: name the header, never print the value.
                _ => r.problems.push(at, None, "is not a valid header"),
            }
        }
        all.insert(check.name.clone(), map);
    }
    all
}

/// The function app: `health` answers with the (possibly reused) report.
pub fn app(service: HealthService) -> FunctionApp {
    FunctionApp::new().http("health", "health", &[Method::GET, Method::HEAD], move |_req| {
        let service = service.clone();
        async move {
            let answer = service.answer().await;
            let mut res = runtime::json_response(answer.status, answer.body.clone());
            res.headers_mut().insert(
                header::HeaderName::from_static("x-health-status"),
                HeaderValue::from_static(match answer.report.status {
                    bcdr_core::health::Health::Healthy => "healthy",
                    bcdr_core::health::Health::Degraded => "degraded",
                    bcdr_core::health::Health::Unhealthy => "unhealthy",
                }),
            );
            res
        }
    })
}
