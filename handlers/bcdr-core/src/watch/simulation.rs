//! A deterministic month of faults: the real [`step`] and [`Observation::from_attempts`] driven by
//! a simulated clock and a seeded generator, against primaries and networks that misbehave in
//! known ways, measuring false activations and detection latency against the promised bound.
//!
//! Each watcher ticks every `interval` (a minute, [`INTERVAL`], unless the model says otherwise).
//! A tick runs the shipped probe schedule ([`attempts`]: up to `probeAttempts` attempts, attempt
//! `i` due at `policy.attempt_slot(i)` and cut off at `policy.attempt_cutoff(i)`, overlapping
//! when the policy spaces them closer than they may take); each attempt is lost on its own with
//! the model's loss rate (a lost attempt waits for its whole cut-off, the worst case). The control
//! probe is tried at the same moments with the same loss. The observation is stepped when the
//! probing ends; when [`confirm_after`] says so, the same watcher probes again that long after the
//! probe began, as the watchdog's tick does. Activations report back 20 to 90 s after they are
//! asked for, and an operator records the failback 10 minutes after `failbackIsManual`.
//!
//! A false activation is a new epoch requested while no real outage is under way (the primary
//! up, or inside a short flap), or a second new epoch for an outage already detected.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt::Write as _;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures::FutureExt;

use super::confirm::confirm_after;
use super::decide::step;
use super::decision::{Action, AlertKind, Severity};
use super::input::{ActivationOutcome, Command, Input};
use super::policy::{Quorum, WatchPolicy};
use super::probe::{attempts, Attempt, Observation, ProbePath};
use super::state::WatchState;

/// How often each simulated watcher ticks, unless a model says otherwise: the default schedule.
pub const INTERVAL: Duration = Duration::from_secs(60);

const SEC: i64 = 1_000;
const MIN: i64 = 60 * SEC;
const HOUR: i64 = 60 * MIN;
const DAY: i64 = 24 * HOUR;

/// What goes wrong in one simulated month.
#[derive(Debug, Clone)]
pub struct FaultModel {
    pub name: &'static str,
    pub policy: WatchPolicy,
    /// How often each watcher ticks (the watchdog's schedule).
    pub interval: Duration,
    /// How many watchers share the watch; they tick `interval / watchers` apart.
    pub watchers: usize,
    /// Chance that one attempt (at the primary or the control endpoint) gets no answer.
    pub loss: f64,
    /// The primary answers healthy but slowly: between half and 1.2 times the attempt timeout.
    pub slow_primary: bool,
    /// The primary fails briefly and often: unhealthy for 5 s up to the policy's
    /// [`WatchPolicy::tolerated_down`] (long enough to fail N - 1 probes in a row), healthy for 1
    /// to 10 minutes in between.
    pub flapping: bool,
    /// Each watcher's own network goes away now and then (2 minutes to 3 hours).
    pub watcher_outages: bool,
    /// Real outages (20 minutes to 4 hours, 8 to 48 hours apart) that must be detected.
    pub real_outages: bool,
    /// Chance that an activation call fails (retryably).
    pub activation_failure: f64,
}

/// What one model's month came to.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelReport {
    pub model: String,
    pub interval: Duration,
    pub watchers: usize,
    pub days: u32,
    pub observations: u64,
    /// Observations that counted as down (for the fault models without outages, every one of
    /// them was wrong or a flap too short to matter).
    pub downs: u64,
    pub inconclusive: u64,
    pub outages: usize,
    pub detected: usize,
    pub within_bound: usize,
    /// Detection latencies (outage start to the request for a new epoch), sorted.
    pub latencies: Vec<Duration>,
    pub bound: Duration,
    pub false_activations: usize,
    /// First sendings of warning and critical alerts (reminders not counted).
    pub alerts: usize,
}

impl ModelReport {
    pub fn latency_min(&self) -> Option<Duration> {
        self.latencies.first().copied()
    }

    pub fn latency_median(&self) -> Option<Duration> {
        self.latencies.get(self.latencies.len() / 2).copied()
    }

    /// The 95th percentile (nearest rank).
    pub fn latency_p95(&self) -> Option<Duration> {
        percentile(&self.latencies, 95)
    }

    pub fn latency_max(&self) -> Option<Duration> {
        self.latencies.last().copied()
    }

    /// The figures the bundle promises: no false activation, every outage detected in the bound.
    pub fn meets_targets(&self) -> bool {
        self.false_activations == 0 && self.detected == self.outages && self.within_bound == self.outages
    }
}

/// The models the bundle's figures are measured on, for `policy` with a watchdog that ticks every
/// `interval`; the quorum model runs three watchers, two of which must agree.
pub fn models(policy: &WatchPolicy, interval: Duration) -> Vec<FaultModel> {
    let base = FaultModel {
        name: "",
        policy: policy.clone(),
        interval,
        watchers: 1,
        loss: 0.0,
        slow_primary: false,
        flapping: false,
        watcher_outages: false,
        real_outages: false,
        activation_failure: 0.0,
    };
    vec![
        FaultModel { name: "probe loss 10%", loss: 0.10, ..base.clone() },
        FaultModel { name: "probe loss 30%", loss: 0.30, ..base.clone() },
        FaultModel { name: "watcher network outages", watcher_outages: true, ..base.clone() },
        FaultModel { name: "flapping primary", flapping: true, ..base.clone() },
        FaultModel { name: "slow primary near the timeout", slow_primary: true, ..base.clone() },
        FaultModel { name: "real outages", real_outages: true, activation_failure: 0.2, ..base.clone() },
        FaultModel {
            name: "real outages + 10% loss",
            real_outages: true,
            loss: 0.10,
            activation_failure: 0.2,
            ..base.clone()
        },
        FaultModel {
            name: "real outages, 3 watchers, quorum 2 of 3, 10% loss",
            policy: WatchPolicy {
                quorum: Quorum { required: 2, watchers: 3, ..policy.quorum.clone() },
                ..policy.clone()
            },
            watchers: 3,
            real_outages: true,
            loss: 0.10,
            activation_failure: 0.2,
            ..base
        },
    ]
}

/// Every model for 30 simulated days, with the default policy and schedule.
pub fn run_all(seed: u64) -> Vec<ModelReport> {
    run_all_for(&WatchPolicy::default(), INTERVAL, seed, 30)
}

pub fn run_all_for(policy: &WatchPolicy, interval: Duration, seed: u64, days: u32) -> Vec<ModelReport> {
    models(policy, interval)
        .iter()
        .enumerate()
        .map(|(i, m)| run_model(m, seed ^ (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15), days))
        .collect()
}

fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

/// What one policy came to over every model and seed: the detection latencies of every real
/// outage (all models with outages, pooled), and the false activations of all models.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicySummary {
    pub name: String,
    pub policy: WatchPolicy,
    pub interval: Duration,
    pub months: u32,
    pub outages: usize,
    pub detected: usize,
    pub within_bound: usize,
    /// Sorted.
    pub latencies: Vec<Duration>,
    pub bound: Duration,
    pub false_activations: usize,
    /// Every model of every run met its targets.
    pub safe: bool,
}

impl PolicySummary {
    pub fn min(&self) -> Option<Duration> {
        self.latencies.first().copied()
    }

    pub fn median(&self) -> Option<Duration> {
        percentile(&self.latencies, 50)
    }

    pub fn p95(&self) -> Option<Duration> {
        percentile(&self.latencies, 95)
    }

    pub fn max(&self) -> Option<Duration> {
        self.latencies.last().copied()
    }
}

/// Runs every model for `policy` at `interval`, once per seed, `days` each, and pools the results.
pub fn summarize(name: &str, policy: &WatchPolicy, interval: Duration, seeds: &[u64], days: u32) -> PolicySummary {
    let mut summary = PolicySummary {
        name: name.to_owned(),
        policy: policy.clone(),
        interval,
        months: 0,
        outages: 0,
        detected: 0,
        within_bound: 0,
        latencies: Vec::new(),
        bound: policy.detection_bound(interval),
        false_activations: 0,
        safe: true,
    };
    for &seed in seeds {
        summary.months += 1;
        for r in run_all_for(policy, interval, seed, days) {
            summary.outages += r.outages;
            summary.detected += r.detected;
            summary.within_bound += r.within_bound;
            summary.latencies.extend(r.latencies.iter().copied());
            summary.false_activations += r.false_activations;
            summary.safe &= r.meets_targets();
        }
    }
    summary.latencies.sort();
    summary
}

/// The policies the search for the fastest safe one tries: the default's probe (five attempts,
/// 6 s each, within 8 s) with N = 3, on schedules of one minute, 30 s and 20 s (sub-minute
/// schedules cost more executions; see the README), counting one observation a tick or with
/// confirmations 8 or 10 s apart where those fit in the interval.
pub fn candidates() -> Vec<(WatchPolicy, Duration)> {
    let mut out = Vec::new();
    for interval in [60, 30, 20].map(Duration::from_secs) {
        for confirm in [0, 8_000, 10_000] {
            let policy = WatchPolicy { confirm_every_ms: confirm, ..WatchPolicy::default() };
            if confirm == 0 || policy.confirmations(interval) > 0 {
                out.push((policy, interval));
            }
        }
    }
    out
}

/// The fastest candidate (by median, then maximum) that is safe over every model and seed.
pub fn fastest_safe(seeds: &[u64], days: u32) -> Option<PolicySummary> {
    candidates()
        .iter()
        .map(|(policy, interval)| summarize("fastest safe", policy, *interval, seeds, days))
        .filter(|s| s.safe && s.false_activations == 0 && !s.latencies.is_empty())
        .min_by_key(|s| (s.median(), s.max()))
}

/// The reports as a markdown table.
pub fn markdown(reports: &[ModelReport]) -> String {
    let secs = |d: Option<Duration>| d.map_or("-".to_owned(), |d| format!("{:.1}", d.as_secs_f64()));
    let mut out = String::from(
        "| model | watchers | days | observations | down | inconclusive | outages | detected (in bound) | detection min / median / p95 / max (s) | bound (s) | false activations | alerts |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in reports {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} ({}) | {} / {} / {} / {} | {} | {} | {} |",
            r.model,
            r.watchers,
            r.days,
            r.observations,
            r.downs,
            r.inconclusive,
            r.outages,
            r.detected,
            r.within_bound,
            secs(r.latency_min()),
            secs(r.latency_median()),
            secs(r.latency_p95()),
            secs(r.latency_max()),
            r.bound.as_secs(),
            r.false_activations,
            r.alerts
        );
    }
    out
}

/// SplitMix64: small, fast and fully determined by its seed, which is all a simulation needs.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// Uniform in `lo..hi` (milliseconds).
    fn between(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next() % (hi - lo).max(1) as u64) as i64
    }
}

#[derive(Debug, Clone, Copy)]
enum OutageKind {
    /// Requests hang until cut off.
    Hang,
    /// Connections are refused at once.
    Refused,
    /// The health-check answers that the primary is unhealthy.
    Unhealthy,
}

#[derive(Debug, Clone)]
struct Outage {
    start: i64,
    end: i64,
    kind: OutageKind,
    detected_at: Option<i64>,
}

/// The ground truth of one month, in milliseconds from its start.
struct World {
    loss: f64,
    slow_primary: bool,
    attempt_timeout: i64,
    outages: Vec<Outage>,
    /// Short flaps: the primary answers unhealthy.
    flaps: Vec<(i64, i64)>,
    /// Per watcher: when its own network is gone.
    blind: Vec<Vec<(i64, i64)>>,
}

enum Primary {
    Up,
    Down(OutageKind),
}

fn within(spans: &[(i64, i64)], t: i64) -> bool {
    // Spans are sorted and disjoint.
    let i = spans.partition_point(|&(_, end)| end <= t);
    spans.get(i).is_some_and(|&(start, _)| start <= t)
}

impl World {
    fn outage_at(&self, t: i64) -> Option<usize> {
        let i = self.outages.partition_point(|o| o.end <= t);
        self.outages.get(i).filter(|o| o.start <= t).map(|_| i)
    }

    fn primary(&self, t: i64) -> Primary {
        if let Some(i) = self.outage_at(t) {
            return Primary::Down(self.outages[i].kind);
        }
        if within(&self.flaps, t) {
            return Primary::Down(OutageKind::Unhealthy);
        }
        Primary::Up
    }

    /// One attempt from watcher `w` starting at `t`, cut off after `budget`: the answer and how
    /// long it took.
    fn attempt(&self, w: usize, t: i64, budget: i64, rng: &mut Rng) -> (Attempt, i64) {
        let timeout = || (Attempt::NoAnswer { reason: "timeout".into() }, budget);
        if within(&self.blind[w], t) || rng.chance(self.loss) {
            return timeout();
        }
        match self.primary(t) {
            Primary::Down(OutageKind::Hang) => timeout(),
            Primary::Down(OutageKind::Refused) => {
                (Attempt::NoAnswer { reason: "connection refused".into() }, 50.min(budget))
            }
            Primary::Down(OutageKind::Unhealthy) => {
                let took = rng.between(100, 5 * SEC);
                if took >= budget {
                    return timeout();
                }
                (Attempt::Unhealthy { reason: "critical check failed".into() }, took)
            }
            Primary::Up => {
                let took = if self.slow_primary {
                    self.attempt_timeout / 2 + rng.between(0, self.attempt_timeout * 7 / 10)
                } else {
                    rng.between(20, 300)
                };
                if took >= budget {
                    return timeout();
                }
                (Attempt::Healthy { latency_ms: took as u64 }, took)
            }
        }
    }

    fn control_reachable(&self, w: usize, t: i64, rng: &mut Rng) -> bool {
        !within(&self.blind[w], t) && !rng.chance(self.loss)
    }

    /// One tick's observation by watcher `w` starting at `t0`, and when it ends: the shipped
    /// probe schedule ([`attempts`]) run against this world on the simulated clock.
    fn observe(&self, w: usize, t0: i64, policy: &WatchPolicy, rng: &mut Rng) -> (Observation, i64) {
        let mut path =
            SimulatedPath { world: self, watcher: w, t0, t: t0, rng, starts: Vec::new(), running: Vec::new() };
        let attempts = attempts(policy, &mut path)
            .now_or_never()
            .expect("the simulated network answers without waiting on a real clock");
        let SimulatedPath { t, starts, rng, .. } = path;
        let all_lost = attempts.iter().all(Attempt::retry);
        // The control probe runs beside the attempts, one try at each attempt's start.
        let control = !all_lost || starts.iter().any(|&s| self.control_reachable(w, s, rng));
        (Observation::from_attempts(&attempts, control), t.max(t0 + 1))
    }
}

/// One watcher's probe through the simulated world: an attempt's answer, and when it comes, are
/// decided as it starts (from the world at that moment), and time passes only on the simulated
/// clock.
struct SimulatedPath<'a> {
    world: &'a World,
    watcher: usize,
    t0: i64,
    t: i64,
    rng: &'a mut Rng,
    starts: Vec<i64>,
    /// Attempts started and not yet answered: when each ends, and its answer.
    running: Vec<(i64, Attempt)>,
}

impl ProbePath for SimulatedPath<'_> {
    fn elapsed(&self) -> Duration {
        Duration::from_millis((self.t - self.t0) as u64)
    }

    fn start(&mut self, budget: Duration) {
        self.starts.push(self.t);
        let (attempt, took) = self.world.attempt(self.watcher, self.t, budget.as_millis() as i64, self.rng);
        self.running.push((self.t + took, attempt));
    }

    async fn next(&mut self, until: Option<Duration>) -> Option<Attempt> {
        let until = until.map(|u| self.t0 + u.as_millis() as i64);
        // The first to end; among equals, the first started.
        let first = (0..self.running.len()).min_by_key(|&i| self.running[i].0);
        match first {
            Some(i) if until.is_none_or(|u| self.running[i].0 <= u) => {
                let (end, attempt) = self.running.remove(i);
                self.t = self.t.max(end);
                Some(attempt)
            }
            _ => {
                self.t = self.t.max(until.unwrap_or(self.t));
                None
            }
        }
    }
}

fn spans(rng: &mut Rng, horizon: i64, gap: (i64, i64), length: (i64, i64)) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut t = rng.between(gap.0, gap.1);
    while t < horizon {
        let end = t + rng.between(length.0, length.1);
        out.push((t, end));
        t = end + rng.between(gap.0, gap.1);
    }
    out
}

enum Event {
    /// A timer tick of a watcher: it probes, and the next tick is due an interval later.
    Tick(usize),
    /// A confirmation probe within the same invocation.
    Confirm(usize),
    /// A probe's observation, stepped when the probing ends; with the probe's start.
    Observe(usize, Observation, i64),
    Result(usize, u64, ActivationOutcome),
    Failback,
}

/// One model for `days` simulated days.
pub fn run_model(model: &FaultModel, seed: u64, days: u32) -> ModelReport {
    let mut rng = Rng(seed);
    let horizon = i64::from(days) * DAY;
    let policy = &model.policy;
    let interval = model.interval.as_millis() as i64;
    let n_watchers = model.watchers.max(1);

    let mut outages = Vec::new();
    if model.real_outages {
        let mut t = rng.between(2 * HOUR, 30 * HOUR);
        while t + 5 * HOUR < horizon {
            let end = t + rng.between(20 * MIN, 4 * HOUR);
            let kind = [OutageKind::Hang, OutageKind::Refused, OutageKind::Unhealthy][rng.between(0, 3) as usize];
            outages.push(Outage { start: t, end, kind, detected_at: None });
            t = end + rng.between(8 * HOUR, 48 * HOUR);
        }
    }
    let flap_max = policy.tolerated_down(model.interval).as_millis() as i64;
    let flap_min = (5 * SEC).min(flap_max / 2);
    let flaps =
        if model.flapping { spans(&mut rng, horizon, (MIN, 10 * MIN), (flap_min, flap_max)) } else { Vec::new() };
    let blind = (0..n_watchers)
        .map(|_| {
            if model.watcher_outages {
                spans(&mut rng, horizon, (2 * HOUR, 24 * HOUR), (2 * MIN, 3 * HOUR))
            } else {
                Vec::new()
            }
        })
        .collect();
    let mut world = World {
        loss: model.loss,
        slow_primary: model.slow_primary,
        attempt_timeout: policy.attempt_timeout().as_millis() as i64,
        outages,
        flaps,
        blind,
    };

    let base: DateTime<Utc> = DateTime::from_timestamp(1_704_067_200, 0).expect("2024-01-01 is a valid time");
    let at = |t: i64| base + TimeDelta::milliseconds(t);
    let mut report = ModelReport {
        model: model.name.to_owned(),
        interval: model.interval,
        watchers: n_watchers,
        days,
        observations: 0,
        downs: 0,
        inconclusive: 0,
        outages: world.outages.len(),
        detected: 0,
        within_bound: 0,
        latencies: Vec::new(),
        bound: policy.detection_bound(model.interval),
        false_activations: 0,
        alerts: 0,
    };

    // Events run in time order; the sequence number keeps ties in the order they were queued.
    let mut queue: BinaryHeap<Reverse<(i64, u64, usize)>> = BinaryHeap::new();
    let mut events: Vec<Option<Event>> = Vec::new();
    let push = |queue: &mut BinaryHeap<_>, events: &mut Vec<Option<Event>>, t: i64, e: Event| {
        let id = events.len();
        events.push(Some(e));
        queue.push(Reverse((t, id as u64, id)));
    };
    for w in 0..n_watchers {
        push(&mut queue, &mut events, interval * w as i64 / n_watchers as i64, Event::Tick(w));
    }

    let mut state = WatchState::default();
    let mut newest_epoch = 0;
    let mut probe_started: Option<i64> = None;
    while let Some(Reverse((t, _, id))) = queue.pop() {
        if t >= horizon {
            break;
        }
        let event = events[id].take().expect("each event runs once");
        let watcher;
        let input: Input = match event {
            Event::Tick(w) | Event::Confirm(w) => {
                let (obs, end) = world.observe(w, t, policy, &mut rng);
                push(&mut queue, &mut events, end, Event::Observe(w, obs, t));
                if matches!(event, Event::Tick(_)) {
                    push(&mut queue, &mut events, t + interval, Event::Tick(w));
                }
                continue;
            }
            Event::Observe(w, obs, started) => {
                probe_started = Some(started);
                report.observations += 1;
                match obs {
                    Observation::Down { .. } => report.downs += 1,
                    Observation::Inconclusive { .. } => report.inconclusive += 1,
                    Observation::Up { .. } => {}
                }
                watcher = w;
                obs.into()
            }
            Event::Result(w, epoch, outcome) => {
                watcher = w;
                Command::ActivationResult { epoch, outcome }.into()
            }
            Event::Failback => {
                watcher = 0;
                Command::Failback { by: "operator".into() }.into()
            }
        };
        let name = format!("w{}", watcher + 1);
        let next = step(&state, input, &name, policy, at(t));
        if let Some(started) = probe_started.take() {
            // The watchdog's tick asks the same question after each observation it steps.
            if let Some(after) = confirm_after(&next.state, &name, policy, model.interval) {
                let due = (started + after.as_millis() as i64).max(t);
                push(&mut queue, &mut events, due, Event::Confirm(watcher));
            }
        }
        for action in next.actions() {
            match action {
                Action::RequestActivation { epoch, .. } => {
                    if *epoch > newest_epoch {
                        newest_epoch = *epoch;
                        match world.outage_at(t) {
                            Some(i) if world.outages[i].detected_at.is_none() => {
                                let o = &mut world.outages[i];
                                o.detected_at = Some(t);
                                let latency = Duration::from_millis((t - o.start) as u64);
                                report.detected += 1;
                                if latency <= report.bound {
                                    report.within_bound += 1;
                                }
                                report.latencies.push(latency);
                            }
                            _ => report.false_activations += 1,
                        }
                    }
                    let outcome = if rng.chance(model.activation_failure) {
                        ActivationOutcome::Failed { reason: "ARM answered 503".into(), retryable: true }
                    } else {
                        ActivationOutcome::Succeeded
                    };
                    push(
                        &mut queue,
                        &mut events,
                        t + rng.between(20 * SEC, 90 * SEC),
                        Event::Result(watcher, *epoch, outcome),
                    );
                }
                Action::Alert(a) => {
                    if !a.reminder && a.severity >= Severity::Warning {
                        report.alerts += 1;
                    }
                    if !a.reminder && a.kind == AlertKind::FailbackIsManual {
                        push(&mut queue, &mut events, t + 10 * MIN, Event::Failback);
                    }
                }
            }
        }
        state = next.state;
    }
    report.latencies.sort();
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    fn default_run(seed: u64, days: u32) -> Vec<ModelReport> {
        run_all_for(&WatchPolicy::default(), INTERVAL, seed, days)
    }

    #[test]
    fn watch_simulation_has_no_false_activation_and_detects_in_bound() {
        let reports = default_run(7, 4);
        let table = markdown(&reports);
        for r in &reports {
            assert!(r.meets_targets(), "{} misses its targets:\n{table}", r.model);
        }
        let detected: usize = reports.iter().map(|r| r.detected).sum();
        assert!(detected >= 3, "the short run should still contain outages:\n{table}");
        // The faults happened: the probes saw downs and blind spells, and flaps were confirmed
        // (more downs than probes that started a confirmation would give on their own).
        let by_name = |name: &str| reports.iter().find(|r| r.model == name).unwrap();
        assert!(by_name("flapping primary").downs > 100, "{table}");
        assert!(by_name("watcher network outages").inconclusive > 0, "{table}");
        // The same seed gives the same month.
        assert_eq!(default_run(7, 1), default_run(7, 1));
    }

    #[test]
    fn watch_simulation_confirms_within_the_invocation() {
        // With confirmations every outage is detected within one interval plus the
        // confirmations (the bound), and faster than counting one observation per tick.
        let confirming = summarize("default", &WatchPolicy::default(), INTERVAL, &[3], 4);
        let per_tick = WatchPolicy { confirm_every_ms: 0, ..WatchPolicy::default() };
        let ticking = summarize("per tick", &per_tick, INTERVAL, &[3], 4);
        assert!(confirming.safe && ticking.safe, "{confirming:?}\n{ticking:?}");
        assert_eq!(confirming.outages, ticking.outages);
        assert!(confirming.outages > 0);
        assert_eq!(confirming.within_bound, confirming.outages);
        assert!(confirming.bound < ticking.bound);
        // Counting outcomes, not timing anything: every confirmed detection beats the fastest
        // a per-tick count can be (N - 1 whole intervals).
        let per_tick_floor = INTERVAL * (per_tick.failure_threshold - 1);
        assert!(confirming.max() < Some(per_tick_floor), "{confirming:?}");
        assert!(ticking.min() >= Some(per_tick_floor), "{ticking:?}");
    }

    /// The full month, for a look at the table: `cargo test -p bcdr-core --lib watch_simulation_month -- --ignored --nocapture`.
    #[test]
    #[ignore = "a full simulated month; the bench binary prints the same table"]
    fn watch_simulation_month() {
        let reports = run_all(1);
        println!("{}", markdown(&reports));
        assert!(reports.iter().all(ModelReport::meets_targets));
    }
}
