//! The primary's health: runs the plan's checks concurrently, each under its own timeout and
//! all under one deadline, and folds them into healthy / degraded / unhealthy. Concurrent
//! callers share one evaluation, and a finished report is reused for a short time, so any
//! number of watchers costs the dependencies one evaluation per reuse window.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::future::{BoxFuture, FutureExt, Shared};
use http::{HeaderMap, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::arm::catalog::{self, property, same_value, LOGIC_API_VERSION};
use crate::arm::ManagementApi;
use crate::outbound;
use crate::plan::{ArmResourceCheck, Check, CheckKind, DnsCheck, HealthPlan, HttpCheck, LogicAppCheck, TcpCheck};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    Healthy,
    Degraded,
    Unhealthy,
}

impl Health {
    /// Unhealthy is 503 so that anything watching status codes alone sees the failure.
    pub fn status_code(self) -> StatusCode {
        match self {
            Health::Healthy | Health::Degraded => StatusCode::OK,
            Health::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
/// How one check went.
pub enum CheckStatus {
    Pass,
    Fail,
    Timeout,
}

/// One check's result. `reason` is short and never carries keys, tokens or query strings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub name: String,
    pub kind: String,
    pub critical: bool,
    pub status: CheckStatus,
    pub duration_ms: u64,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub status: Health,
    pub plan: String,
    pub region: String,
    pub checked_at: DateTime<Utc>,
    pub duration_ms: u64,
    pub checks: Vec<CheckResult>,
}

/// Folds check results: a failing critical check is unhealthy, a failing other one degraded.
pub fn verdict(results: &[CheckResult]) -> Health {
    let failing = |critical: bool| results.iter().any(|r| r.critical == critical && r.status != CheckStatus::Pass);
    if failing(true) {
        Health::Unhealthy
    } else if failing(false) {
        Health::Degraded
    } else {
        Health::Healthy
    }
}

/// The clients the checks use. Header values are resolved from settings before this is built.
pub struct Checker {
    /// For `http` checks: [`outbound::Purpose::HealthChecks`].
    pub http: reqwest::Client,
    pub arm: Arc<dyn ManagementApi>,
    /// Per check name, the request headers of `http` checks.
    pub headers: HashMap<String, HeaderMap>,
}

impl Checker {
    /// Runs one check under its timeout.
    pub async fn run(&self, check: &Check, timeout: Duration) -> CheckResult {
        let started = Instant::now();
        let outcome = tokio::time::timeout(timeout, self.probe(check)).await;
        let (status, reason) = match outcome {
            Ok(Ok(detail)) => (CheckStatus::Pass, detail),
            Ok(Err(reason)) => (CheckStatus::Fail, reason),
            Err(_) => (CheckStatus::Timeout, outbound::no_answer_within(timeout)),
        };
        CheckResult {
            name: check.name.clone(),
            kind: check.kind.label().to_owned(),
            critical: check.critical,
            status,
            duration_ms: started.elapsed().as_millis() as u64,
            reason,
        }
    }

    /// `Ok(detail)` when the check passes, `Err(reason)` when it fails.
    async fn probe(&self, check: &Check) -> Result<String, String> {
        match &check.kind {
            CheckKind::Http(c) => self.http_check(&check.name, c).await,
            CheckKind::Tcp(c) => tcp_check(c).await,
            CheckKind::Dns(c) => dns_check(c).await,
            CheckKind::LogicApp(c) => self.logic_app_check(c).await,
            CheckKind::ArmResource(c) => self.arm_resource_check(c).await,
        }
    }

    async fn http_check(&self, name: &str, c: &HttpCheck) -> Result<String, String> {
        let mut req = self.http.get(&c.url);
        if let Some(h) = self.headers.get(name) {
            req = req.headers(h.clone());
        }
        let res = req.send().await.map_err(|e| outbound::describe(&e))?;
        let status = res.status().as_u16();
        if !c.expect_status.contains(status) {
            return Err(format!("status {status}, expected {}", c.expect_status));
        }
        if let Some(needle) = &c.body_contains {
            let body = res.bytes().await.map_err(|e| outbound::describe(&e))?;
            if !contains(&body, needle.as_bytes()) {
                return Err(format!("status {status}, body lacks the expected text"));
            }
        }
        Ok(format!("status {status}"))
    }

    async fn logic_app_check(&self, c: &LogicAppCheck) -> Result<String, String> {
        let workflow = self.arm.get(c.resource_id.as_str(), LOGIC_API_VERSION, &[]).await.map_err(|e| e.to_string())?;
        let state = property(&workflow, catalog::STATE).and_then(Value::as_str).unwrap_or("unknown");
        if !state.eq_ignore_ascii_case("Enabled") {
            return Err(format!("workflow state is {state}"));
        }
        let Some(max_ratio) = c.max_failed_ratio else {
            return Ok("workflow Enabled".to_owned());
        };
        let top = c.last_runs.to_string();
        let runs_path = format!("{}/runs", c.resource_id);
        let runs = self.arm.get(&runs_path, LOGIC_API_VERSION, &[("$top", &top)]).await.map_err(|e| e.to_string())?;
        let statuses: Vec<&str> = runs
            .get("value")
            .and_then(Value::as_array)
            .map(|v| v.iter().filter_map(|r| property(r, catalog::RUN_STATUS).and_then(Value::as_str)).collect())
            .unwrap_or_default();
        let (failed, finished) = failed_ratio(&statuses);
        if finished == 0 {
            return Ok("workflow Enabled, no finished runs".to_owned());
        }
        let ratio = failed as f64 / finished as f64;
        let summary = format!("{failed} of the last {finished} finished runs failed");
        if ratio > max_ratio {
            Err(format!("{summary} (more than {:.0}%)", max_ratio * 100.0))
        } else {
            Ok(format!("workflow Enabled, {summary}"))
        }
    }

    async fn arm_resource_check(&self, c: &ArmResourceCheck) -> Result<String, String> {
        let resource = self.arm.get(c.resource_id.as_str(), &c.api_version, &[]).await.map_err(|e| e.to_string())?;
        let found = property(&resource, &c.property).ok_or_else(|| format!("{} is absent", c.property))?;
        if same_value(found, &c.equals) {
            Ok(format!("{} is {}", c.property, found))
        } else {
            Err(format!("{} is {}, expected {}", c.property, found, c.equals))
        }
    }
}

/// Counts failed runs among finished ones; running or waiting runs are no evidence either way.
pub fn failed_ratio(statuses: &[&str]) -> (usize, usize) {
    const FAILED: [&str; 4] = ["Failed", "Faulted", "TimedOut", "Aborted"];
    const UNFINISHED: [&str; 5] = ["Running", "Waiting", "Paused", "Suspended", "NotSpecified"];
    let finished: Vec<&&str> =
        statuses.iter().filter(|s| !UNFINISHED.iter().any(|u| u.eq_ignore_ascii_case(s))).collect();
    let failed = finished.iter().filter(|s| FAILED.iter().any(|f| f.eq_ignore_ascii_case(s))).count();
    (failed, finished.len())
}

async fn tcp_check(c: &TcpCheck) -> Result<String, String> {
    let stream = tokio::net::TcpStream::connect((c.host.as_str(), c.port))
        .await
        .map_err(|e| format!("cannot connect to port {}: {}", c.port, io_reason(&e)))?;
    drop(stream);
    Ok(format!("port {} accepts connections", c.port))
}

async fn dns_check(c: &DnsCheck) -> Result<String, String> {
    let addrs = tokio::net::lookup_host((c.host.as_str(), 0))
        .await
        .map_err(|e| format!("does not resolve: {}", io_reason(&e)))?;
    match addrs.count() {
        0 => Err("resolves to no address".to_owned()),
        1 => Ok("resolves to 1 address".to_owned()),
        n => Ok(format!("resolves to {n} addresses")),
    }
}

fn io_reason(e: &std::io::Error) -> String {
    outbound::without_os_code(&e.to_string())
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// A report ready to send: the status code and its serialized body.
#[derive(Debug, Clone)]
pub struct HealthAnswer {
    pub report: Arc<HealthReport>,
    pub status: StatusCode,
    pub body: Bytes,
}

type Evaluation = Shared<BoxFuture<'static, Arc<HealthAnswer>>>;

enum Slot {
    Empty,
    Running(Evaluation),
    Done { at: Instant, answer: Arc<HealthAnswer> },
}

struct Inner {
    checker: Checker,
    plan: HealthPlan,
    name: String,
    region: String,
    slot: Mutex<Slot>,
}

/// The health-check's engine: single-flight evaluation with a short reuse window.
#[derive(Clone)]
pub struct HealthService(Arc<Inner>);

impl HealthService {
    pub fn new(checker: Checker, plan: HealthPlan, name: &str, region: &str) -> Self {
        HealthService(Arc::new(Inner {
            checker,
            plan,
            name: name.to_owned(),
            region: region.to_owned(),
            slot: Mutex::new(Slot::Empty),
        }))
    }

    /// The current answer: reused if fresh, joined if one is being computed, else computed.
    pub async fn answer(&self) -> Arc<HealthAnswer> {
        let evaluation = {
            let mut slot = self.0.slot.lock().unwrap_or_else(|p| p.into_inner());
            match &*slot {
                Slot::Done { at, answer } if at.elapsed() < self.0.plan.cache_for() => return answer.clone(),
                Slot::Running(evaluation) => evaluation.clone(),
                _ => {
                    let evaluation = self.start();
                    *slot = Slot::Running(evaluation.clone());
                    evaluation
                }
            }
        };
        evaluation.await
    }

    /// Runs the evaluation on its own task, so a caller that gives up does not cancel it for
    /// the others waiting on it.
    fn start(&self) -> Evaluation {
        let inner = self.0.clone();
        let task = tokio::spawn(async move {
            let answer = Arc::new(inner.evaluate().await);
            let mut slot = inner.slot.lock().unwrap_or_else(|p| p.into_inner());
            *slot = Slot::Done { at: Instant::now(), answer: answer.clone() };
            answer
        });
        let inner = self.0.clone();
        async move {
            match task.await {
                Ok(answer) => answer,
                Err(e) => {
                    // The evaluation panicked: say so, and let the next caller try afresh.
                    *inner.slot.lock().unwrap_or_else(|p| p.into_inner()) = Slot::Empty;
                    Arc::new(inner.report_of(Vec::new(), Duration::ZERO, Some(format!("evaluation failed: {e}"))))
                }
            }
        }
        .boxed()
        .shared()
    }
}

impl Inner {
    async fn evaluate(&self) -> HealthAnswer {
        let started = Instant::now();
        let deadline = self.plan.deadline();
        let runs = self.plan.checks.iter().map(|c| self.checker.run(c, c.timeout(deadline)));
        let results = futures::future::join_all(runs).await;
        self.report_of(results, started.elapsed(), None)
    }

    fn report_of(&self, checks: Vec<CheckResult>, took: Duration, failure: Option<String>) -> HealthAnswer {
        let status = if failure.is_some() { Health::Unhealthy } else { verdict(&checks) };
        let report = HealthReport {
            status,
            plan: self.name.clone(),
            region: self.region.clone(),
            checked_at: Utc::now(),
            duration_ms: took.as_millis() as u64,
            checks,
        };
        if let Some(f) = failure {
            tracing::error!(error = %f, "health evaluation failed");
        }
        let failing: Vec<&str> =
            report.checks.iter().filter(|c| c.status != CheckStatus::Pass).map(|c| c.name.as_str()).collect();
        tracing::info!(status = ?report.status, duration_ms = report.duration_ms, failing = ?failing, "health evaluated");
        let body = serde_json::to_vec(&report).expect("plain data serializes").into();
        HealthAnswer { status: status.status_code(), report: Arc::new(report), body }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(critical: bool, status: CheckStatus) -> CheckResult {
        CheckResult { name: "c".into(), kind: "tcp".into(), critical, status, duration_ms: 1, reason: String::new() }
    }

    #[test]
    fn verdicts() {
        use CheckStatus::*;
        let cases: [(&[(bool, CheckStatus)], Health); 6] = [
            (&[], Health::Healthy),
            (&[(true, Pass), (false, Pass)], Health::Healthy),
            (&[(true, Pass), (false, Fail)], Health::Degraded),
            (&[(true, Pass), (false, Timeout)], Health::Degraded),
            (&[(true, Timeout), (false, Pass)], Health::Unhealthy),
            (&[(true, Fail), (false, Fail)], Health::Unhealthy),
        ];
        for (checks, expect) in cases {
            let results: Vec<_> = checks.iter().map(|&(c, s)| result(c, s)).collect();
            assert_eq!(verdict(&results), expect, "{checks:?}");
        }
    }

    #[test]
    fn failed_ratios() {
        assert_eq!(failed_ratio(&["Succeeded", "Failed", "Running", "TimedOut", "Cancelled"]), (2, 4));
        assert_eq!(failed_ratio(&["Running", "Waiting"]), (0, 0));
        assert_eq!(failed_ratio(&[]), (0, 0));
    }
}
