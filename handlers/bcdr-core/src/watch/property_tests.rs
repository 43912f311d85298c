//! Property tests for the arithmetic of the rules: thresholds, quorum with expiring votes,
//! hold-down, and at most one new epoch per outage under any interleaving of watchers.

use chrono::{DateTime, TimeDelta, Utc};
use proptest::prelude::*;

use super::*;

fn start() -> DateTime<Utc> {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

fn obs(kind: u8) -> Observation {
    match kind % 3 {
        0 => Observation::Up { latency_ms: 10 },
        1 => Observation::Down { reason: "timeout".into() },
        _ => Observation::Inconclusive { reason: "control probe failed".into() },
    }
}

/// A new epoch asked for in this step, if any.
fn new_epoch(before: &WatchState, step: &Step) -> Option<u64> {
    step.activation_request().filter(|&e| e > before.epoch)
}

/// What must hold after every step, whatever the input.
fn invariants(before: &WatchState, step: &Step) {
    let (s, d) = (&step.state, &step.decision);
    assert_eq!(d.from, before.phase);
    assert_eq!(d.to, s.phase);
    assert_eq!(d.epoch, s.epoch);
    assert!(s.epoch >= before.epoch, "the epoch never goes back");
    assert!(s.history.len() <= HISTORY_LEN);
    assert!(!d.note.is_empty());
    if s.phase == Phase::Activating {
        assert_eq!(s.activation.as_ref().map(|a| a.epoch), Some(s.epoch));
    }
    for e in d.actions.iter().filter_map(|a| match a {
        Action::RequestActivation { epoch, .. } => Some(*epoch),
        _ => None,
    }) {
        assert_eq!(e, s.epoch, "only the current epoch is ever asked for");
        assert!(e <= before.epoch + 1, "at most one new epoch per step");
    }
}

/// Per-watcher model of the counting rules, written independently of the state machine.
#[derive(Default, Clone)]
struct Counter {
    downs: u32,
    ups: u32,
    last_seen: Option<DateTime<Utc>>,
    last_down: Option<DateTime<Utc>>,
}

impl Counter {
    fn see(&mut self, o: &Observation, now: DateTime<Utc>, ttl: TimeDelta) {
        if self.last_seen.is_some_and(|t| now - t >= ttl) {
            self.downs = 0;
            self.ups = 0;
        }
        self.last_seen = Some(now);
        match o {
            Observation::Up { .. } => {
                self.downs = 0;
                self.ups += 1;
            }
            Observation::Down { .. } => {
                self.ups = 0;
                self.downs += 1;
                self.last_down = Some(now);
            }
            Observation::Inconclusive { .. } => {}
        }
    }

    fn votes(&self, n: u32, now: DateTime<Utc>, ttl: TimeDelta) -> bool {
        self.downs >= n && self.last_down.is_some_and(|t| now - t < ttl)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// One watcher, quorum 1: the first request comes exactly at the step where the run of
    /// counted downs (inconclusive skipped) first reaches N, never earlier.
    #[test]
    fn watch_threshold_is_exact(
        n in 1u32..6,
        m in 1u32..4,
        events in prop::collection::vec((1i64..120, 0u8..3), 1..80),
    ) {
        let policy =
            WatchPolicy { failure_threshold: n, success_threshold: m, ..WatchPolicy::default() };
        let ttl = TimeDelta::milliseconds(policy.quorum.vote_ttl_ms as i64);
        let (mut state, mut now, mut model) = (WatchState::default(), start(), Counter::default());
        for (dt, kind) in events {
            now += TimeDelta::seconds(dt);
            let o = obs(kind);
            model.see(&o, now, ttl);
            let step = step(&state, o.clone().into(), "w1", &policy, now);
            invariants(&state, &step);
            let requested = new_epoch(&state, &step).is_some();
            if state.epoch == 0 {
                prop_assert_eq!(requested, o.is_down() && model.downs >= n, "downs {} of {}", model.downs, n);
            } else {
                prop_assert!(!requested, "a second epoch without a failback");
            }
            state = step.state;
        }
    }

    /// Three watchers, quorum k of 3, votes expiring: before the first activation, a request
    /// happens exactly when a watcher reports a down that keeps its own run at N or more and at
    /// least k watchers hold unexpired votes.
    #[test]
    fn watch_quorum_counts_only_live_votes(
        n in 1u32..4,
        k in 1u32..4,
        ttl_min in 2i64..12,
        events in prop::collection::vec((1i64..400, 0usize..3, 0u8..5), 1..120),
    ) {
        let mut policy = WatchPolicy { failure_threshold: n, ..WatchPolicy::default() };
        policy.quorum = Quorum { required: k, watchers: 3, vote_ttl_ms: ttl_min as u64 * 60_000 };
        let ttl = TimeDelta::minutes(ttl_min);
        let mut models = vec![Counter::default(); 3];
        let (mut state, mut now) = (WatchState::default(), start());
        for (dt, w, kind) in events {
            now += TimeDelta::seconds(dt);
            // Downs weighted up, so quorums are actually reached.
            let o = if kind >= 3 { obs(1) } else { obs(kind) };
            models[w].see(&o, now, ttl);
            let step = step(&state, o.clone().into(), &format!("w{w}"), &policy, now);
            invariants(&state, &step);
            let live = models.iter().filter(|c| c.votes(n, now, ttl)).count();
            let requested = new_epoch(&state, &step).is_some();
            if state.epoch == 0 {
                let expected = o.is_down() && models[w].downs >= n && live >= k as usize;
                prop_assert_eq!(requested, expected, "live votes {} of {}", live, k);
                if !requested {
                    prop_assert_eq!(step.state.live_votes(&policy, now), live);
                }
            } else {
                prop_assert!(!requested);
            }
            state = step.state;
        }
    }

    /// Whatever the failbacks and results, two requests for distinct epochs are at least the
    /// hold-down apart (operators' forced activations aside).
    #[test]
    fn watch_hold_down_separates_activations(
        hold_min in 0i64..90,
        events in prop::collection::vec((1i64..600, 0u8..6), 1..150),
    ) {
        let policy =
            WatchPolicy { hold_down_ms: hold_min as u64 * 60_000, ..WatchPolicy::default() };
        let succeeded = || ActivationOutcome::Succeeded;
        let (mut state, mut now) = (WatchState::default(), start());
        let mut last_new: Option<DateTime<Utc>> = None;
        for (dt, what) in events {
            now += TimeDelta::seconds(dt);
            let input: Input = match what {
                0..=2 => obs(what).into(),
                3 => Observation::Down { reason: "timeout".into() }.into(),
                4 => Command::ActivationResult { epoch: state.epoch, outcome: succeeded() }.into(),
                _ => Command::Failback { by: "ana".into() }.into(),
            };
            let step = step(&state, input, "w1", &policy, now);
            invariants(&state, &step);
            if new_epoch(&state, &step).is_some() {
                if let Some(t) = last_new {
                    prop_assert!(now - t >= TimeDelta::minutes(hold_min), "{} after {}", now, t);
                }
                last_new = Some(now);
            }
            state = step.state;
        }
    }

    /// Any interleaving of three watchers, activation results (good, failed, stale), approvals,
    /// forced activations, pauses and resumes, but no failback: at most one new epoch, and the
    /// same epoch is asked for again only after a reported failure, after the activation timeout,
    /// or when forced.
    #[test]
    fn watch_at_most_one_new_epoch_per_outage(
        approval in any::<bool>(),
        k in 1u32..4,
        events in prop::collection::vec((1i64..900, 0usize..3, 0u8..12), 1..200),
    ) {
        let succeeded = || ActivationOutcome::Succeeded;
        let mut policy = WatchPolicy::default();
        policy.quorum.required = k;
        policy.quorum.watchers = 3;
        if approval {
            policy.activation = ActivationMode::Approval;
        }
        let (mut state, mut now) = (WatchState::default(), start());
        let mut epochs = Vec::new();
        let mut last_request: Option<DateTime<Utc>> = None;
        let mut failed_since_request = false;
        for (dt, w, what) in events {
            now += TimeDelta::seconds(dt);
            let by = || "ana".to_owned();
            let input: Input = match what {
                0..=2 => obs(what).into(),
                3..=4 => Observation::Down { reason: "timeout".into() }.into(),
                5 => Command::ActivationResult { epoch: state.epoch, outcome: succeeded() }.into(),
                6 => Command::ActivationResult {
                    epoch: state.epoch,
                    outcome: ActivationOutcome::Failed { reason: "503".into(), retryable: true },
                }.into(),
                7 => Command::ActivationResult {
                    epoch: state.epoch.saturating_sub(1),
                    outcome: ActivationOutcome::Failed { reason: "503".into(), retryable: false },
                }.into(),
                8 => Command::Approve { by: by(), reason: String::new() }.into(),
                9 => Command::ForceActivate { by: by() }.into(),
                10 => Command::Pause { reason: "work".into(), until: now + TimeDelta::minutes(20), by: by() }.into(),
                _ => Command::Resume { by: by() }.into(),
            };
            let forced = matches!(input, Input::Command(Command::ForceActivate { .. }));
            let step = step(&state, input, &format!("w{w}"), &policy, now);
            invariants(&state, &step);
            if step.decision.rejected.is_none() && what == 6 {
                failed_since_request = true;
            }
            if let Some(e) = step.activation_request() {
                if e > state.epoch {
                    epochs.push(e);
                } else {
                    let timed_out = last_request.is_some_and(|t| now - t >= TimeDelta::minutes(15));
                    prop_assert!(failed_since_request || timed_out || forced, "a re-request of epoch {} without cause", e);
                }
                last_request = Some(now);
                failed_since_request = false;
            }
            state = step.state;
        }
        prop_assert!(epochs.len() <= 1, "new epochs {:?}", epochs);
    }
}
