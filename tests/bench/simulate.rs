//! `make bench`: the watchdog's fault simulation. A simulated month per fault model runs through
//! the real decision core; the table shows false activations and detection latency against the
//! promised bound, and the exit code says whether the targets were met.

use bcdr_core::watch::simulation::{markdown, run_all, INTERVAL};
use bcdr_core::watch::WatchPolicy;

fn main() {
    let Ok(seed) = std::env::args().nth(1).map_or(Ok(1), |s| s.parse::<u64>()) else {
        eprintln!("usage: simulate [seed]");
        std::process::exit(2);
    };
    let p = WatchPolicy::default();
    println!(
        "watchdog fault simulation, seed {seed}: interval {} s, default policy (N = {}, M = {}, {} attempts in {} ms)\n",
        INTERVAL.as_secs(), p.failure_threshold, p.success_threshold, p.probe_attempts, p.probe_timeout_ms
    );
    let reports = run_all(seed);
    print!("{}", markdown(&reports));
    if let Some(r) = reports.iter().find(|r| !r.meets_targets()) {
        eprintln!("{}: misses the targets (no false activation, every outage detected in the bound)", r.model);
        std::process::exit(1);
    }
}
