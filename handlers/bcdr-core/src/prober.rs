//! Probing the primary over the network: the attempts at its health-check on the shipped probe
//! schedule ([`crate::watch::attempts`]), and the control probe that tells a silent primary from a
//! watcher whose own network is down. The watchdog's ticks and `bcdr failback` use it.

use std::time::{Duration, Instant};

use crate::outbound::{self, Purpose};
use crate::plan::Watch;
use crate::watch::{self, Attempt, Observation, ProbePath};
use async_trait::async_trait;
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};

/// What a tick asks of the network: one observation of a watch's primary.
#[async_trait]
pub trait Prober: Send + Sync {
    async fn observe(&self, watch: &Watch) -> Observation;
}

/// The real prober: HTTP GET of the health-check with the function key, and of the controls.
pub struct HttpProber {
    http: reqwest::Client,
    health_key: Option<String>,
}

impl HttpProber {
    pub fn new(health_key: Option<String>) -> Self {
        Self { http: outbound::client(Purpose::Probes), health_key }
    }

    async fn attempt(&self, url: &str, timeout: Duration) -> Attempt {
        let mut req = self.http.get(url).timeout(timeout).header("accept", "application/json");
        if let Some(key) = &self.health_key {
            req = req.header("x-functions-key", key);
        }
        let started = Instant::now();
        let res = match req.send().await {
            Ok(res) => res,
            Err(e) => return Attempt::NoAnswer { reason: outbound::describe(&e) },
        };
        let status = res.status().as_u16();
        let latency_ms = started.elapsed().as_millis() as u64;
        // Only the health-check's own verdict counts as the primary's word: a 503 carrying its
        // report. Anything else (a gateway's 502, a 401 from a wrong key) is no verdict.
        let verdict = res
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v.get("status").and_then(|s| s.as_str().map(str::to_owned)));
        match (status, verdict.as_deref()) {
            (200, Some("healthy" | "degraded")) => Attempt::Healthy { latency_ms },
            (503, Some("unhealthy")) => Attempt::Unhealthy { reason: "the health-check reports unhealthy".to_owned() },
            (s, _) => Attempt::NoAnswer { reason: format!("status {s} without a health report") },
        }
    }

    /// Whether any control answers at all within `timeout`.
    async fn control_reachable(&self, controls: &[String], timeout: Duration) -> bool {
        if controls.is_empty() {
            return true;
        }
        let probes = controls.iter().map(|c| self.http.get(c).timeout(timeout).send());
        futures::future::join_all(probes).await.iter().any(Result::is_ok)
    }
}

#[async_trait]
impl Prober for HttpProber {
    async fn observe(&self, watch: &Watch) -> Observation {
        let policy = &watch.policy;
        let started = Instant::now();
        // The control runs beside the attempts, under the same budget, so it costs no time.
        let control = self.control_reachable(&watch.controls, policy.probe_timeout());
        let mut path = Network { prober: self, target: &watch.target, started, running: FuturesUnordered::new() };
        let attempts = watch::attempts(policy, &mut path);
        let (attempts, control) = tokio::join!(attempts, control);
        Observation::from_attempts(&attempts, control)
    }
}

/// One probe's attempts over the real network, on the real clock: each started attempt is a
/// request in flight beside the others; those still in flight when the probe ends are dropped
/// (cancelled).
struct Network<'a> {
    prober: &'a HttpProber,
    target: &'a str,
    started: Instant,
    running: FuturesUnordered<BoxFuture<'a, Attempt>>,
}

impl ProbePath for Network<'_> {
    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    fn start(&mut self, budget: Duration) {
        let (prober, target) = (self.prober, self.target);
        self.running.push(Box::pin(async move { prober.attempt(target, budget).await }));
    }

    async fn next(&mut self, until: Option<Duration>) -> Option<Attempt> {
        let deadline = until.map(|u| tokio::time::Instant::from_std(self.started + u));
        if self.running.is_empty() {
            if let Some(deadline) = deadline {
                tokio::time::sleep_until(deadline).await;
            }
            return None;
        }
        match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline, self.running.next()).await.ok().flatten(),
            None => self.running.next().await,
        }
    }
}
