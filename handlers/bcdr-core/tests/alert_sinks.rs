//! Each alert sink against a local receiver: the exact payload it posts (fixtures under
//! `tests/data/alerts`), and how the receiver's answers become errors, with the secret URL kept
//! out of them.

mod alert_support;

use std::sync::Arc;

use alert_support::{fixture, refused_url, sample_alert, Receiver};
use bcdr_core::alert::{Alert, AlertError, AlertKind, AlertSink, LogSink, Severity, SlackSink, TeamsSink, WebhookSink};
use chrono::{TimeZone, Utc};
use reqwest::Url;
use serde_json::json;

fn sink(kind: &str, url: Url) -> Arc<dyn AlertSink> {
    let client = reqwest::Client::new();
    match kind {
        "webhook" => Arc::new(WebhookSink::new("ops-hook", url, client)),
        "teams" => Arc::new(TeamsSink::new("ops-teams", url, client)),
        "slack" => Arc::new(SlackSink::new("ops-slack", url, client)),
        other => panic!("no sink kind {other}"),
    }
}

#[tokio::test]
async fn each_sink_posts_its_payload() {
    let receiver = Receiver::start().await;
    for kind in ["webhook", "teams", "slack"] {
        let path = format!("/ok/{kind}");
        sink(kind, receiver.url(&path)).send(&sample_alert()).await.unwrap();
        let got = receiver.wait_for(&path, 1).await;
        assert_eq!(got.content_type.as_deref(), Some("application/json"), "{kind}");
        assert_eq!(got.body, fixture(&format!("{kind}.json")), "{kind} payload");
    }
}

#[tokio::test]
async fn the_teams_payload_is_a_workflow_message_with_one_adaptive_card() {
    let receiver = Receiver::start().await;
    // Workflows answer 202 Accepted.
    sink("teams", receiver.url("/accepted/teams")).send(&sample_alert()).await.unwrap();
    let body = receiver.wait_for("/accepted/teams", 1).await.body;
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    assert_eq!(attachments[0]["contentType"], "application/vnd.microsoft.card.adaptive");
    assert!(attachments[0]["contentUrl"].is_null());
    let card = &attachments[0]["content"];
    assert_eq!(
        (&card["$schema"], &card["type"], &card["version"]),
        (&json!("http://adaptivecards.io/schemas/adaptive-card.json"), &json!("AdaptiveCard"), &json!("1.4"))
    );
    let kinds: Vec<&str> = card["body"].as_array().unwrap().iter().map(|b| b["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["TextBlock", "TextBlock", "FactSet"]);
}

#[test]
fn payloads_follow_the_severity_and_leave_out_empty_text() {
    let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    let info = Alert::new("orders", Severity::Info, AlertKind::PrimaryRecovered, "Primary is back", at);
    let teams = TeamsSink::payload(&info);
    let body = teams["attachments"][0]["content"]["body"].as_array().unwrap();
    assert_eq!(body[0]["color"], "Accent");
    assert_eq!(body.len(), 2, "title and facts only: {body:?}");
    let slack = SlackSink::payload(&info);
    assert_eq!(slack["blocks"][0]["text"]["text"], ":information_source: Primary is back");
    assert_eq!(slack["blocks"].as_array().unwrap().len(), 2, "header and context only");

    // Slack markup in probe output is escaped, so it cannot ping a channel.
    let loud =
        Alert::new("orders", Severity::Warning, AlertKind::WatcherNetworkSuspect, "x", at).with_text("<!channel> look");
    assert_eq!(SlackSink::payload(&loud)["blocks"][1]["text"]["text"], "&lt;!channel&gt; look");
    assert_eq!(TeamsSink::payload(&loud)["attachments"][0]["content"]["body"][0]["color"], "Warning");

    // Block Kit limits: a header of at most 150 characters, at most 10 fields per section.
    let long = Alert::new("orders", Severity::Critical, AlertKind::ActivationFailed, "t".repeat(400), at);
    let long = (0..25).fold(long, |a, i| a.with_field(format!("f{i:02}"), "v"));
    let slack = SlackSink::payload(&long);
    assert_eq!(slack["blocks"][0]["text"]["text"].as_str().unwrap().chars().count(), 150);
    let sections: Vec<usize> =
        slack["blocks"].as_array().unwrap().iter().filter_map(|b| b["fields"].as_array().map(Vec::len)).collect();
    assert_eq!(sections, [10, 10, 5]);
}

#[test]
fn the_webhook_payload_round_trips() {
    let alert = sample_alert();
    assert_eq!(WebhookSink::payload(&alert), fixture("webhook.json"));
    let back: Alert = serde_json::from_value(WebhookSink::payload(&alert)).unwrap();
    assert_eq!(back, alert);
}

/// What a sink's `send` gives for each kind of answer.
async fn outcome(sink: &dyn AlertSink) -> String {
    match sink.send(&sample_alert()).await {
        Ok(()) => "ok".to_owned(),
        Err(e @ AlertError::Rejected { .. }) => format!("rejected: {e}"),
        Err(e @ AlertError::Unavailable { .. }) => format!("unavailable: {e}"),
    }
}

#[tokio::test]
async fn answers_become_errors_shaped_by_what_to_do() {
    let receiver = Receiver::start().await;
    let check = |path: &'static str, expect: &'static str| {
        let receiver = &receiver;
        async move {
            for kind in ["webhook", "teams", "slack"] {
                let got = outcome(sink(kind, receiver.url(&format!("{path}/{kind}"))).as_ref()).await;
                assert_eq!(got, expect, "{kind} at {path}");
            }
        }
    };
    check("/ok", "ok").await;
    check("/accepted", "ok").await;
    check("/bad", "rejected: rejected with status 400: invalid_payload").await;
    check("/busy", "unavailable: unavailable: status 429: slow down").await;
    check("/fail", "unavailable: unavailable: status 500: rollup_error").await;
    check("/nowhere", "rejected: rejected with status 404: no such receiver").await;
}

#[tokio::test]
async fn urls_never_appear_in_errors() {
    let receiver = Receiver::start().await;
    // The receiver quotes the path and query back, as some services do.
    let url = receiver.url("/leak/T000/B000/SECRETPATH?sig=SECRETSIG&sp=%2Ftriggers");
    let e = sink("teams", url).send(&sample_alert()).await.unwrap_err();
    assert_eq!(e, AlertError::Rejected { status: 400, detail: "no flow at /[redacted]?[redacted]".to_owned() });

    let refused = refused_url("/services/T000/B000/SECRETPATH?sig=SECRETSIG").await;
    let e = sink("slack", refused.clone()).send(&sample_alert()).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let text = format!("{e} {e:?}");
    assert!(!text.contains("SECRET") && !text.contains(refused.as_str()), "{text}");
    assert!(text.contains("cannot connect: Connection refused"), "{text}");

    // Debug output of the sinks shows the host only.
    let debug =
        format!("{:?}", TeamsSink::new("t", receiver.url("/ok/SECRETPATH?sig=SECRETSIG"), reqwest::Client::new()));
    assert!(!debug.contains("SECRET"), "{debug}");
}

#[tokio::test]
async fn the_log_sink_always_succeeds() {
    assert_eq!(LogSink.name(), "log");
    assert_eq!(LogSink.send(&sample_alert()).await, Ok(()));
}
