//! The activation app under `bcdr host`, as in Azure: function key enforced by the host, the
//! real managed-identity credential against the identity double, ARM through the ARM double. A
//! signed request switches a multi-resource plan (fence, enable, route) and leaves a report.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use azure_sim::{ArmDouble, ArmOptions, IdentityDouble, IdentityOptions};
use bcdr_core::signature::signed_headers;
use serde_json::{json, Value};

use crate::support::{self, free_port, workspace_binary};

const SECRET: &str = "an-end-to-end-activation-secret-32-chars+";
const KEY: &str = "activation-function-key";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn id(rg: &str, tail: &str) -> String {
    format!("/subscriptions/00000000-0000-0000-0000-00000000e2e0/resourceGroups/{rg}/providers/{tail}")
}

#[tokio::test]
async fn a_signed_request_switches_a_multi_resource_plan_and_leaves_a_report() {
    let identity = IdentityDouble::start(IdentityOptions::default()).await.unwrap();
    let arm = ArmDouble::start(ArmOptions { tokens: Some(identity.tokens()), ..ArmOptions::default() }).await.unwrap();
    let wf = |rg: &str, n: &str| id(rg, &format!("Microsoft.Logic/workflows/{n}"));
    let site = |rg: &str, n: &str| id(rg, &format!("Microsoft.Web/sites/{n}"));
    let endpoint =
        |n: &str| id("rg-global", &format!("Microsoft.Network/trafficManagerProfiles/tm/azureEndpoints/{n}"));
    for (rg, on) in [("rg-weu", true), ("rg-neu", false)] {
        let state = if on { "Enabled" } else { "Disabled" };
        arm.add_logic_app(&wf(rg, "mailbox"), state, "westeurope");
        arm.add_logic_app(&wf(rg, "nightly"), state, "westeurope");
        arm.add_site(&site(rg, "api"), if on { "Running" } else { "Stopped" });
        arm.add_site(&site(rg, "events"), "Running");
        arm.set_app_settings(&site(rg, "events"), [("Workflows.orders.FlowState", state), ("OTHER_SETTING", "kept")]);
        arm.add_site_workflow(&site(rg, "events"), "orders");
    }
    arm.add_traffic_manager_endpoint(&endpoint("weu"), "Enabled");
    arm.add_traffic_manager_endpoint(&endpoint("neu"), "Disabled");

    let plan = json!({
        "version": 1, "name": "e2e", "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"checks": [{"name": "d", "dns": {"host": "localhost"}}]},
        "watchdog": {"watches": [{"name": "orders", "target": "https://orders.example.net/api/health"}]},
        "resources": [
            {"name": "mailbox", "kind": "logicApp", "trigger": "pollingClientState", "role": "activePassive", "primary": wf("rg-weu", "mailbox"), "secondary": wf("rg-neu", "mailbox")},
            {"name": "nightly", "kind": "logicApp", "trigger": "recurrence", "role": "activePassive", "primary": wf("rg-weu", "nightly"), "secondary": wf("rg-neu", "nightly")},
            {"name": "events", "kind": "logicAppStandard", "workflow": "orders", "trigger": "pollingServerState", "role": "activePassive", "primary": site("rg-weu", "events"), "secondary": site("rg-neu", "events")},
            {"name": "api", "kind": "site", "trigger": "request", "role": "activePassive", "primary": site("rg-weu", "api"), "secondary": site("rg-neu", "api")}
        ],
        "router": {"kind": "trafficManager", "primary": endpoint("weu"), "secondary": endpoint("neu")},
        "activation": {"deadlineMs": 20000}
    });
    support::enforce_roles(&arm, &plan, |_| "activation-uami");

    let root = env!("CARGO_MANIFEST_DIR").to_owned() + "/..";
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("activation");
    for f in ["activate", "ready"] {
        std::fs::create_dir_all(app.join(f)).unwrap();
        std::fs::copy(format!("{root}/function-specs/{f}/function.json"), app.join(f).join("function.json")).unwrap();
    }
    std::fs::copy(format!("{root}/host.json"), app.join("host.json")).unwrap();
    std::os::unix::fs::symlink(workspace_binary("activation"), app.join("handler")).unwrap();
    std::fs::write(app.join("failover-plan.json"), plan.to_string()).unwrap();
    let state = dir.path().join("state");
    let port = free_port();
    let set = |k: &str, v: &str| format!("{k}={v}");
    let _host = Process(
        Command::new(workspace_binary("bcdr"))
            .arg("host")
            .arg(&app)
            .args(["--port", &port.to_string(), "--functions-key", KEY])
            .args(["--set", &set("BCDR_ARM_ENDPOINT", arm.base_url())])
            .args(["--set", &set("IDENTITY_ENDPOINT", identity.endpoint())])
            .args(["--set", &set("IDENTITY_HEADER", identity.header_secret())])
            .args(["--set", &set("AZURE_CLIENT_ID", "activation-uami")])
            .args(["--set", &set("BCDR_ACTIVATION_SECRET", SECRET)])
            .args(["--set", &set("BCDR_STATE_URL", &format!("file://{}", state.display()))])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    let started = Instant::now();
    loop {
        match http.get(format!("{base}/api/ready")).header("x-functions-key", KEY).send().await {
            Ok(res) if res.status() == 200 => break,
            _ => {
                assert!(started.elapsed() < Duration::from_secs(30), "activation never became ready");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }

    let body =
        serde_json::to_vec(&json!({"watch": "orders", "epoch": 1, "reason": "primary down", "requester": "e2e"}))
            .unwrap();
    let signed =
        |body: &[u8]| signed_headers(SECRET.as_bytes(), "POST", "/api/activate", chrono::Utc::now().timestamp(), body);
    // The host refuses a request without the function key before the handler sees it.
    let mut req = http.post(format!("{base}/api/activate")).body(body.clone());
    for (k, v) in signed(&body) {
        req = req.header(k, v);
    }
    assert_eq!(req.send().await.unwrap().status(), 401);

    let mut req = http.post(format!("{base}/api/activate")).header("x-functions-key", KEY).body(body.clone());
    for (k, v) in signed(&body) {
        req = req.header(k, v);
    }
    let res = req.send().await.unwrap();
    let status = res.status().as_u16();
    let answer: Value = res.json().await.unwrap();
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["report"]["outcome"], "succeeded");

    let prop = |id: &str, p: &str| arm.resource(id).unwrap()["properties"][p].as_str().unwrap().to_owned();
    assert_eq!(
        (prop(&wf("rg-weu", "mailbox"), "state"), prop(&wf("rg-neu", "mailbox"), "state")),
        ("Disabled".into(), "Enabled".into())
    );
    assert_eq!(prop(&wf("rg-neu", "nightly"), "state"), "Enabled");
    assert_eq!(prop(&site("rg-neu", "api"), "state"), "Running");
    assert_eq!(arm.app_settings(&site("rg-neu", "events")).unwrap()["Workflows.orders.FlowState"], "Enabled");
    assert_eq!(arm.app_settings(&site("rg-neu", "events")).unwrap()["OTHER_SETTING"], "kept");
    assert_eq!(
        (prop(&endpoint("weu"), "endpointStatus"), prop(&endpoint("neu"), "endpointStatus")),
        ("Disabled".into(), "Enabled".into())
    );
    // Every ARM call was made as the user-assigned identity, with a token the identity issued.
    assert!(arm.calls().iter().all(|c| c.client_id.as_deref() == Some("activation-uami")));
    // The report is in the store, with the request it answered.
    let reports = std::fs::read_to_string(state.join("activations/orders/reports.jsonl")).unwrap();
    let last: Value = serde_json::from_str(reports.lines().last().unwrap()).unwrap();
    assert_eq!(
        (last["epoch"].as_u64(), last["requester"].as_str(), last["report"]["outcome"].as_str()),
        (Some(1), Some("e2e"), Some("succeeded"))
    );
}
