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
    /// One attempt at the primary's health-check, given up after `budget`.
    async fn attempt(&mut self, budget: Duration) -> Attempt;
    /// Waits `pause` before the next attempt.
    async fn pause(&mut self, pause: Duration);
}

/// The probe schedule: up to `probeAttempts` attempts, attempt `i` cut off at
/// [`WatchPolicy::attempt_cutoff`]`(i)` from the probe's start. An answer with a verdict ends the
/// probe; a failure without one is tried again. Attempts start at least [`RETRY_PAUSE`] apart (a
/// refusal comes back at once, and the attempts should spread over the budget), and no pause
/// runs past the probe's timeout. The watchdog's prober and the simulation both run this, so
/// the README's detection figures measure the schedule that ships.
pub async fn attempts(policy: &WatchPolicy, path: &mut impl ProbePath) -> Vec<Attempt> {
    let mut attempts = Vec::new();
    for i in 0..policy.probe_attempts.max(1) {
        let left = policy.attempt_cutoff(i).saturating_sub(path.elapsed());
        if left.is_zero() {
            break;
        }
        let started = path.elapsed();
        let attempt = path.attempt(left).await;
        let retry = attempt.retry();
        attempts.push(attempt);
        if !retry {
            break;
        }
        let pause = RETRY_PAUSE.saturating_sub(path.elapsed().saturating_sub(started));
        if !pause.is_zero() && path.elapsed() + pause < policy.probe_timeout() {
            path.pause(pause).await;
        }
    }
    attempts
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
