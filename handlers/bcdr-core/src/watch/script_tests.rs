//! Data-driven tests of the watch's rules: each case replays a short script of timed inputs
//! through [`step`] and compares the decisions, printed as text, with the expected ones.
//!
//! Script lines are `<time> <who> <what>`: time as `90s`, `10m`, `1h30m` from the start;
//! `w1 up|down|inconclusive`; `op pause <for> <reason>`, `op resume|approve|force|failback`;
//! `w1 ok <epoch>`, `w1 fail <epoch>` (retryable) or `w1 fail <epoch> final`.

use chrono::{DateTime, TimeDelta, Utc};

use super::*;

fn base() -> DateTime<Utc> {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

fn offset(token: &str) -> TimeDelta {
    let mut total = TimeDelta::zero();
    let mut digits = String::new();
    for c in token.chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().unwrap_or_else(|_| panic!("bad time {token}"));
        digits.clear();
        total += match c {
            's' => TimeDelta::seconds(n),
            'm' => TimeDelta::minutes(n),
            'h' => TimeDelta::hours(n),
            'd' => TimeDelta::days(n),
            _ => panic!("bad time unit in {token}"),
        };
    }
    assert!(digits.is_empty(), "time {token} needs a unit");
    total
}

fn input(words: &[&str], now: DateTime<Utc>) -> Input {
    let by = || "ana".to_owned();
    let epoch = || words[1].parse::<u64>().expect("epoch");
    match words[0] {
        "up" => Observation::Up { latency_ms: 40 }.into(),
        "down" => Observation::Down { reason: "timeout".into() }.into(),
        "inconclusive" => Observation::Inconclusive { reason: "control probe failed".into() }.into(),
        "pause" => Command::Pause { reason: words[2..].join(" "), until: now + offset(words[1]), by: by() }.into(),
        "resume" => Command::Resume { by: by() }.into(),
        "approve" => Command::Approve { by: by(), reason: words[1..].join(" ") }.into(),
        "reject" => Command::Reject { by: by(), reason: words[2..].join(" "), until: now + offset(words[1]) }.into(),
        "force" => Command::ForceActivate { by: by() }.into(),
        "failback" => Command::Failback { by: by() }.into(),
        "ok" => Command::ActivationResult { epoch: epoch(), outcome: ActivationOutcome::Succeeded }.into(),
        "fail" => Command::ActivationResult {
            epoch: epoch(),
            outcome: ActivationOutcome::Failed { reason: "ARM 503".into(), retryable: words.get(2) != Some(&"final") },
        }
        .into(),
        other => panic!("unknown script word {other}"),
    }
}

/// Replays `script` under `policy` (JSON over the defaults) and renders each decision: the
/// input, the phase change, the epoch and the note, then one line per action (alerts by
/// severity and kind; their wording is checked separately).
fn run(policy: &str, script: &str) -> String {
    let policy: WatchPolicy = serde_json::from_str(policy).unwrap();
    let mut state = WatchState::default();
    let mut out = String::new();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let words: Vec<&str> = line.split_whitespace().collect();
        let now = base() + offset(words[0]);
        let step = step(&state, input(&words[2..], now), words[1], &policy, now);
        let d = &step.decision;
        let phase = if d.from == d.to { d.to.to_string() } else { format!("{} -> {}", d.from, d.to) };
        out += &format!("{line}: {phase} e{}: {}\n", d.epoch, d.note);
        for action in &d.actions {
            out += &match action {
                Action::RequestActivation { epoch, .. } => {
                    format!("  => request activation epoch {epoch}\n")
                }
                Action::Alert(a) => format!(
                    "  => alert {} {}{}\n",
                    a.severity.label(),
                    a.kind.label(),
                    if a.reminder { " (reminder)" } else { "" }
                ),
            };
        }
        state = step.state;
    }
    out
}

#[track_caller]
fn check(policy: &str, script: &str, expect: &str) {
    let actual = run(policy, script);
    let norm = |s: &str| s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join("\n");
    if norm(&actual) != norm(expect) {
        panic!("decisions differ\n--- expected\n{}\n--- actual\n{}\n", norm(expect), norm(&actual));
    }
}

#[test]
fn watch_threshold_n_exactly() {
    check(
        "{}",
        "0s w1 down
         60s w1 down
         120s w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         60s w1 down: suspect e0: down (timeout): failures 2 of 3
         120s w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested",
    );
}

#[test]
fn watch_an_up_breaks_the_run_of_downs() {
    check(
        "{}",
        "0s w1 down
         60s w1 down
         120s w1 up
         180s w1 down
         240s w1 down
         300s w1 up
         360s w1 up",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         60s w1 down: suspect e0: down (timeout): failures 2 of 3
         120s w1 up: suspect e0: up (40 ms): successes 1 of 2
         180s w1 down: suspect e0: down (timeout): failures 1 of 3
         240s w1 down: suspect e0: down (timeout): failures 2 of 3
         300s w1 up: suspect e0: up (40 ms): successes 1 of 2
         360s w1 up: suspect -> watching e0: up (40 ms): successes 2 of 2; recovered",
    );
}

#[test]
fn watch_success_threshold_m_declares_recovery() {
    check(
        r#"{"successThreshold": 3, "quorum": {"required": 2, "watchers": 2}}"#,
        "0s w1 down
         60s w1 down
         120s w1 down
         180s w1 up
         240s w1 up
         300s w1 down
         360s w1 up
         420s w1 up
         480s w1 up",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         60s w1 down: suspect e0: down (timeout): failures 2 of 3
         120s w1 down: suspect e0: down (timeout): failures 3 of 3; votes 1 of 2: no quorum yet
         => alert warning primaryDown
         180s w1 up: suspect e0: up (40 ms): successes 1 of 3; vote withdrawn
         240s w1 up: suspect e0: up (40 ms): successes 2 of 3
         300s w1 down: suspect e0: down (timeout): failures 1 of 3
         360s w1 up: suspect e0: up (40 ms): successes 1 of 3
         420s w1 up: suspect e0: up (40 ms): successes 2 of 3
         480s w1 up: suspect -> watching e0: up (40 ms): successes 3 of 3; recovered; closed primaryDown
         => alert info primaryRecovered",
    );
}

#[test]
fn watch_inconclusive_neither_counts_nor_resets() {
    check(
        "{}",
        "0s w1 down
         60s w1 inconclusive
         120s w1 down
         180s w1 inconclusive
         240s w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         60s w1 inconclusive: suspect e0: inconclusive (control probe failed): not counted, 1 in a row
         120s w1 down: suspect e0: down (timeout): failures 2 of 3
         180s w1 inconclusive: suspect e0: inconclusive (control probe failed): not counted, 1 in a row
         240s w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested",
    );
}

#[test]
fn watch_a_blind_watcher_is_reported() {
    check(
        "{}",
        "0s w1 inconclusive
         60s w1 inconclusive
         120s w1 inconclusive
         180s w1 inconclusive
         240s w1 up",
        "0s w1 inconclusive: watching e0: inconclusive (control probe failed): not counted, 1 in a row
         60s w1 inconclusive: watching e0: inconclusive (control probe failed): not counted, 2 in a row
         120s w1 inconclusive: watching e0: inconclusive (control probe failed): not counted, 3 in a row
         => alert warning watcherNetworkSuspect
         180s w1 inconclusive: watching e0: inconclusive (control probe failed): not counted, 4 in a row
         240s w1 up: watching e0: up (40 ms): successes 1 of 2; closed watcherNetworkSuspect
         => alert info watcherNetworkRecovered",
    );
}

#[test]
fn watch_quorum_two_of_three_with_vote_expiry() {
    check(
        r#"{"quorum": {"required": 2, "watchers": 3, "voteTtlMs": 600000}}"#,
        "0s w1 down
         60s w1 down
         120s w1 down
         10m w2 down
         11m w2 down
         12m w2 down
         13m w3 up
         13m10s w1 down
         14m10s w1 down
         15m10s w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         60s w1 down: suspect e0: down (timeout): failures 2 of 3
         120s w1 down: suspect e0: down (timeout): failures 3 of 3; votes 1 of 2: no quorum yet
         => alert warning primaryDown
         10m w2 down: suspect e0: down (timeout): failures 1 of 3
         11m w2 down: suspect e0: down (timeout): failures 2 of 3
         12m w2 down: suspect e0: vote of w1 expired (last down 2024-01-01T00:02:00Z); down (timeout): failures 3 of 3; votes 1 of 2: no quorum yet
         13m w3 up: suspect e0: up (40 ms): successes 1 of 2
         13m10s w1 down: suspect e0: silent since 2024-01-01T00:02:00Z: counts start afresh; down (timeout): failures 1 of 3
         14m10s w1 down: suspect e0: down (timeout): failures 2 of 3
         15m10s w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1; closed primaryDown
         => request activation epoch 1
         => alert critical activationRequested",
    );
}

#[test]
fn watch_quorum_met_by_the_second_watcher() {
    check(
        r#"{"quorum": {"required": 2, "watchers": 3}}"#,
        "0s w1 down
         20s w2 down
         60s w1 down
         80s w2 down
         120s w1 down
         140s w2 down
         141s w3 down
         180s w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         20s w2 down: suspect e0: down (timeout): failures 1 of 3
         60s w1 down: suspect e0: down (timeout): failures 2 of 3
         80s w2 down: suspect e0: down (timeout): failures 2 of 3
         120s w1 down: suspect e0: down (timeout): failures 3 of 3; votes 1 of 2: no quorum yet
         => alert warning primaryDown
         140s w2 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1; closed primaryDown
         => request activation epoch 1
         => alert critical activationRequested
         141s w3 down: activating e1: down (timeout): failures 1 of 3
         180s w1 down: activating e1: down (timeout): failures 4 of 3",
    );
}

#[test]
fn watch_hold_down_between_activations() {
    check(
        r#"{"quorum": {"voteTtlMs": 3600000}}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         3m w1 ok 1
         10m w1 up
         11m w1 up
         15m op failback
         20m w1 down
         21m w1 down
         22m w1 down
         1h1m w1 down
         1h2m w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested
         3m w1 ok 1: activating -> failedOver e1: epoch 1 activated
         => alert warning activationSucceeded
         10m w1 up: failedOver e1: up (40 ms): successes 1 of 2
         11m w1 up: failedOver e1: up (40 ms): successes 2 of 2; primary healthy again: failback is manual
         => alert warning failbackIsManual
         15m op failback: failedOver -> watching e2: failback by ana: watching under epoch 2; closed failbackIsManual
         => alert info failbackRecorded
         20m w1 down: watching -> suspect e2: down (timeout): failures 1 of 3
         21m w1 down: suspect e2: down (timeout): failures 2 of 3
         22m w1 down: suspect e2: down (timeout): failures 3 of 3; held down until 2024-01-01T01:02:00Z
         => alert critical primaryDown
         1h1m w1 down: suspect e2: down (timeout): failures 4 of 3; held down until 2024-01-01T01:02:00Z
         => alert critical primaryDown (reminder)
         1h2m w1 down: suspect -> activating e3: down (timeout): failures 5 of 3; claim epoch 3; closed primaryDown
         => request activation epoch 3
         => alert critical activationRequested",
    );
}

#[test]
fn watch_maintenance_window_counts_nothing() {
    check(
        r#"{"maintenance": [{"start": "2024-01-01T00:01:30Z", "end": "2024-01-01T00:05:00Z", "reason": "patching"}]}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         3m w1 down
         4m w1 down
         5m w1 down
         6m w1 down
         7m w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> watching e0: down: not counted (maintenance until 2024-01-01T00:05:00Z: patching); suspicion dropped
         3m w1 down: watching e0: down: not counted (maintenance until 2024-01-01T00:05:00Z: patching)
         4m w1 down: watching e0: down: not counted (maintenance until 2024-01-01T00:05:00Z: patching)
         5m w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         6m w1 down: suspect e0: down (timeout): failures 2 of 3
         7m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested",
    );
}

#[test]
fn watch_pause_expires_by_itself() {
    check(
        "{}",
        "0s w1 down
         30s op pause 5m dns change
         1m w1 down
         2m w1 down
         3m w1 down
         5m30s w1 down
         6m30s w1 down
         7m30s w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         30s op pause 5m dns change: suspect -> watching e0: paused by ana until 2024-01-01T00:05:30Z
         => alert info paused
         1m w1 down: watching e0: down: not counted (paused by ana until 2024-01-01T00:05:30Z: dns change)
         2m w1 down: watching e0: down: not counted (paused by ana until 2024-01-01T00:05:30Z: dns change)
         3m w1 down: watching e0: down: not counted (paused by ana until 2024-01-01T00:05:30Z: dns change)
         5m30s w1 down: watching -> suspect e0: pause by ana ended; down (timeout): failures 1 of 3
         => alert info resumed
         6m30s w1 down: suspect e0: down (timeout): failures 2 of 3
         7m30s w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested",
    );
}

#[test]
fn watch_pause_resume_and_refusals() {
    check(
        "{}",
        "0s op resume
         1s op pause 0s oops
         2s op pause 1h failover drill
         1m w1 down
         2m op resume
         3m w1 down
         4m op approve
         5m op failback",
        "0s op resume: watching e0: rejected: not paused
         1s op pause 0s oops: watching e0: rejected: pause until 2024-01-01T00:00:01Z is not in the future
         2s op pause 1h failover drill: watching e0: paused by ana until 2024-01-01T01:00:02Z
         => alert info paused
         1m w1 down: watching e0: down: not counted (paused by ana until 2024-01-01T01:00:02Z: failover drill)
         2m op resume: watching e0: resumed by ana
         => alert info resumed
         3m w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         4m op approve: suspect e0: rejected: nothing awaits approval (phase suspect)
         5m op failback: suspect e0: rejected: nothing to fail back (phase suspect)",
    );
}

#[test]
fn watch_a_rejected_approval_pauses_then_asks_again() {
    check(
        r#"{"activation": "approval", "quorum": {"voteTtlMs": 86400000}}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         3m op reject 30m the primary's own team is on it
         4m w1 down
         33m w1 down
         34m w1 down
         35m w1 down
         36m op approve the outage outlasted them",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> awaitingApproval e0: down (timeout): failures 3 of 3; votes 1 of 1: awaiting approval
         => alert critical approvalNeeded
         3m op reject 30m the primary's own team is on it: awaitingApproval -> watching e0: paused by ana until 2024-01-01T00:33:00Z; approval rejected by ana; closed approvalNeeded
         => alert info paused
         4m w1 down: watching e0: down: not counted (paused by ana until 2024-01-01T00:33:00Z: approval rejected: the primary's own team is on it)
         33m w1 down: watching -> suspect e0: pause by ana ended; down (timeout): failures 1 of 3
         => alert info resumed
         34m w1 down: suspect e0: down (timeout): failures 2 of 3
         35m w1 down: suspect -> awaitingApproval e0: down (timeout): failures 3 of 3; votes 1 of 1: awaiting approval
         => alert critical approvalNeeded
         36m op approve the outage outlasted them: awaitingApproval -> activating e1: claim epoch 1; closed approvalNeeded
         => request activation epoch 1
         => alert critical activationRequested",
    );
    // Nothing to reject outside awaitingApproval, and a rejection says why.
    check(
        r#"{"activation": "approval"}"#,
        "0s op reject 30m not now",
        "0s op reject 30m not now: watching e0: rejected: nothing awaits approval (phase watching)",
    );
}

#[test]
fn watch_approval_mode_waits_for_an_operator() {
    check(
        r#"{"activation": "approval", "quorum": {"voteTtlMs": 86400000}}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         3m w1 down
         32m w1 down
         33m op approve
         34m w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> awaitingApproval e0: down (timeout): failures 3 of 3; votes 1 of 1: awaiting approval
         => alert critical approvalNeeded
         3m w1 down: awaitingApproval e0: down (timeout): failures 4 of 3
         32m w1 down: awaitingApproval e0: down (timeout): failures 5 of 3
         => alert critical approvalNeeded (reminder)
         33m op approve: awaitingApproval -> activating e1: claim epoch 1; closed approvalNeeded
         => request activation epoch 1
         => alert critical activationRequested
         34m w1 down: activating e1: down (timeout): failures 6 of 3",
    );
}

#[test]
fn watch_approval_withdrawn_when_the_primary_recovers() {
    check(
        r#"{"activation": "approval"}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         3m w1 up
         4m w1 up
         5m op approve",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> awaitingApproval e0: down (timeout): failures 3 of 3; votes 1 of 1: awaiting approval
         => alert critical approvalNeeded
         3m w1 up: awaitingApproval e0: up (40 ms): successes 1 of 2; vote withdrawn
         4m w1 up: awaitingApproval -> watching e0: up (40 ms): successes 2 of 2; recovered: approval no longer needed; closed approvalNeeded
         => alert info primaryRecovered
         5m op approve: watching e0: rejected: nothing awaits approval (phase watching)",
    );
}

#[test]
fn watch_reminders_while_an_alert_stays_open() {
    check(
        r#"{"quorum": {"required": 2, "watchers": 2, "voteTtlMs": 3600000}, "reminderEveryMs": 1800000}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         31m w1 down
         32m w1 down
         62m w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect e0: down (timeout): failures 3 of 3; votes 1 of 2: no quorum yet
         => alert warning primaryDown
         31m w1 down: suspect e0: down (timeout): failures 4 of 3; votes 1 of 2: no quorum yet
         32m w1 down: suspect e0: down (timeout): failures 5 of 3; votes 1 of 2: no quorum yet
         => alert warning primaryDown (reminder)
         62m w1 down: suspect e0: down (timeout): failures 6 of 3; votes 1 of 2: no quorum yet
         => alert warning primaryDown (reminder)",
    );
}

#[test]
fn watch_failed_over_recovery_is_never_reactivated() {
    check(
        r#"{"quorum": {"voteTtlMs": 86400000}}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         3m w1 ok 1
         4m w1 up
         5m w1 up
         6m w1 down
         7m w1 down
         8m w1 down
         9m w1 up
         10m w1 up
         40m w1 up
         2h w1 down
         2h1m w1 down
         2h2m w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested
         3m w1 ok 1: activating -> failedOver e1: epoch 1 activated
         => alert warning activationSucceeded
         4m w1 up: failedOver e1: up (40 ms): successes 1 of 2
         5m w1 up: failedOver e1: up (40 ms): successes 2 of 2; primary healthy again: failback is manual
         => alert warning failbackIsManual
         6m w1 down: failedOver e1: down (timeout): failures 1 of 3
         7m w1 down: failedOver e1: down (timeout): failures 2 of 3
         8m w1 down: failedOver e1: down (timeout): failures 3 of 3; primary down again; closed failbackIsManual
         9m w1 up: failedOver e1: up (40 ms): successes 1 of 2
         10m w1 up: failedOver e1: up (40 ms): successes 2 of 2; primary healthy again: failback is manual
         => alert warning failbackIsManual
         40m w1 up: failedOver e1: up (40 ms): successes 3 of 2
         => alert warning failbackIsManual (reminder)
         2h w1 down: failedOver e1: down (timeout): failures 1 of 3
         => alert warning failbackIsManual (reminder)
         2h1m w1 down: failedOver e1: down (timeout): failures 2 of 3
         2h2m w1 down: failedOver e1: down (timeout): failures 3 of 3; primary down again; closed failbackIsManual",
    );
}

#[test]
fn watch_failed_activation_is_retried_with_the_same_epoch() {
    check(
        r#"{"maxActivationAttempts": 3}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         2m30s w1 fail 1
         2m31s w1 fail 1
         3m w1 down
         3m1s w2 down
         3m30s w1 fail 1
         4m w1 down
         4m30s w1 fail 1
         5m w1 down
         6m op force
         6m30s w1 ok 1",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested
         2m30s w1 fail 1: activating e1: attempt 1 of 3 failed: ARM 503; retry on a later tick
         => alert warning activationFailed
         2m31s w1 fail 1: activating e1: rejected: no call in flight for epoch 1 (epoch 1, phase activating)
         3m w1 down: activating e1: down (timeout): failures 4 of 3; retry epoch 1, attempt 2 of 3
         => request activation epoch 1
         3m1s w2 down: activating e1: down (timeout): failures 1 of 3
         3m30s w1 fail 1: activating e1: attempt 2 of 3 failed: ARM 503; retry on a later tick
         4m w1 down: activating e1: down (timeout): failures 5 of 3; retry epoch 1, attempt 3 of 3
         => request activation epoch 1
         4m30s w1 fail 1: activating e1: attempt 3 of 3 failed: ARM 503; giving up (attempts used up)
         => alert critical activationFailed
         5m w1 down: activating e1: down (timeout): failures 6 of 3
         6m op force: activating e1: forced retry of epoch 1, attempt 4; closed activationFailed
         => request activation epoch 1
         6m30s w1 ok 1: activating -> failedOver e1: epoch 1 activated
         => alert warning activationSucceeded",
    );
}

#[test]
fn watch_final_failure_stops_retries() {
    check(
        r#"{"quorum": {"voteTtlMs": 86400000}}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         2m30s w1 fail 1 final
         3m w1 down
         40m w1 down
         41m op failback",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested
         2m30s w1 fail 1 final: activating e1: attempt 1 of 5 failed: ARM 503; giving up (not retryable)
         => alert critical activationFailed
         3m w1 down: activating e1: down (timeout): failures 4 of 3
         40m w1 down: activating e1: down (timeout): failures 5 of 3
         => alert critical activationFailed (reminder)
         41m op failback: activating -> watching e2: failback by ana: watching under epoch 2; closed activationFailed
         => alert info failbackRecorded",
    );
}

#[test]
fn watch_lost_activation_call_is_asked_again() {
    check(
        r#"{"quorum": {"voteTtlMs": 86400000}}"#,
        "0s w1 down
         1m w1 down
         2m w1 down
         3m w1 down
         17m w1 down
         18m w1 down
         18m30s w1 ok 1",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested
         3m w1 down: activating e1: down (timeout): failures 4 of 3
         17m w1 down: activating e1: down (timeout): failures 5 of 3; retry epoch 1, attempt 2 of 5
         => request activation epoch 1
         18m w1 down: activating e1: down (timeout): failures 6 of 3
         18m30s w1 ok 1: activating -> failedOver e1: epoch 1 activated
         => alert warning activationSucceeded",
    );
}

#[test]
fn watch_failback_moves_to_a_new_epoch() {
    check(
        "{}",
        "0s w1 down
         1m w1 down
         2m w1 down
         3m w1 ok 1
         3h op failback
         3h1m w1 ok 1
         4h w1 down
         4h1m w1 down
         4h2m w1 down",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested
         3m w1 ok 1: activating -> failedOver e1: epoch 1 activated
         => alert warning activationSucceeded
         3h op failback: failedOver -> watching e2: failback by ana: watching under epoch 2
         => alert info failbackRecorded
         3h1m w1 ok 1: watching e2: rejected: no call in flight for epoch 1 (epoch 2, phase watching)
         4h w1 down: watching -> suspect e2: down (timeout): failures 1 of 3
         4h1m w1 down: suspect e2: down (timeout): failures 2 of 3
         4h2m w1 down: suspect -> activating e3: down (timeout): failures 3 of 3; claim epoch 3
         => request activation epoch 3
         => alert critical activationRequested",
    );
}

#[test]
fn watch_racing_watchers_claim_once() {
    check(
        r#"{"quorum": {"required": 1, "watchers": 3}}"#,
        "0s w1 down
         0s w2 down
         1m w1 down
         1m w2 down
         2m w1 down
         2m w2 down
         3m w2 down
         3m w3 down
         3m1s w3 down
         3m2s w3 down
         4m op force
         5m w1 ok 1",
        "0s w1 down: watching -> suspect e0: down (timeout): failures 1 of 3
         0s w2 down: suspect e0: down (timeout): failures 1 of 3
         1m w1 down: suspect e0: down (timeout): failures 2 of 3
         1m w2 down: suspect e0: down (timeout): failures 2 of 3
         2m w1 down: suspect -> activating e1: down (timeout): failures 3 of 3; claim epoch 1
         => request activation epoch 1
         => alert critical activationRequested
         2m w2 down: activating e1: down (timeout): failures 3 of 3
         3m w2 down: activating e1: down (timeout): failures 4 of 3
         3m w3 down: activating e1: down (timeout): failures 1 of 3
         3m1s w3 down: activating e1: down (timeout): failures 2 of 3
         3m2s w3 down: activating e1: down (timeout): failures 3 of 3
         4m op force: activating e1: forced retry of epoch 1, attempt 2
         => request activation epoch 1
         5m w1 ok 1: activating -> failedOver e1: epoch 1 activated
         => alert warning activationSucceeded",
    );
}

#[test]
fn watch_alert_wording_and_decision_record() {
    let policy: WatchPolicy = serde_json::from_str(r#"{"quorum": {"required": 2, "watchers": 3}}"#).unwrap();
    let down = || Input::from(Observation::Down { reason: "timeout".into() });
    let mut state = WatchState::default();
    let mut last = None;
    for (i, w) in ["w1", "w2", "w1", "w2", "w1"].into_iter().enumerate() {
        let s = step(&state, down(), w, &policy, base() + TimeDelta::seconds(30 * i as i64));
        state = s.state.clone();
        last = Some(s);
    }
    let messages = |s: &Step| s.actions().iter().map(ToString::to_string).collect::<Vec<_>>();
    assert_eq!(
        messages(last.as_ref().unwrap()),
        ["alert warning primaryDown: primary down for w1 (1 of 2 votes needed to activate)"]
    );
    let claim = step(&state, down(), "w2", &policy, base() + TimeDelta::seconds(150));
    assert_eq!(
        messages(&claim),
        [
            "request activation epoch 1: w2 saw 3 downs in a row (last: timeout); votes 2 of 2",
            "alert critical activationRequested: activating the secondary (epoch 1): w2 saw 3 downs in a row (last: timeout); votes 2 of 2",
        ]
    );
    assert_eq!(
        serde_json::to_value(&claim.decision).unwrap(),
        serde_json::json!({
            "at": "2024-01-01T00:02:30Z",
            "watcher": "w2",
            "input": {"observation": {"kind": "down", "reason": "timeout"}},
            "epoch": 1,
            "from": "suspect",
            "to": "activating",
            "note": "down (timeout): failures 3 of 3; claim epoch 1; closed primaryDown",
            "actions": [
                {"action": "requestActivation", "epoch": 1, "reason": "w2 saw 3 downs in a row (last: timeout); votes 2 of 2"},
                {"action": "alert", "severity": "critical", "kind": "activationRequested",
                 "message": "activating the secondary (epoch 1): w2 saw 3 downs in a row (last: timeout); votes 2 of 2",
                 "reminder": false}
            ]
        })
    );
    // The state goes to the store as JSON and must come back the same.
    let json = serde_json::to_string(&claim.state).unwrap();
    assert_eq!(serde_json::from_str::<WatchState>(&json).unwrap(), claim.state);
}
