//! `bcdr plan check`: the shipped plans pass and say how fast each watch detects an outage; a bad
//! plan fails naming each path.

use std::process::Command;

use crate::support::workspace_binary;

fn plan_check(file: &std::path::Path) -> (bool, String) {
    let out = Command::new(workspace_binary("bcdr")).args(["plan", "check"]).arg(file).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr))
}

#[test]
fn shipped_plans_pass() {
    for plan in ["failover-plan.json", "local-plan.json", "local-plan-apim.json"] {
        let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra")).join(plan);
        let (ok, out) = plan_check(&path);
        assert!(ok, "{out}");
        assert!(out.contains(": valid (plan "), "{out}");
        assert!(out.contains("detects an outage in "), "{out}");
    }
    // The deployed plan's watch has the default policy on a one-minute tick.
    let path = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../infra/failover-plan.json"));
    let (_, out) = plan_check(path);
    assert!(
        out.contains("watch \"orders-primary\" detects an outage in 16 s at best, about 50 s typically, 85 s at worst"),
        "{out}"
    );
}

#[test]
fn a_bad_plan_fails_naming_every_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plan.json");
    std::fs::write(
        &file,
        r#"{"version": 1, "name": "x", "regions": {"primary": "a", "secondary": "a"},
            "health": {"checks": [{"name": "t", "tcp": {"host": "", "port": 1}}]}}"#,
    )
    .unwrap();
    let (ok, out) = plan_check(&file);
    assert!(!ok);
    let shown = file.display().to_string();
    assert!(
        out.contains(&format!("{shown}: $.regions.secondary = \"a\": must differ from the primary region")),
        "{out}"
    );
    assert!(out.contains(&format!("{shown}: $.health.checks[0].tcp.host = \"\": must not be empty")), "{out}");
    assert!(out.contains("2 problems"), "{out}");
}
