//! `make bench`: the watchdog's fault simulation. A simulated month per fault model runs through
//! the real decision core and the shipped probe schedule; the first table shows false activations
//! and detection latency against the promised bound for the default policy. The second compares
//! detection of the default policy, a conservative one (the previous default: one observation a
//! tick, a 30 s probe) and the fastest safe one the search finds, over three simulated months
//! each, with the figures that Traffic Manager's and Route 53's documented probing gives at their
//! defaults and fastest settings. The exit code says whether the default met its targets.

use std::time::Duration;

use bcdr_core::watch::simulation::{fastest_safe, markdown, run_all, summarize, PolicySummary, INTERVAL};
use bcdr_core::watch::WatchPolicy;

/// Months (seeds) each policy of the comparison runs.
const SEEDS: [u64; 3] = [1, 2, 3];
const DAYS: u32 = 30;

fn main() {
    let Ok(seed) = std::env::args().nth(1).map_or(Ok(1), |s| s.parse::<u64>()) else {
        eprintln!("usage: simulate [seed]");
        std::process::exit(2);
    };
    let p = WatchPolicy::default();
    println!(
        "watchdog fault simulation, seed {seed}: interval {} s, default policy (N = {}, M = {}, {} attempts of {} ms within {} ms, confirmations every {} ms)\n",
        INTERVAL.as_secs(),
        p.failure_threshold,
        p.success_threshold,
        p.probe_attempts,
        p.attempt_timeout().as_millis(),
        p.probe_timeout_ms,
        p.confirm_every_ms
    );
    let reports = run_all(seed);
    print!("{}", markdown(&reports));

    println!("\nDetection compared: outage start to activation request, every real outage of {} simulated months per policy (seeds {SEEDS:?}), and the documented probing of Traffic Manager and Route 53\n", SEEDS.len());
    let conservative =
        WatchPolicy { probe_timeout_ms: 30_000, probe_attempts: 5, confirm_every_ms: 0, ..WatchPolicy::default() };
    let mut rows = vec![
        summarize("bcdr default", &WatchPolicy::default(), INTERVAL, &SEEDS, DAYS),
        summarize("bcdr conservative (previous default)", &conservative, INTERVAL, &SEEDS, DAYS),
    ];
    match fastest_safe(&SEEDS, DAYS) {
        Some(fastest) => rows.push(fastest),
        None => eprintln!("no candidate policy was safe in every model"),
    }
    println!("| policy | schedule | probe | outages | detection min / median / p95 / max (s) | bound (s) | false activations (all models) |");
    println!("| --- | --- | --- | ---: | ---: | ---: | ---: |");
    for r in &rows {
        println!("{}", summary_row(r));
    }
    for r in references() {
        println!(
            "| {} | {} | {} | formula | {} | {:.0} | - |",
            r.name,
            r.schedule,
            r.probe,
            quartet(&r.latencies),
            r.latencies.last().copied().unwrap_or_default().ceil()
        );
    }
    let default = &rows[0];
    let ok = reports.iter().all(|r| r.meets_targets())
        && default.safe
        && default.median() <= Some(Duration::from_secs(60))
        && default.max() <= Some(Duration::from_secs(90));
    if !ok {
        eprintln!("the default policy misses its targets (no false activation, every outage in the bound, median <= 60 s, max <= 90 s)");
        std::process::exit(1);
    }
}

fn secs(d: Option<Duration>) -> String {
    d.map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64()))
}

fn summary_row(r: &PolicySummary) -> String {
    let p = &r.policy;
    let confirm = match p.confirmations(r.interval) {
        0 => "no confirmation".to_owned(),
        _ => format!("confirm every {} s", p.confirm_spacing().as_secs_f64()),
    };
    format!(
        "| {} | every {} s, N = {}, {confirm} | {} x {} s within {} s | {} | {} / {} / {} / {} | {} | {} |",
        r.name,
        r.interval.as_secs(),
        p.failure_threshold,
        p.probe_attempts,
        p.attempt_timeout().as_secs_f64(),
        p.probe_timeout().as_secs_f64(),
        r.outages,
        secs(r.min()),
        secs(r.median()),
        secs(r.p95()),
        secs(r.max()),
        r.bound.as_secs(),
        r.false_activations
    )
}

/// One reference monitor's detection figures from its documented formula.
struct Reference {
    name: &'static str,
    schedule: String,
    probe: String,
    /// Sorted, in seconds.
    latencies: Vec<f64>,
}

fn quartet(sorted: &[f64]) -> String {
    let at = |p: usize| sorted[((sorted.len() * p).div_ceil(100)).max(1) - 1];
    format!("{:.1} / {:.1} / {:.1} / {:.1}", sorted[0], at(50), at(95), sorted[sorted.len() - 1])
}

/// The outage kinds of the simulation, each a third of the outages: a hang (each failed probe
/// takes the whole timeout), a refusal and an unhealthy answer (each fails at once).
fn failure_times(timeout: f64) -> [f64; 3] {
    [timeout, 0.0, 0.0]
}

/// Traffic Manager (learn.microsoft.com, "Traffic Manager endpoint monitoring"): a probing agent
/// checks every `interval` (30 s, or 10 s fast probing), a check fails on no answer within
/// `timeout` (10 s at 30 s probing, 9 s at 10 s; 5 s at least), and after `tolerated` failures
/// (default 3) the next failed check marks the endpoint Degraded. The outage starts at a uniform
/// point between two checks: detection = wait for the next check + tolerated x interval + the
/// failed check's own time. DNS resolvers then keep the old answer for up to the profile's TTL.
fn traffic_manager(name: &'static str, interval: f64, timeout: f64, tolerated: u32) -> Reference {
    let mut latencies = Vec::new();
    for step in 0..1000 {
        let wait = interval * f64::from(step) / 1000.0;
        for fail in failure_times(timeout) {
            latencies.push(wait + f64::from(tolerated) * interval + fail);
        }
    }
    latencies.sort_by(f64::total_cmp);
    Reference {
        name,
        schedule: format!("every {interval} s, {}", failures(tolerated + 1)),
        probe: format!("timeout {timeout} s"),
        latencies,
    }
}

/// Route 53 (docs.aws.amazon.com, "How Amazon Route 53 determines whether a health check is
/// healthy"): each health checker sends a request `interval` (30 s, or 10 s fast) after it got
/// the previous answer, an HTTP check fails without a connection within 4 s and a status within
/// 2 s after (so up to 6 s), a checker calls the endpoint unhealthy after `threshold` (default 3)
/// failures in a row, and the endpoint is unhealthy once 18% of checkers or fewer call it healthy.
/// Checkers do not coordinate, so their phases spread over a period; with many of them the 82nd
/// percentile of the time to their first failed check is 0.82 of a period. Detection =
/// 0.82 x period + (threshold - 1) x period + the failed check's own time, where period =
/// interval + the time a failed check takes.
fn route53(name: &'static str, interval: f64, threshold: u32) -> Reference {
    let mut latencies: Vec<f64> = failure_times(6.0)
        .iter()
        .map(|&fail| {
            let period = interval + fail;
            0.82 * period + f64::from(threshold - 1) * period + fail
        })
        .collect();
    latencies.sort_by(f64::total_cmp);
    Reference { name, schedule: format!("every {interval} s, {}", failures(threshold)), probe: "6 s".into(), latencies }
}

fn failures(n: u32) -> String {
    if n == 1 {
        "1 failure".to_owned()
    } else {
        format!("{n} failures in a row")
    }
}

fn references() -> Vec<Reference> {
    vec![
        traffic_manager("Traffic Manager, defaults", 30.0, 10.0, 3),
        traffic_manager("Traffic Manager, fast probing", 10.0, 5.0, 3),
        traffic_manager("Traffic Manager, fastest (no failure tolerated)", 10.0, 5.0, 0),
        route53("Route 53, defaults", 30.0, 3),
        route53("Route 53, fast interval", 10.0, 3),
        route53("Route 53, fastest (threshold 1)", 10.0, 1),
    ]
}
