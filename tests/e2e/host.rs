//! `bcdr host` end to end: the real binary runs the fixture handler from temporary app folders.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support::{free_port, workspace_binary};

const FIXTURE: &str = env!("CARGO_BIN_EXE_fixture-handler");
const DEADLINE: Duration = Duration::from_secs(20);

fn bcdr_binary() -> PathBuf {
    workspace_binary("bcdr")
}

/// A function app folder, `<tmp>/<name>`, running the fixture handler.
struct AppDir {
    _root: tempfile::TempDir,
    dir: PathBuf,
}

impl AppDir {
    fn new(name: &str, forwarding: bool, functions: &[(&str, Value)]) -> AppDir {
        let root = tempfile::Builder::new().prefix("bcdr-host-e2e-").tempdir().unwrap();
        let dir = root.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        let host = json!({
            "version": "2.0",
            "customHandler": {
                "description": {"defaultExecutablePath": FIXTURE},
                "enableForwardingHttpRequest": forwarding,
            },
        });
        std::fs::write(dir.join("host.json"), host.to_string()).unwrap();
        let settings = json!({
            "IsEncrypted": false,
            "Values": {"FIXTURE_RECORD": dir.join("record.jsonl")},
        });
        std::fs::write(dir.join("local.settings.json"), settings.to_string()).unwrap();
        for (function, spec) in functions {
            std::fs::create_dir(dir.join(function)).unwrap();
            std::fs::write(dir.join(function).join("function.json"), spec.to_string()).unwrap();
        }
        AppDir { _root: root, dir }
    }

    /// The invocations the fixture recorded so far.
    fn records(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.join("record.jsonl"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

fn http_function(auth: &str, methods: &[&str], route: &str) -> Value {
    json!({"bindings": [
        {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": auth, "methods": methods, "route": route},
        {"type": "http", "direction": "out", "name": "res"},
    ]})
}

/// A running `bcdr host`, killed when dropped.
struct Host {
    child: Child,
    port: u16,
    output: Arc<Mutex<String>>,
    client: reqwest::Client,
}

fn collect(stream: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines() {
            let Ok(line) = line else { break };
            let mut out = into.lock().unwrap();
            out.push_str(&line);
            out.push('\n');
        }
    });
}

impl Host {
    fn spawn(apps: &[&AppDir], extra: &[&str], port: u16) -> Host {
        let mut cmd = Command::new(bcdr_binary());
        cmd.arg("host")
            .args(apps.iter().map(|a| &a.dir))
            .args(["--port", &port.to_string()])
            .args(extra)
            .env("BCDR_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("start bcdr");
        let output = Arc::new(Mutex::new(String::new()));
        collect(child.stdout.take().unwrap(), output.clone());
        collect(child.stderr.take().unwrap(), output.clone());
        Host {
            child,
            port,
            output,
            // No compression: the forwarding test checks the handler sees exactly our headers.
            client: reqwest::Client::builder().no_proxy().no_gzip().no_deflate().no_brotli().no_zstd().build().unwrap(),
        }
    }

    /// Starts the host and waits until every handler is ready.
    async fn start(apps: &[&AppDir], extra: &[&str]) -> Host {
        let host = Host::spawn(apps, extra, free_port());
        host.wait_running().await;
        host
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    async fn wait_running(&self) {
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if let Ok(r) = self.client.get(self.url("/admin/host/status")).send().await {
                let status: Value = r.json().await.unwrap();
                if status["state"] == "Running" {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bcdr host never reported Running; output:\n{}", self.output());
    }

    async fn wait_for_output(&self, needle: &str) {
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if self.output().contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bcdr host never printed {needle:?}; output:\n{}", self.output());
    }

    /// The fixture's pid, via the forwarded echo function.
    async fn handler_pid(&self) -> u32 {
        let echo: Value = self.client.get(self.url("/api/echo")).send().await.unwrap().json().await.unwrap();
        echo["pid"].as_u64().unwrap() as u32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on a child we started and have not reaped.
        assert_eq!(unsafe { libc::kill(self.child.id() as i32, sig) }, 0);
    }

    async fn wait_exit(&mut self) -> std::process::ExitStatus {
        let started = Instant::now();
        while started.elapsed() < DEADLINE {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("bcdr host did not exit; output:\n{}", self.output());
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A process counts as gone once it no longer exists or is a zombie waiting to be reaped.
fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .is_some_and(|state| state != 'Z' && state != 'X'),
        Err(_) => false,
    }
}

async fn wait_gone(pid: u32) {
    let started = Instant::now();
    while started.elapsed() < DEADLINE {
        if !alive(pid) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("handler pid {pid} is still running");
}

fn echo_app(name: &str) -> AppDir {
    AppDir::new(
        name,
        true,
        &[
            ("echo", http_function("anonymous", &["get", "post"], "echo")),
            ("crash", http_function("anonymous", &["get"], "crash")),
        ],
    )
}

#[tokio::test]
async fn forwarded_http_reaches_the_handler_intact() {
    let app = echo_app("fwd");
    let host = Host::start(&[&app], &[]).await;

    let r = host
        .client
        .post(host.url("/api/echo?a=1&b=two%20words"))
        .header("x-custom", "v1")
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echo: Value = r.json().await.unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["path"], "/api/echo");
    assert_eq!(echo["query"], "a=1&b=two%20words");
    assert_eq!(echo["headers"]["x-custom"], json!(["v1"]));
    assert_eq!(echo["headers"]["content-type"], json!(["text/plain"]));
    assert!(echo["headers"].get("accept-encoding").is_none(), "{echo}");
    assert_eq!(echo["body"], "hello");
    let invocation_id = echo["headers"]["x-azure-functions-invocationid"][0].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(invocation_id).is_ok());

    let status = |path: &'static str, method: reqwest::Method| {
        let req = host.client.request(method, host.url(path));
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(status("/api/nope", reqwest::Method::GET).await, 404);
    assert_eq!(status("/", reqwest::Method::GET).await, 404);
    assert_eq!(status("/api/echo", reqwest::Method::DELETE).await, 405);

    let admin: Value = host.client.get(host.url("/admin/host/status")).send().await.unwrap().json().await.unwrap();
    assert_eq!(admin["state"], "Running");
    assert!(admin["processUptime"].is_u64());

    host.wait_for_output("[fwd] fixture handler listening on").await;
    let output = host.output();
    let stderr_line = output
        .lines()
        .find(|l| l.contains("[fwd] fixture handler stderr line"))
        .expect("the handler's stderr is relayed");
    assert!(stderr_line.contains("ERROR"), "{stderr_line}");
    assert!(output.contains("[fwd] echo (http POST /api/echo): 200 in"), "{output}");
}

#[tokio::test]
async fn non_forwarded_http_becomes_an_invocation() {
    let app = AppDir::new("inv", false, &[("make", http_function("anonymous", &["post"], "items/{id}"))]);
    let host = Host::start(&[&app], &[]).await;

    let r = host
        .client
        .post(host.url("/api/items/42?x=1&x=2"))
        .header("x-custom", "v")
        .header("content-type", "application/json")
        .body(r#"{"a":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-fixture"], "1");
    assert_eq!(r.text().await.unwrap(), "made");

    let records = app.records();
    assert_eq!(records.len(), 1, "{records:?}");
    let rec = &records[0];
    assert_eq!(rec["path"], "/make");
    assert_eq!(rec["headers"]["transfer-encoding"], json!(["chunked"]));
    assert!(rec["headers"].get("content-length").is_none());
    let body: Value = serde_json::from_str(rec["body"].as_str().unwrap()).unwrap();
    let req = &body["Data"]["req"];
    assert_eq!(req["Method"], "POST");
    assert!(req["Url"].as_str().unwrap().ends_with("/api/items/42?x=1&x=2"), "{req}");
    assert_eq!(req["Query"], json!({"x": "1,2"}));
    assert_eq!(req["Headers"]["x-custom"], json!(["v"]));
    assert_eq!(req["Params"], json!({"id": "42"}));
    assert_eq!(req["Identities"], json!([]));
    assert_eq!(req["Body"], r#"{"a":1}"#);
    assert_eq!(body["Metadata"]["sys"]["MethodName"], "make");
    assert_eq!(body["Metadata"]["id"], "42");

    host.wait_for_output("[inv] make: fixture log").await;
}

#[tokio::test]
async fn timer_fires_a_chunked_invocation() {
    let timer = json!({"bindings": [
        {"type": "timerTrigger", "direction": "in", "name": "myTimer", "schedule": "%TICK_SCHEDULE%"},
    ]});
    let app = AppDir::new("ticker", false, &[("tick", timer)]);
    let host = Host::start(&[&app], &["--set", "TICK_SCHEDULE=*/1 * * * * *"]).await;
    host.wait_for_output("[ticker] tick: fixture log").await;

    let records = app.records();
    let rec = records.first().expect("a recorded timer invocation");
    assert_eq!(rec["path"], "/tick");
    let headers = &rec["headers"];
    assert_eq!(headers["transfer-encoding"], json!(["chunked"]));
    assert!(headers.get("content-length").is_none());
    assert!(headers["content-type"][0].as_str().unwrap().starts_with("application/json"));
    let id = headers["x-azure-functions-invocationid"][0].as_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    assert!(!headers["x-azure-functions-hostversion"][0].as_str().unwrap().is_empty());

    let body: Value = serde_json::from_str(rec["body"].as_str().unwrap()).unwrap();
    let expected_timer = json!({
        "Schedule": {"AdjustForDST": true},
        "ScheduleStatus": null,
        "IsPastDue": false,
    });
    assert_eq!(body["Data"]["myTimer"], expected_timer);
    assert_eq!(body["Metadata"]["myTimer"], expected_timer);
    let sys = &body["Metadata"]["sys"];
    assert_eq!(sys["MethodName"], "tick");
    assert!(chrono::DateTime::parse_from_rfc3339(sys["UtcNow"].as_str().unwrap()).is_ok());
    assert!(uuid::Uuid::parse_str(sys["RandGuid"].as_str().unwrap()).is_ok());
}

#[tokio::test]
async fn function_keys_are_enforced_when_given() {
    let app = AppDir::new(
        "keyed",
        false,
        &[
            ("secure", http_function("function", &["get"], "secure")),
            ("admin", http_function("admin", &["get"], "admin")),
            ("open", http_function("anonymous", &["get"], "open")),
        ],
    );
    let host = Host::start(&[&app], &["--functions-key", "s3cret"]).await;
    let get = |path: &str, key: Option<&str>| {
        let mut req = host.client.get(host.url(path));
        if let Some(k) = key {
            req = req.header("x-functions-key", k);
        }
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(get("/api/secure", None).await, 401);
    assert_eq!(get("/api/secure", Some("wrong")).await, 401);
    assert_eq!(get("/api/secure", Some("s3cret")).await, 201);
    assert_eq!(get("/api/secure?code=s3cret", None).await, 201);
    assert_eq!(get("/api/admin", None).await, 401);
    assert_eq!(get("/api/admin", Some("s3cret")).await, 201);
    assert_eq!(get("/api/open", None).await, 201);
}

#[tokio::test]
async fn crashed_handler_is_restarted() {
    let app = echo_app("crashy");
    let host = Host::start(&[&app], &[]).await;
    let first = host.handler_pid().await;

    let r = host.client.get(host.url("/api/crash")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    host.wait_for_output("died: exit code 3").await;

    let started = Instant::now();
    let second = loop {
        if let Ok(r) = host.client.get(host.url("/api/echo")).send().await {
            if r.status() == 200 {
                let echo: Value = r.json().await.unwrap();
                let pid = echo["pid"].as_u64().unwrap() as u32;
                if pid != first {
                    break pid;
                }
            }
        }
        assert!(started.elapsed() < DEADLINE, "the handler was not restarted; output:\n{}", host.output());
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(!alive(first));
    assert!(alive(second));
}

#[tokio::test]
async fn sigterm_stops_the_host_and_its_handlers() {
    let app = echo_app("stopping");
    let mut host = Host::start(&[&app], &[]).await;
    let pid = host.handler_pid().await;

    host.signal(libc::SIGTERM);
    let status = host.wait_exit().await;
    assert!(status.success(), "{status:?}; output:\n{}", host.output());
    wait_gone(pid).await;
    assert!(host.output().contains("[stopping] handler (pid"), "{}", host.output());
}

#[tokio::test]
async fn killed_host_leaves_no_handler_running() {
    let app = echo_app("orphan");
    let mut host = Host::start(&[&app], &[]).await;
    let pid = host.handler_pid().await;

    host.signal(libc::SIGKILL);
    host.wait_exit().await;
    wait_gone(pid).await;
}

#[tokio::test]
async fn bad_configuration_fails_before_anything_runs() {
    let app = AppDir::new(
        "broken",
        true,
        &[("tick", json!({"bindings": [{"type": "timerTrigger", "name": "t", "schedule": "*/5 * * * *"}]}))],
    );
    let mut host = Host::spawn(&[&app], &[], free_port());
    let status = host.wait_exit().await;
    assert!(!status.success());
    let output = host.output();
    assert!(output.contains("tick/function.json: bindings[0].schedule"), "{output}");
    assert!(output.contains("has 5 fields"), "{output}");

    let taken = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = taken.local_addr().unwrap().port();
    let ok_app = echo_app("porttaken");
    let mut host = Host::spawn(&[&ok_app], &[], port);
    let status = host.wait_exit().await;
    assert!(!status.success());
    assert!(host.output().contains(&format!("cannot listen on 127.0.0.1:{port}")), "{}", host.output());
}
