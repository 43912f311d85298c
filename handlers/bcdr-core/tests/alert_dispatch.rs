//! The fan-out: it returns at once, sends to every sink concurrently, retries an unavailable one
//! once, and gives up on a hung one after its timeout without holding up the others. What it logs
//! is tested in `alert_log.rs`.

mod alert_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use alert_support::{sample_alert, Receiver};
use async_trait::async_trait;
use bcdr_core::alert::{Alert, AlertError, AlertSink, Alerter, SlackSink, TeamsSink, WebhookSink};
use reqwest::Url;

const QUICK_RETRY: Duration = Duration::from_millis(10);

fn teams(name: &str, url: Url) -> Arc<dyn AlertSink> {
    Arc::new(TeamsSink::new(name, url, reqwest::Client::new()))
}

fn slack(name: &str, url: Url) -> Arc<dyn AlertSink> {
    Arc::new(SlackSink::new(name, url, reqwest::Client::new()))
}

fn webhook(name: &str, url: Url) -> Arc<dyn AlertSink> {
    Arc::new(WebhookSink::new(name, url, reqwest::Client::new()))
}

/// Settled results as `name: outcome` lines.
fn lines(settled: Vec<(String, Result<(), AlertError>)>) -> Vec<String> {
    settled
        .into_iter()
        .map(|(name, r)| match r {
            Ok(()) => format!("{name}: ok"),
            Err(e) => format!("{name}: {e}"),
        })
        .collect()
}

#[tokio::test]
async fn a_hung_sink_delays_neither_the_caller_nor_the_other_sinks() {
    let receiver = Receiver::start().await;
    let alerter = Alerter::new(
        vec![
            teams("teams", receiver.url("/hang/teams")),
            slack("slack", receiver.url("/ok/slack")),
            webhook("hook", receiver.url("/ok/hook")),
        ],
        Duration::from_millis(300),
    )
    .with_retry_delay(QUICK_RETRY);

    let delivery = alerter.dispatch(sample_alert());
    assert_eq!(delivery.len(), 3);
    // The other sinks deliver while the hung one is still waiting: nothing waited on it.
    receiver.wait_for("/hang/teams", 1).await;
    receiver.wait_for("/ok/slack", 1).await;
    receiver.wait_for("/ok/hook", 1).await;
    assert_eq!(receiver.hits("/hang/teams"), 1);

    assert_eq!(
        lines(delivery.settled().await),
        ["teams: unavailable: no answer within 300 ms", "slack: ok", "hook: ok"]
    );
    // A timeout counts as unavailable, so it was tried once more.
    assert_eq!(receiver.hits("/hang/teams"), 2);
    receiver.release_hung();
}

/// A sink that never answers, for a deterministic check that dispatch does not wait.
struct Silent(AtomicUsize);

#[async_trait]
impl AlertSink for Silent {
    fn name(&self) -> &str {
        "silent"
    }

    async fn send(&self, _: &Alert) -> Result<(), AlertError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        std::future::pending().await
    }
}

#[tokio::test]
async fn dispatch_returns_while_a_sink_is_still_sending() {
    let silent = Arc::new(Silent(AtomicUsize::new(0)));
    let alerter = Alerter::new(vec![silent.clone()], Duration::from_secs(3600));
    let delivery = alerter.dispatch(sample_alert());
    // Dispatch is back, and the send has started (or will) on its own task.
    for _ in 0..100 {
        if silent.0.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(silent.0.load(Ordering::SeqCst), 1);
    // The delivery is still under way; dropping the handle leaves it running.
    let pending = tokio::time::timeout(Duration::from_millis(50), delivery.settled()).await;
    assert!(pending.is_err(), "a send that never answers cannot have settled");
}

#[tokio::test]
async fn unavailable_is_retried_once_and_rejected_never() {
    let receiver = Receiver::start().await;
    let alerter = Alerter::new(
        vec![
            webhook("flaky", receiver.url("/flaky/hook")),
            webhook("failing", receiver.url("/fail/hook")),
            slack("refusing", receiver.url("/bad/slack")),
            teams("throttled", receiver.url("/busy/teams")),
        ],
        Duration::from_secs(10),
    )
    .with_retry_delay(QUICK_RETRY);
    let settled = alerter.dispatch(sample_alert()).settled().await;
    assert_eq!(
        lines(settled),
        [
            "flaky: ok",
            "failing: unavailable: status 500: rollup_error",
            "refusing: rejected with status 400: invalid_payload",
            "throttled: unavailable: status 429: slow down",
        ]
    );
    let hits: Vec<usize> =
        ["/flaky/hook", "/fail/hook", "/bad/slack", "/busy/teams"].map(|p| receiver.hits(p)).to_vec();
    assert_eq!(hits, [2, 2, 1, 2]);
}

#[test]
fn outside_a_runtime_dispatch_logs_and_reports_rather_than_panics() {
    let silent = Arc::new(Silent(AtomicUsize::new(0)));
    let delivery = Alerter::new(vec![silent.clone()], Duration::from_secs(1)).dispatch(sample_alert());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(lines(runtime.block_on(delivery.settled())), ["silent: unavailable: no async runtime to send on"]);
    assert_eq!(silent.0.load(Ordering::SeqCst), 0);
}
