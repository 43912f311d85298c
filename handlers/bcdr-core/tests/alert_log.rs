//! What the fan-out logs: every alert as an `event="alert"` line (the hook for an Azure Monitor
//! log alert rule), every failure by sink name, and never a webhook URL.
//!
//! Every test here captures the log from its first line. Tracing caches per call site whether
//! anyone listens; a test in the same binary that logged without a subscriber could race that
//! cache and make a capture miss events, so such tests live in other binaries.

mod alert_support;

use std::sync::Arc;
use std::time::Duration;

use alert_support::{refused_url, sample_alert, Captured, Receiver};
use bcdr_core::alert::{AlertSink, Alerter, SlackSink, TeamsSink};
use serde_json::json;

const QUICK_RETRY: Duration = Duration::from_millis(10);

#[tokio::test]
async fn the_alert_is_always_logged_and_urls_never_are() {
    let captured = Captured::default();
    let _guard = captured.install();
    let receiver = Receiver::start().await;
    let refused = refused_url("/services/T000/B000/SECRETPATH").await;
    let alerter = Alerter::new(
        vec![
            Arc::new(TeamsSink::new(
                "ops-teams",
                receiver.url("/leak/workflows/SECRETPATH?sig=SECRETSIG"),
                reqwest::Client::new(),
            )) as Arc<dyn AlertSink>,
            Arc::new(SlackSink::new("ops-slack", refused, reqwest::Client::new())),
        ],
        Duration::from_secs(10),
    )
    .with_retry_delay(QUICK_RETRY);
    let settled = alerter.dispatch(sample_alert()).settled().await;
    assert!(settled.iter().all(|(_, r)| r.is_err()));

    let text = captured.text();
    assert!(!text.contains("SECRET"), "a webhook URL was logged:\n{text}");
    let events = captured.lines();
    let alert = events.iter().find(|e| e["event"] == "alert").expect("the alert itself is logged");
    assert_eq!(alert["target"], "alert");
    assert_eq!(alert["level"], "ERROR", "critical alerts log as errors");
    assert_eq!(
        [&alert["watch"], &alert["severity"], &alert["kind"], &alert["epoch"], &alert["title"]],
        [
            &json!("orders"),
            &json!("critical"),
            &json!("primaryDown"),
            &json!(7),
            &json!("Primary region westeurope is down"),
        ]
    );
    let mut failed: Vec<(String, String)> = events
        .iter()
        .filter(|e| e["event"] == "alert-failed")
        .map(|e| (e["level"].as_str().unwrap().to_owned(), e["sink"].as_str().unwrap().to_owned()))
        .collect();
    failed.sort();
    assert_eq!(failed, [("ERROR".to_owned(), "ops-slack".to_owned()), ("ERROR".to_owned(), "ops-teams".to_owned())]);
    assert_eq!(events.iter().filter(|e| e["event"] == "alert-retry").count(), 1, "only the unreachable one is retried");
}

#[tokio::test]
async fn with_no_channels_the_log_still_gets_the_alert() {
    let captured = Captured::default();
    let _guard = captured.install();
    let delivery = Alerter::new(Vec::new(), Duration::from_secs(1)).dispatch(sample_alert());
    assert!(delivery.is_empty());
    assert!(delivery.settled().await.is_empty());
    assert_eq!(captured.lines().iter().filter(|e| e["event"] == "alert").count(), 1);
}
