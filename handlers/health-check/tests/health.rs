//! The health-check against real sockets: local target servers that answer, fail or hang, the
//! function app over the custom-handler protocol, and configuration errors.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bcdr_core::arm::ArmClient;
use bcdr_core::health::{Checker, HealthService};
use bcdr_core::outbound::{self, Purpose};
use bcdr_core::plan::FailoverPlan;
use bcdr_core::runtime;
use bcdr_core::settings::SettingsMap;
use health_check::{app, Config};
use serde_json::{json, Value};
use warp::Filter;

/// A target that answers `status` with `body` after `delay`, counting hits; `None` never answers.
struct Target {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    seen_headers: Arc<std::sync::Mutex<Vec<(String, String)>>>,
}

async fn target(status: u16, body: &'static str, delay: Option<Duration>) -> Target {
    let hits = Arc::new(AtomicUsize::new(0));
    let seen_headers = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (h, s) = (hits.clone(), seen_headers.clone());
    let route = warp::any().and(warp::header::headers_cloned()).then(move |headers: http::HeaderMap| {
        let (h, s) = (h.clone(), s.clone());
        async move {
            h.fetch_add(1, Ordering::SeqCst);
            s.lock().unwrap().extend(headers.iter().map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned())));
            match delay {
                Some(d) => tokio::time::sleep(d).await,
                None => futures_never().await,
            }
            warp::reply::with_status(body, http::StatusCode::from_u16(status).unwrap())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    Target { addr, hits, seen_headers }
}

async fn futures_never() {
    std::future::pending::<()>().await
}

fn plan(checks: Value, cache_ms: u64) -> FailoverPlan {
    let text = json!({
        "version": 1, "name": "test", "regions": {"primary": "westeurope", "secondary": "northeurope"},
        "health": {"deadlineMs": 400, "cacheMs": cache_ms, "checks": checks}
    });
    FailoverPlan::from_json(&text.to_string()).unwrap()
}

fn service(plan: &FailoverPlan, headers: HashMap<String, http::HeaderMap>) -> HealthService {
    let http = outbound::client(Purpose::HealthChecks);
    let arm = ArmClient::new(
        "http://127.0.0.1:9",
        outbound::client(Purpose::Arm),
        Err("no managed identity in this test".into()),
    );
    HealthService::new(Checker { http, arm: Arc::new(arm), headers }, plan.health.clone(), &plan.name, "westeurope")
}

/// Evaluates once and prints `status: name=outcome(reason)...` for a compact expectation.
async fn check(checks: Value, expect: &str) {
    let plan = plan(checks, 0);
    let answer = service(&plan, HashMap::new()).answer().await;
    let r = &answer.report;
    let mut got = format!("{} {}:", answer.status.as_u16(), serde_json::to_value(r.status).unwrap().as_str().unwrap());
    for c in &r.checks {
        got.push_str(&format!(
            " {}={}({})",
            c.name,
            serde_json::to_value(c.status).unwrap().as_str().unwrap(),
            c.reason
        ));
    }
    assert_eq!(got, expect);
}

#[tokio::test]
async fn http_checks_by_status_body_and_timeout() {
    let ok = target(200, "{\"state\":\"ok\"}", Some(Duration::ZERO)).await;
    let down = target(503, "down", Some(Duration::ZERO)).await;
    let hung = target(200, "", None).await;
    let url = |t: &Target, p: &str| format!("http://{}{}", t.addr, p);
    check(json!([{"name": "a", "http": {"url": url(&ok, "/h")}}]), "200 healthy: a=pass(status 200)").await;
    check(
        json!([{"name": "a", "http": {"url": url(&ok, "/h"), "bodyContains": "\"state\":\"ok\""}},
               {"name": "b", "critical": false, "http": {"url": url(&ok, "/h"), "bodyContains": "nope"}}]),
        "200 degraded: a=pass(status 200) b=fail(status 200, body lacks the expected text)",
    )
    .await;
    check(
        json!([{"name": "a", "http": {"url": url(&down, "/h")}}]),
        "503 unhealthy: a=fail(status 503, expected 200-299)",
    )
    .await;
    check(
        json!([{"name": "a", "http": {"url": url(&down, "/h"), "expectStatus": "200-299,503"}}]),
        "200 healthy: a=pass(status 503)",
    )
    .await;
    check(
        json!([{"name": "a", "timeoutMs": 100, "http": {"url": url(&hung, "/h")}},
               {"name": "b", "http": {"url": url(&hung, "/h")}}]),
        "503 unhealthy: a=timeout(no answer within 100 ms) b=timeout(no answer within 400 ms)",
    )
    .await;
}

#[tokio::test]
async fn tcp_and_dns_checks() {
    let open = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let open_port = open.local_addr().unwrap().port();
    let closed_port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    check(
        json!([{"name": "open", "tcp": {"host": "127.0.0.1", "port": open_port}},
               {"name": "closed", "critical": false, "tcp": {"host": "127.0.0.1", "port": closed_port}},
               {"name": "dns", "dns": {"host": "localhost"}}]),
        &format!(
            "200 degraded: open=pass(port {open_port} accepts connections) closed=fail(cannot connect to port {closed_port}: Connection refused) dns=pass(resolves to {} address{})",
            n_localhost(), if n_localhost() == 1 { "" } else { "es" }
        ),
    )
    .await;
}

fn n_localhost() -> usize {
    use std::net::ToSocketAddrs;
    ("localhost", 0).to_socket_addrs().unwrap().count()
}

#[tokio::test]
async fn arm_checks_without_an_identity_fail_with_the_reason() {
    check(
        json!([{"name": "flow", "logicApp": {"resourceId": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Logic/workflows/f"}}]),
        "503 unhealthy: flow=fail(no token for ARM: no managed identity in this test)",
    )
    .await;
}

#[tokio::test]
async fn concurrent_callers_share_one_evaluation() {
    let slow = target(200, "ok", Some(Duration::from_millis(150))).await;
    let plan = plan(json!([{"name": "a", "http": {"url": format!("http://{}/", slow.addr)}}]), 0);
    let svc = service(&plan, HashMap::new());
    let answers = futures::future::join_all((0..20).map(|_| svc.answer())).await;
    assert_eq!(slow.hits.load(Ordering::SeqCst), 1, "twenty concurrent callers, one evaluation");
    assert!(answers.iter().all(|a| Arc::ptr_eq(&a.report, &answers[0].report)));
    // With no reuse window the next caller evaluates again.
    svc.answer().await;
    assert_eq!(slow.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_finished_report_is_reused_within_the_window() {
    let t = target(200, "ok", Some(Duration::ZERO)).await;
    let plan = plan(json!([{"name": "a", "http": {"url": format!("http://{}/", t.addr)}}]), 60_000);
    let svc = service(&plan, HashMap::new());
    for _ in 0..5 {
        svc.answer().await;
    }
    assert_eq!(t.hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn reports_carry_no_keys_or_query_strings() {
    let t = target(500, "secret-body", Some(Duration::ZERO)).await;
    let closed_port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let checks = json!([
        {"name": "a", "http": {"url": format!("http://{}/h?code=QUERYSECRET", t.addr), "headers": {"x-functions-key": "%KEY%"}}},
        {"name": "b", "http": {"url": format!("http://127.0.0.1:{closed_port}/h?code=QUERYSECRET")}}
    ]);
    let dir = temp_dir("secrets");
    let plan_file = dir.join("plan.json");
    std::fs::write(&plan_file, plan_json(checks)).unwrap();
    let settings = SettingsMap::new([
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "1"),
        ("BCDR_PLAN_FILE", plan_file.to_str().unwrap()),
        ("KEY", "HEADERSECRET"),
    ]);
    let config = Config::from_settings(&settings, &dir).unwrap();
    let answer = config.service().answer().await;
    let body = String::from_utf8(answer.body.to_vec()).unwrap();
    // The key did reach the target...
    assert!(t.seen_headers.lock().unwrap().iter().any(|(k, v)| k == "x-functions-key" && v == "HEADERSECRET"));
    // ...and nothing secret reached the report.
    for secret in ["HEADERSECRET", "QUERYSECRET", "code=", "secret-body"] {
        assert!(!body.contains(secret), "{secret} leaked into {body}");
    }
    assert!(body.contains("cannot connect"), "{body}");
}

#[tokio::test]
async fn the_function_app_speaks_the_host_protocol() {
    let t = target(200, "ok", Some(Duration::ZERO)).await;
    let plan = plan(json!([{"name": "a", "http": {"url": format!("http://{}/", t.addr)}}]), 1000);
    let listener = runtime::bind(0).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(runtime::serve(app(service(&plan, HashMap::new())), listener, async {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");

    let ping = http.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(ping.status(), 200);

    let res = http.get(format!("{base}/api/health")).send().await.unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    let report: Value = res.json().await.unwrap();
    assert_eq!(report["status"], "healthy");
    assert_eq!(report["checks"][0]["name"], "a");

    let head = http.head(format!("{base}/api/health")).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["x-health-status"], "healthy");
    assert_eq!(head.bytes().await.unwrap().len(), 0);

    let post = http.post(format!("{base}/api/health")).send().await.unwrap();
    assert_eq!(post.status(), 405);
    assert_eq!(post.headers()["allow"], "GET, HEAD");

    assert_eq!(http.get(format!("{base}/api/nope")).send().await.unwrap().status(), 404);
    assert_eq!(http.get(format!("{base}/nope")).send().await.unwrap().status(), 404);

    // Without forwarding, the host posts Data.req and expects Outputs.res.
    let invocation =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/http-invocation.json")).unwrap();
    let res = http
        .post(format!("{base}/health"))
        .header("content-type", "application/json")
        .header("x-azure-functions-invocationid", "5f0c7e52-0f7a-4d6b-9a56-2f9d0a1c1e11")
        .body(invocation)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let answer: Value = res.json().await.unwrap();
    assert_eq!(answer["Outputs"]["res"]["statusCode"], 200);
    let inner: Value = serde_json::from_str(answer["Outputs"]["res"]["body"].as_str().unwrap()).unwrap();
    assert_eq!(inner["status"], "healthy");
    assert!(answer["Logs"].is_array());

    let bad = http.post(format!("{base}/health")).body("{\"Data\":{}}").send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(bad.json::<Value>().await.unwrap()["error"], "invocation body: Data.req is missing");

    stop.send(()).unwrap();
    server.await.unwrap();
}

#[test]
fn bad_settings_and_plan_are_all_reported_before_start() {
    let dir = temp_dir("config");
    let plan_file = dir.join("plan.json");
    std::fs::write(
        &plan_file,
        plan_json(
            json!([{"name": "a", "http": {"url": "https://h/", "headers": {"x-functions-key": "%MISSING_KEY%"}}}]),
        ),
    )
    .unwrap();
    let settings = SettingsMap::new([
        ("FUNCTIONS_CUSTOMHANDLER_PORT", "seventy"),
        ("BCDR_PLAN_FILE", plan_file.to_str().unwrap()),
        ("BCDR_ARM_ENDPOINT", "management.azure.com"),
    ]);
    let err = Config::from_settings(&settings, &dir).err().unwrap().to_string();
    assert_eq!(
        err,
        "invalid configuration (3 problems)\n  \
         - FUNCTIONS_CUSTOMHANDLER_PORT = \"seventy\": expected the TCP port the Functions host assigned (1-65535)\n  \
         - BCDR_ARM_ENDPOINT = \"management.azure.com\": expected an http(s) URL\n  \
         - $.health.checks[0].headers.x-functions-key = \"%MISSING_KEY%\": refers to the app setting MISSING_KEY, which is not set"
    );

    let missing = SettingsMap::new([("BCDR_PLAN_FILE", "/nonexistent/plan.json")]);
    let err = Config::from_settings(&missing, &dir).err().unwrap().to_string();
    assert!(err.starts_with("invalid configuration (2 problems)\n  - FUNCTIONS_CUSTOMHANDLER_PORT: required"), "{err}");
    assert!(
        err.contains("BCDR_PLAN_FILE = \"/nonexistent/plan.json\": cannot read the plan /nonexistent/plan.json"),
        "{err}"
    );
}

#[test]
fn the_plan_defaults_to_the_file_beside_the_executable() {
    let dir = temp_dir("beside");
    std::fs::write(dir.join("failover-plan.json"), plan_json(json!([{"name": "a", "dns": {"host": "localhost"}}])))
        .unwrap();
    let settings = SettingsMap::new([("FUNCTIONS_CUSTOMHANDLER_PORT", "7000")]);
    let config = Config::from_settings(&settings, &dir).unwrap();
    assert_eq!(config.plan_file, dir.join("failover-plan.json"));
    assert_eq!(config.arm_endpoint, "https://management.azure.com");
}

fn plan_json(checks: Value) -> String {
    json!({"version": 1, "name": "t", "regions": {"primary": "a", "secondary": "b"}, "health": {"deadlineMs": 1000, "checks": checks}})
        .to_string()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("health-check-test-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}
