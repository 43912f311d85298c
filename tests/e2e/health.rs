//! The health-check binary end to end: its ARM checks through the real managed-identity
//! credential against simulated Azure, and the local app layout (`make run`) under `bcdr host`.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use azure_sim::{ArmDouble, ArmOptions, Fault, IdentityDouble, IdentityOptions, Matcher};
use serde_json::{json, Value};

use crate::support::{self, free_port, workspace_binary};

const WORKFLOW: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-orders-weu/providers/Microsoft.Logic/workflows/order-intake";
const BUS: &str = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-orders-weu/providers/Microsoft.ServiceBus/namespaces/sb-orders-weu";
const CLIENT_ID: &str = "6f1b2c3d-0000-4000-8000-00000000abcd";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn wait_for(url: &str) {
    let http = reqwest::Client::new();
    let started = Instant::now();
    while http.get(url).send().await.is_err() {
        assert!(started.elapsed() < Duration::from_secs(20), "{url} never answered");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Status code and `name: status (reason)` per check.
async fn health(url: &str) -> (u16, Vec<String>) {
    let res = reqwest::get(url).await.unwrap();
    let status = res.status().as_u16();
    let body = res.text().await.unwrap();
    let report: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{status}: not a report: {body}"));
    let checks = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            format!(
                "{}: {} ({})",
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["reason"].as_str().unwrap()
            )
        })
        .collect();
    (status, checks)
}

#[tokio::test]
async fn arm_checks_use_the_managed_identity_against_real_arm_paths() {
    let identity = IdentityDouble::start(IdentityOptions::default()).await.unwrap();
    let arm = ArmDouble::start(ArmOptions { tokens: Some(identity.tokens()), ..ArmOptions::default() }).await.unwrap();
    arm.add_logic_app(WORKFLOW, "Enabled", "westeurope");
    arm.add_workflow_runs(WORKFLOW, &["Succeeded", "Failed", "Running", "Succeeded", "Succeeded"]);
    arm.put_resource(BUS, json!({"id": BUS, "name": "sb-orders-weu", "type": "Microsoft.ServiceBus/namespaces", "properties": {"status": "Active"}}));

    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("plan.json");
    let document = json!({"version": 1, "name": "orders", "regions": {"primary": "westeurope", "secondary": "northeurope"},
    "health": {"deadlineMs": 3000, "cacheMs": 0, "checks": [
        {"name": "intake", "logicApp": {"resourceId": WORKFLOW, "maxFailedRatio": 0.5, "lastRuns": 10}},
        {"name": "bus", "armResource": {"resourceId": BUS, "apiVersion": "2021-11-01", "property": "properties.status", "equals": "Active"}}
    ]}});
    // The health-check holds Reader on what it checks, and nothing else.
    support::enforce_roles(&arm, &document, |_| CLIENT_ID);
    std::fs::write(&plan, document.to_string()).unwrap();
    let port = free_port();
    let _handler = Process(
        Command::new(workspace_binary("health-check"))
            .env_clear()
            .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
            .env("BCDR_PLAN_FILE", &plan)
            .env("BCDR_ARM_ENDPOINT", arm.base_url())
            .env("IDENTITY_ENDPOINT", identity.endpoint())
            .env("IDENTITY_HEADER", identity.header_secret())
            .env("AZURE_CLIENT_ID", CLIENT_ID)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/api/health");
    wait_for(&format!("http://127.0.0.1:{port}/")).await;

    assert_eq!(
        health(&url).await,
        (
            200,
            vec![
                "intake: pass (workflow Enabled, 1 of the last 4 finished runs failed)".to_owned(),
                "bus: pass (properties.status is \"Active\")".to_owned(),
            ]
        )
    );
    // The real credential asked for an ARM token as the user-assigned identity, once (cached).
    let asked = identity.requests();
    assert_eq!(asked.len(), 1, "{asked:?}");
    assert_eq!(asked[0].client_id(), Some(CLIENT_ID));
    assert_eq!(asked[0].resource(), Some("https://management.azure.com"));
    // ARM saw the real paths and api-versions, as that identity.
    let calls: Vec<String> = arm
        .calls()
        .iter()
        .map(|c| format!("{} {} {:?} {:?}", c.method, c.path, c.api_version(), c.query.get("$top")))
        .collect();
    assert!(calls.contains(&format!("GET {WORKFLOW} Some(\"2019-05-01\") None")), "{calls:?}");
    assert!(calls.contains(&format!("GET {WORKFLOW}/runs Some(\"2019-05-01\") Some(\"10\")")), "{calls:?}");
    assert!(calls.contains(&format!("GET {BUS} Some(\"2021-11-01\") None")), "{calls:?}");
    assert!(arm.calls().iter().all(|c| c.client_id.as_deref() == Some(CLIENT_ID)));

    // A disabled workflow and a throttled read: unhealthy, each with ARM's own words.
    arm.add_logic_app(WORKFLOW, "Disabled", "westeurope");
    arm.inject(Matcher::new("GET", "sb-orders-weu"), Fault::Throttle { retry_after_secs: 7 }, 1);
    let (status, checks) = health(&url).await;
    assert_eq!(status, 503);
    assert_eq!(checks[0], "intake: fail (workflow state is Disabled)");
    assert!(checks[1].starts_with("bus: fail (ARM answered 429 TooManyRequests: "), "{checks:?}");

    // Too many failed runs.
    arm.add_logic_app(WORKFLOW, "Enabled", "westeurope");
    arm.add_workflow_runs(WORKFLOW, &["Failed", "Failed", "Failed"]);
    let (status, checks) = health(&url).await;
    assert_eq!(status, 503);
    assert!(
        checks[0].starts_with("intake: fail (") && checks[0].contains("finished runs failed (more than 50%)"),
        "{checks:?}"
    );
}

#[tokio::test]
async fn the_local_app_serves_health_under_bcdr_host() {
    // The layout `make run` assembles: host.json, the health function, the handler, the plan.
    let root = env!("CARGO_MANIFEST_DIR").to_owned() + "/..";
    let dir = tempfile::tempdir().unwrap();
    let app = dir.path().join("health-check");
    std::fs::create_dir_all(app.join("health")).unwrap();
    std::fs::copy(format!("{root}/host.json"), app.join("host.json")).unwrap();
    std::fs::copy(format!("{root}/function-specs/health/function.json"), app.join("health/function.json")).unwrap();
    std::os::unix::fs::symlink(workspace_binary("health-check"), app.join("handler")).unwrap();
    let port = free_port();
    let plan =
        std::fs::read_to_string(format!("{root}/infra/local-plan.json")).unwrap().replace("7071", &port.to_string());
    std::fs::write(app.join("failover-plan.json"), plan).unwrap();

    let _host = Process(
        Command::new(workspace_binary("bcdr"))
            .arg("host")
            .arg(&app)
            .args(["--port", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let url = format!("http://127.0.0.1:{port}/api/health");
    let started = Instant::now();
    let (status, checks) = loop {
        if let Ok(res) = reqwest::get(&url).await {
            if res.status() != 404 && res.status() != 503 || started.elapsed() > Duration::from_secs(20) {
                break health(&url).await;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{url} never became healthy");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(status, 200, "{checks:?}");
    let names: Vec<&str> = checks.iter().map(|c| c.split(':').next().unwrap()).collect();
    assert_eq!(names, ["functions-host", "host-port", "localhost-resolves"]);
    assert!(checks.iter().all(|c| c.contains(": pass (")), "{checks:?}");
}
