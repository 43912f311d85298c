//! The operator's verbs on the watchdog's state: status, pause and resume through the real `bcdr`.

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
