//! What one tick of one watcher saw: the answers to its probe attempts, and the observation they
//! add up to (up, down, or inconclusive when the watcher's own network is in doubt).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::policy::{WatchPolicy, RETRY_PAUSE};

/// The verdict of one tick, the input the state machine counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Observation {
    /// The health-check answered healthy or degraded (200).
    Up { latency_ms: u64 },
    /// The health-check said unhealthy, or no attempt got an answer while the control probe did.
    Down { reason: String },
    /// No attempt got an answer and the control probe failed too: the watcher's own network is
    /// suspect, so this neither counts as down nor resets the count.
    Inconclusive { reason: String },
}

/// The answer to one attempt at the primary's health-check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// 200, healthy or degraded.
    Healthy { latency_ms: u64 },
    /// The health-check itself answered that the primary is unhealthy (503 with its verdict).
    /// That is the primary's own word, so it ends the observation without a retry.
    Unhealthy { reason: String },
    /// No verdict: timeout, connection error, or an answer that is not the health-check's (a
    /// gateway's 502). Such a failure may be the path rather than the primary, so it is retried.
    NoAnswer { reason: String },
}

impl Attempt {
    /// Whether another attempt is worth making after this one.
    pub fn retry(&self) -> bool {
        matches!(self, Attempt::NoAnswer { .. })
    }
}

/// Where one probe's attempts happen: the shipped prober's network and clock, or the
/// simulation's. The schedule itself is [`attempts`], the same for both.
#[allow(async_fn_in_trait)]
pub trait ProbePath {
    /// The time since the probe began.
    fn elapsed(&self) -> Duration;
    /// Starts one attempt at the primary's health-check now, given up after `budget`. Attempts
    /// run concurrently; their answers come from [`ProbePath::next`].
    fn start(&mut self, budget: Duration);
    /// The answer of the next started attempt to end, waiting no later than `until` (since the
    /// probe began): `None` when `until` came first or no attempt is running. Attempts still
    /// running when the probe ends are abandoned.
    async fn next(&mut self, until: Option<Duration>) -> Option<Attempt>;
}

/// The probe schedule: up to `probeAttempts` attempts, attempt `i` due at
/// [`WatchPolicy::attempt_slot`]`(i)` and cut off at [`WatchPolicy::attempt_cutoff`]`(i)` from the
/// probe's start. Attempts overlap when the policy spaces them closer than they may take. An
/// answer with a verdict ends the probe; failures without one are what the further attempts are
/// for, and when every attempt so far has failed the next starts early, [`RETRY_PAUSE`] after
/// the previous one (a refusal comes back at once). Nothing runs past the probe timeout. The
/// watchdog's prober and the simulation both run this, so the README's detection figures
/// measure the schedule that ships. The answers come in the order they ended.
pub async fn attempts(policy: &WatchPolicy, path: &mut impl ProbePath) -> Vec<Attempt> {
    let total = policy.probe_attempts.max(1);
    let mut answers = Vec::new();
    let mut started = 0u32;
    let mut running = 0u32;
    let mut last_start = Duration::ZERO;
    loop {
        // Start every attempt that is due: at its slot, or early when nothing is running.
        while started < total {
            let now = path.elapsed();
            let slot = policy.attempt_slot(started);
            let early = started > 0 && running == 0 && now >= last_start + RETRY_PAUSE;
            if now < slot && !early {
                break;
            }
            let budget = policy.attempt_cutoff(started).saturating_sub(now);
            if budget.is_zero() {
                // Its time passed before it could start (the clock jumped): skip it.
                started += 1;
                continue;
            }
            path.start(budget);
            started += 1;
            running += 1;
            last_start = now;
        }
        if running == 0 && started >= total {
            break;
        }
        // Wake for the next answer, or for the next attempt that falls due.
        let next_due = (started < total).then(|| {
            let slot = policy.attempt_slot(started);
            if running == 0 {
                slot.min(last_start + RETRY_PAUSE)
            } else {
                slot
            }
        });
        match path.next(next_due).await {
            Some(answer) => {
                running -= 1;
                let verdict = !answer.retry();
                answers.push(answer);
                if verdict {
                    break;
                }
            }
            None if running > 0 && next_due.is_none() => {
                // The path lost track of its attempts; count them as unanswered.
                break;
            }
            None => {}
        }
    }
    answers
}

impl Observation {
    /// The observation the attempts of one tick add up to. `control_reachable` is whether the
    /// control probe (a well-known endpoint outside the primary, probed alongside the attempts
    /// with the same budget) got any answer; it only matters when no attempt got one.
    pub fn from_attempts(attempts: &[Attempt], control_reachable: bool) -> Observation {
        if let Some(latency_ms) = attempts.iter().find_map(|a| match a {
            Attempt::Healthy { latency_ms } => Some(*latency_ms),
            _ => None,
        }) {
            return Observation::Up { latency_ms };
        }
        if let Some(reason) = attempts.iter().find_map(|a| match a {
            Attempt::Unhealthy { reason } => Some(reason),
            _ => None,
        }) {
            return Observation::Down { reason: format!("unhealthy: {reason}") };
        }
        let last = attempts
            .iter()
            .rev()
            .find_map(|a| match a {
                Attempt::NoAnswer { reason } => Some(reason.as_str()),
                _ => None,
            })
            .unwrap_or("no attempt made");
        let n = attempts.len();
        let tries = if n == 1 { "1 attempt".to_owned() } else { format!("{n} attempts") };
        if control_reachable {
            Observation::Down { reason: format!("no answer in {tries} (last: {last})") }
        } else {
            Observation::Inconclusive {
                reason: format!("no answer in {tries} and control probe failed (last: {last})"),
            }
        }
    }

    pub fn is_down(&self) -> bool {
        matches!(self, Observation::Down { .. })
    }

    pub fn is_up(&self) -> bool {
        matches!(self, Observation::Up { .. })
    }

    /// One word, for decision notes and the status page.
    pub fn label(&self) -> &'static str {
        match self {
            Observation::Up { .. } => "up",
            Observation::Down { .. } => "down",
            Observation::Inconclusive { .. } => "inconclusive",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::FutureExt;

    /// A probe path on a simulated clock whose attempts answer as scripted, in the order they
    /// start: `timeout` (takes its whole budget), `refused` (at once), `up <ms>`, `sick <ms>`.
    struct Scripted {
        script: Vec<&'static str>,
        now: Duration,
        running: Vec<(Duration, Attempt)>,
        trace: Vec<String>,
    }

    fn secs(d: Duration) -> String {
        format!("{:.1}s", d.as_secs_f64())
    }

    impl ProbePath for Scripted {
        fn elapsed(&self) -> Duration {
            self.now
        }

        fn start(&mut self, budget: Duration) {
            let words: Vec<&str> = self.script.remove(0).split_whitespace().collect();
            let ms = |w: &[&str]| Duration::from_millis(w[1].parse().unwrap());
            let (took, answer) = match words[0] {
                "timeout" => (budget, Attempt::NoAnswer { reason: "timeout".into() }),
                "refused" => (Duration::from_millis(50), Attempt::NoAnswer { reason: "refused".into() }),
                "up" => (ms(&words), Attempt::Healthy { latency_ms: ms(&words).as_millis() as u64 }),
                "sick" => (ms(&words), Attempt::Unhealthy { reason: "db".into() }),
                other => panic!("unknown script word {other}"),
            };
            let (took, answer) =
                if took > budget { (budget, Attempt::NoAnswer { reason: "timeout".into() }) } else { (took, answer) };
            self.trace.push(format!("{} start, budget {}", secs(self.now), secs(budget)));
            self.running.push((self.now + took, answer));
        }

        async fn next(&mut self, until: Option<Duration>) -> Option<Attempt> {
            let first = (0..self.running.len()).min_by_key(|&i| self.running[i].0);
            match first {
                Some(i) if until.is_none_or(|u| self.running[i].0 <= u) => {
                    let (at, answer) = self.running.remove(i);
                    self.now = at;
                    let label = match &answer {
                        Attempt::Healthy { .. } => "up".to_owned(),
                        Attempt::Unhealthy { .. } => "unhealthy".to_owned(),
                        Attempt::NoAnswer { reason } => reason.clone(),
                    };
                    self.trace.push(format!("{} {label}", secs(at)));
                    Some(answer)
                }
                _ => {
                    self.now = until.unwrap_or(self.now).max(self.now);
                    None
                }
            }
        }
    }

    /// Runs the schedule of `policy` (JSON over the defaults) against `script` and renders when
    /// each attempt started and ended, then the observation.
    fn check(policy: &str, script: &[&'static str], expect: &str) {
        let policy: WatchPolicy = serde_json::from_str(policy).unwrap();
        let mut path =
            Scripted { script: script.to_vec(), now: Duration::ZERO, running: Vec::new(), trace: Vec::new() };
        let answers = attempts(&policy, &mut path).now_or_never().expect("the scripted path never waits");
        let observation = Observation::from_attempts(&answers, true);
        let got = format!("{}\n=> {} after {}", path.trace.join("\n"), observation.label(), secs(path.now));
        assert_eq!(got, expect.trim(), "\n{got}");
    }

    #[test]
    fn watch_attempts_overlap_and_a_verdict_ends_the_probe() {
        // The default: five attempts of up to 6 s, half a second apart.
        check(
            "{}",
            &["timeout", "timeout", "up 300", "up 10", "up 10"],
            "0.0s start, budget 6.0s\n0.5s start, budget 6.0s\n1.0s start, budget 6.0s\n1.3s up\n=> up after 1.3s",
        );
        check(
            "{}",
            &["timeout", "sick 2000", "timeout", "timeout", "timeout"],
            "0.0s start, budget 6.0s\n0.5s start, budget 6.0s\n1.0s start, budget 6.0s\n1.5s start, budget 6.0s\n\
             2.0s start, budget 6.0s\n2.5s unhealthy\n=> down after 2.5s",
        );
        // A hung primary: every attempt runs out, the last at the probe timeout.
        check(
            "{}",
            &["timeout"; 5],
            "0.0s start, budget 6.0s\n0.5s start, budget 6.0s\n1.0s start, budget 6.0s\n1.5s start, budget 6.0s\n\
             2.0s start, budget 6.0s\n6.0s timeout\n6.5s timeout\n7.0s timeout\n7.5s timeout\n8.0s timeout\n\
             => down after 8.0s",
        );
    }

    #[test]
    fn watch_attempts_after_quick_failures_start_early() {
        // Refusals come back at once: the next attempt starts 0.5 s after the previous one,
        // with the time the others left over (cut-offs stay where they were).
        check(
            r#"{"probeTimeoutMs": 30000, "probeAttempts": 5}"#,
            &["refused", "refused", "timeout", "up 100"],
            "0.0s start, budget 6.0s\n0.1s refused\n0.5s start, budget 11.5s\n0.6s refused\n\
             1.0s start, budget 17.0s\n18.0s timeout\n18.0s start, budget 6.0s\n18.1s up\n=> up after 18.1s",
        );
    }

    #[test]
    fn watch_attempts_of_a_plan_without_overlap_run_one_after_the_other() {
        // probeTimeoutMs / probeAttempts as every plan before attemptTimeoutMs had it.
        check(
            r#"{"probeTimeoutMs": 12000, "probeAttempts": 2, "attemptTimeoutMs": 1000}"#,
            &["timeout", "timeout"],
            "0.0s start, budget 6.0s\n6.0s timeout\n6.0s start, budget 6.0s\n12.0s timeout\n=> down after 12.0s",
        );
    }

    fn no(reason: &str) -> Attempt {
        Attempt::NoAnswer { reason: reason.into() }
    }

    #[test]
    fn watch_attempts_add_up_to_an_observation() {
        let up = Attempt::Healthy { latency_ms: 40 };
        assert_eq!(Observation::from_attempts(&[no("timeout"), up.clone()], false), Observation::Up { latency_ms: 40 });
        let sick = Attempt::Unhealthy { reason: "check db failed".into() };
        assert!(!sick.retry() && !up.retry() && no("x").retry());
        assert_eq!(
            Observation::from_attempts(&[no("timeout"), sick], false),
            Observation::Down { reason: "unhealthy: check db failed".into() }
        );
        assert_eq!(
            Observation::from_attempts(&[no("timeout"), no("connection refused")], true),
            Observation::Down { reason: "no answer in 2 attempts (last: connection refused)".into() }
        );
        assert_eq!(
            Observation::from_attempts(&[no("timeout")], false),
            Observation::Inconclusive {
                reason: "no answer in 1 attempt and control probe failed (last: timeout)".into()
            }
        );
    }

    #[test]
    fn watch_observation_json() {
        let o: Observation = serde_json::from_str(r#"{"kind":"up","latencyMs":12}"#).unwrap();
        assert_eq!(o, Observation::Up { latency_ms: 12 });
        assert_eq!(
            serde_json::to_string(&Observation::Down { reason: "timeout".into() }).unwrap(),
            r#"{"kind":"down","reason":"timeout"}"#
        );
    }
}
