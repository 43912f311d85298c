//! The operator's verbs on the watchdog's state: status, pause, resume, reject and approve through
//! the real `bcdr`.

use std::process::Command;

use serde_json::Value;

use crate::support::workspace_binary;

struct Ops {
    state: tempfile::TempDir,
}

impl Ops {
    fn new() -> Ops {
        Ops { state: tempfile::tempdir().unwrap() }
    }

    /// Runs `bcdr ARGS` on the local plan and this state; (success, stdout + stderr).
    fn run(&self, args: &[&str]) -> (bool, String) {
        let out = Command::new(workspace_binary("bcdr"))
            .args(args)
            .args(["--plan", concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/local-plan.json")])
            .env("BCDR_STATE_URL", format!("file://{}", self.state.path().display()))
            .env("BCDR_OPERATOR", "ana")
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    }

    fn status(&self) -> Value {
        let (ok, out) = self.run(&["status", "--json"]);
        assert!(ok, "{out}");
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("not JSON: {out}"))
    }
}

#[test]
fn pause_shows_in_status_and_resume_ends_it() {
    let ops = Ops::new();
    assert_eq!(ops.status()["watches"][0]["state"]["phase"], "watching");

    let (ok, out) = ops.run(&["pause", "--reason", "dns move", "--until", "+2h"]);
    assert!(ok, "{out}");
    assert!(out.contains("Pausing watch local-primary until "), "{out}");
    let pause = &ops.status()["watches"][0]["state"]["pause"];
    assert_eq!((pause["reason"].as_str(), pause["by"].as_str()), (Some("dns move"), Some("ana")));

    let (ok, out) = ops.run(&["status"]);
    assert!(ok && out.contains("paused     until ") && out.contains("by ana: dns move"), "{out}");

    let (ok, out) = ops.run(&["resume"]);
    assert!(ok, "{out}");
    assert!(ops.status()["watches"][0]["state"]["pause"].is_null());
    let decisions = ops.status()["watches"][0]["decisions"].as_array().unwrap().len();
    assert_eq!(decisions, 2, "each command leaves one decision");
}

#[tokio::test]
async fn a_rejected_approval_pauses_the_watch_and_approval_needs_something_to_approve() {
    use bcdr_core::store::{Expect, FileStore, StateStore};
    use bcdr_core::watch::{Phase, WatchState};

    let ops = Ops::new();
    // Nothing awaits approval yet: both verbs are refused, and nothing changes.
    let (ok, out) = ops.run(&["reject", "--reason", "not now"]);
    assert!(!ok && out.contains("nothing awaits approval (phase watching)"), "{out}");
    let (ok, out) = ops.run(&["approve", "--yes", "--activation-url", "http://127.0.0.1:9/api/activate"]);
    assert!(!ok && out.contains("nothing awaits approval (phase watching)"), "{out}");

    // The watch awaits approval (as a watcher's step leaves it under `activation: approval`).
    let waiting = WatchState { phase: Phase::AwaitingApproval, ..WatchState::default() };
    let store = FileStore::new(ops.state.path());
    let key = bcdr_core::record::state_key("local-primary");
    let expect = match store.load(&key).await.unwrap() {
        Some(stored) => Expect::Version(stored.etag),
        None => Expect::Absent,
    };
    store.save(&key, &serde_json::to_vec(&waiting).unwrap(), &expect).await.unwrap();

    let (ok, out) = ops.run(&["reject", "--reason", "the database team is on it", "--until", "+45m"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("awaitingApproval -> watching (epoch 0)") && out.contains("approval rejected by ana"),
        "{out}"
    );
    let state = &ops.status()["watches"][0]["state"];
    assert_eq!(state["phase"], "watching");
    assert_eq!(state["pause"]["reason"], "approval rejected: the database team is on it");
    assert_eq!(state["pause"]["by"], "ana");
}

#[test]
fn bad_input_is_named_and_changes_nothing() {
    let ops = Ops::new();
    for (args, expect) in [
        (vec!["pause", "--reason", "x", "--until", "tomorrow"], "--until \"tomorrow\": expected +30m, +2h, +1d"),
        (vec!["pause", "--reason", " ", "--until", "+1h"], "--reason: say why"),
        (vec!["pause", "--reason", "x", "--until", "2001-01-01T00:00:00Z"], "is not in the future"),
        (vec!["status", "--watch", "nope"], "--watch \"nope\": the plan has no such watch (it has: local-primary)"),
    ] {
        let (ok, out) = ops.run(&args);
        assert!(!ok, "{args:?} should fail");
        assert!(out.contains(expect), "{args:?}: {out}");
    }
    assert!(std::fs::read_dir(ops.state.path()).unwrap().next().is_none(), "nothing was written");
}

/// A webhook receiver on loopback that answers 200 and keeps each body it was sent.
fn receiver() -> (String, std::sync::mpsc::Receiver<Value>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/hook", listener.local_addr().unwrap().port());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((name, value)) = line.split_once(':') {
                    if name.eq_ignore_ascii_case("content-length") {
                        length = value.trim().parse().unwrap_or(0);
                    }
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let _ = tx.send(serde_json::from_slice(&body).unwrap_or(Value::Null));
        }
    });
    (url, rx)
}

#[test]
fn operator_commands_alert_the_channels_reachable_from_where_they_run() {
    let ops = Ops::new();
    let plan_path = ops.state.path().join("plan-with-alerts.json");
    let mut plan: Value =
        serde_json::from_str(include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/local-plan.json"))).unwrap();
    plan["alerts"] =
        serde_json::json!({"channels": [{"name": "ops", "kind": "webhook", "urlSetting": "BCDR_OPS_HOOK"}]});
    std::fs::write(&plan_path, plan.to_string()).unwrap();
    let run = |args: &[&str], hook: Option<&str>| {
        let mut cmd = Command::new(workspace_binary("bcdr"));
        cmd.args(args)
            .args(["--plan", plan_path.to_str().unwrap()])
            .env("BCDR_STATE_URL", format!("file://{}", ops.state.path().join("state").display()))
            .env("BCDR_OPERATOR", "ana")
            .env_remove("BCDR_OPS_HOOK");
        if let Some(hook) = hook {
            cmd.env("BCDR_OPS_HOOK", hook);
        }
        let out = cmd.output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
        )
    };

    // With the channel's setting where the command runs, the alert has arrived when it returns.
    let (url, received) = receiver();
    let (ok, out) = run(&["pause", "--reason", "dns move", "--until", "+2h"], Some(&url));
    assert!(ok, "{out}");
    let alert = received.try_recv().expect("the pause alert arrived before the command returned");
    assert_eq!((alert["kind"].as_str(), alert["watch"].as_str()), (Some("paused"), Some("local-primary")), "{alert}");
    assert_eq!(alert["fields"]["watcher"], "operator:ana");

    // Without it, the command still works, and says which channel it could not reach.
    let (ok, out) = run(&["resume"], None);
    assert!(ok, "{out}");
    assert!(
        out.contains("alerts of this command skip a channel: $.alerts.channels[0].urlSetting = \"BCDR_OPS_HOOK\""),
        "{out}"
    );
    assert!(received.try_recv().is_err(), "nothing was sent");
}
