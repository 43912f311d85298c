//! `make bench`: measures the shipped handler against the figures the bundle promises —
//! throughput beside a bare hyper server in the same run, p99 latency at half that load, start
//! time to the first answer, binary and zip sizes, and idle memory — and prints a table.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use azure_sim::azurite;

/// Activation wall time for a 20-resource plan against the ARM double, through the real client
/// with its production retry policy; optionally every 10th call is answered 429 (Retry-After 1).
mod activation_time {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use azure_sim::{ArmDouble, ArmOptions, Fault, Matcher, RegistryCredential, TokenRegistry};
    use bcdr_core::arm::{ArmClient, ArmError, Called, ManagementApi};
    use bcdr_core::failover::{run, Direction, RunOptions};
    use bcdr_core::plan::FailoverPlan;
    use serde_json::{json, Value};

    struct Throttled {
        client: ArmClient,
        arm: Arc<ArmDouble>,
        every: Option<u32>,
        calls: AtomicU32,
        throttled: AtomicU32,
    }

    #[async_trait]
    impl ManagementApi for Throttled {
        async fn get(&self, path: &str, api_version: &str, query: &[(&str, &str)]) -> Result<Value, ArmError> {
            self.client.get(path, api_version, query).await
        }
        async fn call_with(
            &self,
            method: http::Method,
            path: &str,
            api_version: &str,
            body: Option<&Value>,
            if_match: Option<&str>,
            deadline: tokio::time::Instant,
        ) -> Result<Called, ArmError> {
            let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.every.is_some_and(|e| n.is_multiple_of(e)) {
                self.throttled.fetch_add(1, Ordering::SeqCst);
                self.arm.inject(Matcher::new(method.as_str(), path), Fault::Throttle { retry_after_secs: 1 }, 1);
            }
            self.client.call_with(method, path, api_version, body, if_match, deadline).await
        }
    }

    /// (wall time, outcome, calls, throttled calls)
    pub async fn measure(throttle: bool) -> (Duration, String, u32, u32) {
        let registry = TokenRegistry::new();
        let arm = Arc::new(
            ArmDouble::start(ArmOptions { tokens: Some(registry.clone()), ..ArmOptions::default() }).await.unwrap(),
        );
        let id = |rg: &str, tail: String| {
            format!("/subscriptions/00000000-0000-0000-0000-0000000be0c0/resourceGroups/{rg}/providers/{tail}")
        };
        let mut resources = Vec::new();
        for i in 0..20 {
            let (kind, trigger, tail) = match i % 4 {
                0 | 1 => ("logicApp", "pollingClientState", format!("Microsoft.Logic/workflows/poller-{i}")),
                2 => ("logicApp", "recurrence", format!("Microsoft.Logic/workflows/job-{i}")),
                _ => ("site", "request", format!("Microsoft.Web/sites/api-{i}")),
            };
            let (p, s) = (id("rg-weu", tail.clone()), id("rg-neu", tail));
            if kind == "site" {
                arm.add_site(&p, "Running");
                arm.add_site(&s, "Stopped");
            } else {
                arm.add_logic_app(&p, "Enabled", "westeurope");
                arm.add_logic_app(&s, "Disabled", "northeurope");
            }
            resources.push(json!({"name": format!("r{i}"), "kind": kind, "trigger": trigger, "role": "activePassive", "primary": p, "secondary": s}));
        }
        let tm = |n: &str| id("rg-global", format!("Microsoft.Network/trafficManagerProfiles/tm/azureEndpoints/{n}"));
        arm.add_traffic_manager_endpoint(&tm("weu"), "Enabled");
        arm.add_traffic_manager_endpoint(&tm("neu"), "Disabled");
        let plan = json!({
            "version": 1, "name": "bench", "regions": {"primary": "westeurope", "secondary": "northeurope"},
            "health": {"checks": [{"name": "d", "dns": {"host": "localhost"}}]},
            "resources": resources,
            "router": {"kind": "trafficManager", "primary": tm("weu"), "secondary": tm("neu")}
        });
        let plan = FailoverPlan::from_json(&plan.to_string()).unwrap();
        let client = ArmClient::new(
            arm.base_url(),
            reqwest::Client::new(),
            Ok(Arc::new(RegistryCredential::new(registry, "bench"))),
        );
        let api = Throttled {
            client,
            arm: arm.clone(),
            every: throttle.then_some(10),
            calls: AtomicU32::new(0),
            throttled: AtomicU32::new(0),
        };
        let now = chrono::Utc::now();
        let options = RunOptions {
            direction: Direction::Failover,
            practice: false,
            force: false,
            first_started_at: now,
            now,
            deadline: tokio::time::Instant::now() + Duration::from_millis(plan.activation.deadline_ms),
        };
        let started = Instant::now();
        let report = run(&plan, &api, &options).await;
        let took = started.elapsed();
        let outcome = serde_json::to_value(report.outcome).unwrap().as_str().unwrap_or("?").to_owned();
        (took, outcome, api.calls.load(Ordering::SeqCst), api.throttled.load(Ordering::SeqCst))
    }
}

/// Times the watchdog's ticks against Azurite; returns the median of (tick - probe) in ms.
mod tick_cost {
    use std::sync::{Arc, Mutex};
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use bcdr_core::alert::Alerter;
    use bcdr_core::plan::Watch;
    use bcdr_core::signature::ActivationRequest;
    use bcdr_core::store::{BlobAuth, BlobStore};
    use bcdr_core::watch::{ActivationOutcome, Observation};
    use watchdog::{ActivationApi, HttpProber, Prober, Watchdog};

    /// The real HTTP prober, timed, so the probe's wait can be taken out of the tick.
    struct Timed(HttpProber, Arc<Mutex<Duration>>);

    #[async_trait]
    impl Prober for Timed {
        async fn observe(&self, watch: &Watch) -> Observation {
            let started = Instant::now();
            let o = self.0.observe(watch).await;
            *self.1.lock().unwrap() = started.elapsed();
            o
        }
    }

    struct NoActivation;

    #[async_trait]
    impl ActivationApi for NoActivation {
        async fn request(&self, _: &ActivationRequest) -> ActivationOutcome {
            ActivationOutcome::Failed { reason: "the bench never activates".into(), retryable: false }
        }
    }

    pub async fn measure(target: &str, ticks: usize) -> (f64, f64) {
        let azurite = super::azurite::Azurite::start();
        let auth =
            BlobAuth::SharedKey { account: super::azurite::ACCOUNT.into(), key_base64: super::azurite::KEY.into() };
        let store = BlobStore::new(&azurite.container_url("bench"), auth).unwrap();
        store.ensure_container().await.unwrap();
        let probe_time = Arc::new(Mutex::new(Duration::ZERO));
        let watch: Watch = serde_json::from_value(serde_json::json!({"name": "bench", "target": target})).unwrap();
        let w = Watchdog {
            watches: vec![watch],
            store: Arc::new(store),
            prober: Arc::new(Timed(HttpProber::new(None), probe_time.clone())),
            activation: Arc::new(NoActivation),
            alerter: Alerter::new(Vec::new(), Duration::from_secs(1)),
            watcher: "bench".into(),
            interval: Duration::from_secs(60),
        };
        let mut costs = Vec::new();
        let mut probes = Vec::new();
        for i in 0..ticks + 5 {
            let started = Instant::now();
            let o = w.tick().await;
            let total = started.elapsed();
            assert!(o[0].error.is_none(), "{}", o[0].summary());
            let probe = *probe_time.lock().unwrap();
            if i >= 5 {
                costs.push((total - probe).as_secs_f64() * 1000.0);
                probes.push(probe.as_secs_f64() * 1000.0);
            }
        }
        costs.sort_by(|a, b| a.partial_cmp(b).unwrap());
        probes.sort_by(|a, b| a.partial_cmp(b).unwrap());
        (costs[costs.len() / 2], probes[probes.len() / 2])
    }
}

struct Args {
    dist: PathBuf,
    release_dir: PathBuf,
    baseline: PathBuf,
    seconds: u64,
}

fn args() -> Args {
    let mut a = Args {
        dist: "dist".into(),
        release_dir: "target/x86_64-unknown-linux-musl/release".into(),
        baseline: "target/release/bare-hyper".into(),
        seconds: 10,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().unwrap_or_else(|| panic!("{flag} needs a value"));
        match flag.as_str() {
            "--dist" => a.dist = value.into(),
            "--release-dir" => a.release_dir = value.into(),
            "--baseline" => a.baseline = value.into(),
            "--seconds" => a.seconds = value.parse().expect("--seconds takes a number"),
            other => panic!("unknown flag {other}"),
        }
    }
    a
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// One raw HTTP/1.1 GET on a fresh connection; the status code, if any answer came.
async fn get_status(port: u16, path: &str) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .ok()?;
    let mut buf = [0u8; 12];
    s.read_exact(&mut buf).await.ok()?;
    std::str::from_utf8(&buf[9..12]).ok()?.parse().ok()
}

async fn wait_ready(port: u16) -> Duration {
    let started = Instant::now();
    while get_status(port, "/").await.is_none() {
        assert!(started.elapsed() < Duration::from_secs(10), "server on {port} never answered");
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    started.elapsed()
}

fn start_handler(binary: &Path, port: u16, plan: &Path) -> Server {
    let child = Command::new(binary)
        .env_clear()
        .env("FUNCTIONS_CUSTOMHANDLER_PORT", port.to_string())
        .env("BCDR_PLAN_FILE", plan)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the handler");
    Server(child)
}

/// wrk's requests per second for `url`.
fn wrk(url: &str, seconds: u64) -> f64 {
    let out = Command::new("wrk")
        .args(["-t1", "-c64", &format!("-d{seconds}s"), url])
        .output()
        .expect("run wrk (make bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("wrk printed no rate:\n{text}"))
}

/// Open-loop load at `rate` requests/s over 64 keep-alive connections; latencies from send to
/// the full answer, in microseconds, sorted.
async fn paced(port: u16, path: &str, rate: f64, seconds: u64) -> Vec<u64> {
    let connections = 64;
    let total = (rate * seconds as f64) as u64;
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let next = next.clone();
        let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes();
        tasks.push(tokio::spawn(async move {
            let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
            s.set_nodelay(true).unwrap();
            let mut latencies = Vec::new();
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let sent = Instant::now();
                s.write_all(&request).await.unwrap();
                read_response(&mut s, &mut buf).await;
                latencies.push(sent.elapsed().as_micros() as u64);
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_unstable();
    all
}

/// Reads one HTTP/1.1 response with a Content-Length body.
async fn read_response(s: &mut tokio::net::TcpStream, buf: &mut [u8]) {
    let mut filled = 0;
    loop {
        let n = s.read(&mut buf[filled..]).await.unwrap();
        assert!(n > 0, "connection closed mid-answer");
        filled += n;
        let text = &buf[..filled];
        if let Some(end) = text.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&text[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if filled >= end + 4 + len {
                return;
            }
        }
    }
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[tokio::main]
async fn main() {
    let a = args();
    let handler = a.release_dir.join("health-check");
    let zip = a.dist.join("health-check.zip");

    // A dependency the health-check checks: always up, so the report is healthy and cached.
    let dependency = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let dep_port = dependency.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = dependency.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf).await;
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 20\r\nConnection: close\r\n\r\n{\"status\":\"healthy\"}").await;
            });
        }
    });
    let dir = std::env::temp_dir().join(format!("bcdr-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let plan = dir.join("plan.json");
    std::fs::write(
        &plan,
        serde_json::json!({
            "version": 1, "name": "bench", "regions": {"primary": "a", "secondary": "b"},
            "health": {"deadlineMs": 2000, "cacheMs": 60000, "checks": [
                {"name": "dependency", "http": {"url": format!("http://127.0.0.1:{dep_port}/")}},
                {"name": "dependency-port", "tcp": {"host": "127.0.0.1", "port": dep_port}}
            ]}
        })
        .to_string(),
    )
    .unwrap();

    // Start time: process spawn to the first answer on GET /.
    let mut starts = Vec::new();
    for _ in 0..20 {
        let port = free_port();
        let spawned = Instant::now();
        let server = start_handler(&handler, port, &plan);
        wait_ready(port).await;
        starts.push(spawned.elapsed().as_secs_f64() * 1000.0);
        drop(server);
    }
    starts.sort_by(|x, y| x.partial_cmp(y).unwrap());
    let start_median = starts[starts.len() / 2];

    // Idle memory: after start and one evaluated request, at rest.
    let port = free_port();
    let server = start_handler(&handler, port, &plan);
    wait_ready(port).await;
    assert_eq!(get_status(port, "/api/health").await, Some(200), "the bench plan must be healthy");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle_rss = rss_kib(server.0.id());

    // Throughput beside the baseline, alternating, best of two rounds each.
    let base_port = free_port();
    let baseline =
        Server(Command::new(&a.baseline).env("PORT", base_port.to_string()).spawn().expect("start bare-hyper"));
    wait_ready(base_port).await;
    let health_url = format!("http://127.0.0.1:{port}/api/health");
    let base_url = format!("http://127.0.0.1:{base_port}/");
    wrk(&health_url, 2);
    wrk(&base_url, 2);
    let (mut health_rps, mut base_rps) = (0f64, 0f64);
    for _ in 0..2 {
        base_rps = base_rps.max(wrk(&base_url, a.seconds));
        health_rps = health_rps.max(wrk(&health_url, a.seconds));
    }
    drop(baseline);

    let rate = health_rps / 2.0;
    let latencies = paced(port, "/api/health", rate, a.seconds).await;
    drop(server);

    // The watchdog's own work per tick (load, step, conditional write, log append) on Azurite.
    let (tick_cost, probe_ms) = tick_cost::measure(&format!("http://127.0.0.1:{dep_port}/api/health"), 100).await;

    let (plain, plain_outcome, plain_calls, _) = activation_time::measure(false).await;
    let (throttled, throttled_outcome, throttled_calls, throttles) = activation_time::measure(true).await;

    let binary_size = std::fs::metadata(&handler).unwrap().len();
    let zip_size = std::fs::metadata(&zip).unwrap().len();
    let ratio = health_rps / base_rps;
    let p50 = percentile(&latencies, 0.50);
    let p99 = percentile(&latencies, 0.99);
    let mark = |ok: bool| if ok { "yes" } else { "NO" };

    println!("| figure | target | measured | met |");
    println!("| --- | --- | --- | --- |");
    println!("| health-check throughput, cached report | >= 0.8x bare hyper | {health_rps:.0} req/s vs {base_rps:.0} req/s = {ratio:.2}x | {} |", mark(ratio >= 0.8));
    println!("| p99 latency at half that load ({rate:.0} req/s, {} requests) | <= 2 ms | p50 {p50:.2} ms, p99 {p99:.2} ms | {} |", latencies.len(), mark(p99 <= 2.0));
    println!("| process start to first answer on GET / (20 starts) | <= 15 ms median | median {start_median:.1} ms (min {:.1}, max {:.1}) | {} |", starts[0], starts[starts.len() - 1], mark(start_median <= 15.0));
    println!(
        "| handler binary, static and stripped | <= 8 MiB | {:.2} MiB | {} |",
        mib(binary_size),
        mark(mib(binary_size) <= 8.0)
    );
    println!(
        "| deploy zip (health-check.zip) | <= 4 MiB | {:.2} MiB | {} |",
        mib(zip_size),
        mark(mib(zip_size) <= 4.0)
    );
    println!(
        "| idle resident memory | <= 15 MiB | {:.1} MiB | {} |",
        idle_rss as f64 / 1024.0,
        mark(idle_rss as f64 / 1024.0 <= 15.0)
    );
    println!(
        "| watchdog tick cost beyond the probe wait, Azurite on loopback (median of 100) | <= 5 ms | {tick_cost:.2} ms (the probe itself {probe_ms:.2} ms) | {} |",
        mark(tick_cost <= 5.0)
    );
    println!(
        "| activation wall time, 20 resources + router, ARM double | (reported) | {:.0} ms, {plain_outcome}, {plain_calls} ARM calls | - |",
        plain.as_secs_f64() * 1000.0
    );
    println!(
        "| the same with every 10th ARM call answered 429 Retry-After: 1 | (reported) | {:.0} ms, {throttled_outcome}, {throttled_calls} ARM calls, {throttles} throttled | - |",
        throttled.as_secs_f64() * 1000.0
    );
    let _ = std::fs::remove_dir_all(&dir);
}
