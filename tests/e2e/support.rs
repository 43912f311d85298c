//! What every end-to-end test needs: the workspace's binaries, free loopback ports, and the
//! roles the deployment gives each app's identity, enforced by the ARM double.

use std::path::{Path, PathBuf};

use azure_sim::{ArmDouble, Grant};
use bcdr_core::plan::access::{self, App};
use bcdr_core::plan::FailoverPlan;

/// A binary of the workspace, next to this test's build output
/// (target/debug/deps/e2e-* -> target/debug/NAME).
pub fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe.parent().and_then(Path::parent).expect("the test binary lives in target/<profile>/deps");
    let bin = dir.join(name);
    assert!(
        bin.is_file(),
        "{} is missing: run `make build` (`cargo build --workspace --bins --features bcdr/demo`) first",
        bin.display()
    );
    bin
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap().local_addr().unwrap().port()
}

/// Holds every app's identity to the role assignments the deployment makes for `plan`
/// (`plan::access`, from the Bicep's own role table): the ARM double refuses anything else, as
/// ARM does. `principal` names each app's identity by the client id its tokens carry.
pub fn enforce_roles(arm: &ArmDouble, plan: &serde_json::Value, principal: impl Fn(App) -> &'static str) {
    let plan = FailoverPlan::from_json(&plan.to_string()).expect("the scenario's plan is valid");
    arm.enforce_access(access::assignments(&plan).into_iter().map(|a| Grant {
        principal: principal(a.app).to_owned(),
        scope: a.scope,
        role: a.role,
        actions: a.actions,
        not_actions: a.not_actions,
    }));
}
