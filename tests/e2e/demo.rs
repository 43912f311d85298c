//! `bcdr demo` (what `make run` runs) tells the whole story and leaves nothing running.

use std::process::Command;

use crate::support::workspace_binary;

#[test]
fn the_demo_fails_over_and_back_and_stops_everything() {
    let work = tempfile::tempdir().unwrap();
    let out = Command::new(workspace_binary("bcdr"))
        .arg("demo")
        .arg("--workdir")
        .arg(work.path().join("demo"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(
        !text.contains("unrecognized subcommand 'demo'"),
        "bcdr was built without its `demo` feature: run `make build` (or `cargo build -p bcdr --features demo`)"
    );
    assert!(out.status.success(), "{text}");
    for line in [
        "OUTAGE: the primary's database stops answering",
        "suspect -> activating",
        "critical activationRequested (to the ops inbox)",
        "failover run for epoch 1 by northeurope-watchdog: succeeded",
        "warning failbackIsManual (to the ops inbox)",
        "Step 4/4: recording the failback on the watch",
        "failedOver -> watching",
        "done: the work is back in the primary, the watch is on epoch 2",
        "simulated Azure stopped; nothing is left running",
        // The uptime monitor on the watchdog: 200 while the primary serves, 503 once failed over.
        "monitor    GET /api/status/monitor: 200 orders: watching",
        "monitor    GET /api/status/monitor: 503 orders: failedOver",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // Every process the demo started is gone: no handler still runs from its app folders.
    let ps = Command::new("ps").args(["-eo", "args"]).output().unwrap();
    let ps = String::from_utf8_lossy(&ps.stdout);
    let folder = work.path().display().to_string();
    assert!(!ps.lines().any(|l| l.contains(&folder)), "still running:\n{ps}");
}

#[test]
fn the_demo_can_run_behind_an_api_management_pool() {
    let work = tempfile::tempdir().unwrap();
    let plan = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/local-plan-apim.json");
    let out = Command::new(workspace_binary("bcdr"))
        .args(["demo", "--plan", plan, "--workdir"])
        .arg(work.path().join("demo"))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    for line in [
        "failover run for epoch 1 by northeurope-watchdog: succeeded",
        "route        router            secondary switchBackend   done",
        "API Management's pool orders-api puts orders-api-neu first",
        "done: the work is back in the primary, the watch is on epoch 2",
    ] {
        assert!(text.contains(line), "missing {line:?} in:\n{text}");
    }
    // The failback put the primary's backend first again.
    assert!(
        text.lines().any(|l| l.contains("switchBackend") && l.contains("now Pool: orders-api-weu priority 1")),
        "{text}"
    );
}
