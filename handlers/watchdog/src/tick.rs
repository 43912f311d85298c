//! One tick of the watchdog, for each watch: load the state with its ETag, probe, step the pure
//! decision core, write the state back only if the ETag still matches (reloading and stepping
//! again on a conflict), log the decision, and only then carry out the actions. The claim to
//! activate is part of the state written, so it is durable before activation is ever called.

use std::sync::Arc;

use bcdr_core::alert::{self as alerting, Alerter};
use bcdr_core::plan::Watch;
use bcdr_core::signature::ActivationRequest;
use bcdr_core::store::{Expect, StateStore, StoreError};
use bcdr_core::watch::{self, Action, Command, Input, Severity, Step, WatchState};
use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::activation::ActivationApi;
use crate::probe::Prober;

/// How many times a write lost to another watcher is retried from a fresh load.
const MAX_CONFLICTS: usize = 16;

/// Where a watch's state lives in the store.
pub fn state_key(watch: &str) -> String {
    format!("watches/{watch}/state.json")
}

/// Where a watch's append-only decision log lives in the store.
pub fn log_key(watch: &str) -> String {
    format!("watches/{watch}/decisions.jsonl")
}

pub struct Watchdog {
    pub watches: Vec<Watch>,
    pub store: Arc<dyn StateStore>,
    pub prober: Arc<dyn Prober>,
    pub activation: Arc<dyn ActivationApi>,
    pub alerter: Alerter,
    pub watcher: String,
}

/// What one tick did for one watch.
#[derive(Debug, Clone, Serialize)]
pub struct WatchOutcome {
    pub watch: String,
    pub observation: Option<String>,
    pub phase: Option<String>,
    pub epoch: Option<u64>,
    pub activation_requested: Option<u64>,
    pub error: Option<String>,
}

impl WatchOutcome {
    pub fn summary(&self) -> String {
        match &self.error {
            Some(e) => format!("watch {}: tick failed: {e}", self.watch),
            None => format!(
                "watch {}: {} -> {} (epoch {}){}",
                self.watch,
                self.observation.as_deref().unwrap_or("-"),
                self.phase.as_deref().unwrap_or("-"),
                self.epoch.unwrap_or(0),
                self.activation_requested.map(|e| format!(", activation requested for epoch {e}")).unwrap_or_default()
            ),
        }
    }
}

/// Why a tick could not complete; nothing half-done is written.
#[derive(Debug, thiserror::Error)]
pub enum TickError {
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    #[error("stored state of watch {watch} is unreadable: {message}")]
    Corrupt { watch: String, message: String },
    #[error("lost the write to other watchers {0} times in a row")]
    Contended(usize),
}

impl Watchdog {
    /// Runs every watch once, concurrently.
    pub async fn tick(&self) -> Vec<WatchOutcome> {
        futures::future::join_all(self.watches.iter().map(|w| self.tick_watch(w))).await
    }

    async fn tick_watch(&self, watch: &Watch) -> WatchOutcome {
        let mut outcome = WatchOutcome {
            watch: watch.name.clone(),
            observation: None,
            phase: None,
            epoch: None,
            activation_requested: None,
            error: None,
        };
        match self.observe_and_act(watch, &mut outcome).await {
            Ok(()) => tracing::info!(watch = %watch.name, summary = %outcome.summary(), "tick"),
            Err(e) => {
                tracing::error!(watch = %watch.name, error = %e, "tick failed; nothing was counted, the next tick tries again");
                outcome.error = Some(e.to_string());
            }
        }
        outcome
    }

    async fn observe_and_act(&self, watch: &Watch, outcome: &mut WatchOutcome) -> Result<(), TickError> {
        // Load first: a tick that cannot read its state must fail before it probes anything.
        let loaded = self.load(watch).await?;
        let observation = self.prober.observe(watch).await;
        outcome.observation = Some(observation.label().to_owned());
        let step = self.commit(watch, Input::Observation(observation), Some(loaded)).await?;
        outcome.phase = Some(step.state.phase.label().to_owned());
        outcome.epoch = Some(step.state.epoch);
        outcome.activation_requested = step.activation_request();
        self.carry_out(watch, step).await
    }

    /// Applies an operator's command to a watch through the same load-step-write path.
    pub async fn apply(&self, watch: &Watch, command: Command) -> Result<Step, TickError> {
        let step = self.commit(watch, Input::Command(command), None).await?;
        self.carry_out(watch, step.clone()).await?;
        Ok(step)
    }

    async fn load(&self, watch: &Watch) -> Result<(WatchState, Option<bcdr_core::store::ETag>), TickError> {
        match self.store.load(&state_key(&watch.name)).await? {
            None => Ok((WatchState::default(), None)),
            Some(v) => {
                let state = serde_json::from_slice(&v.bytes)
                    .map_err(|e| TickError::Corrupt { watch: watch.name.clone(), message: e.to_string() })?;
                Ok((state, Some(v.etag)))
            }
        }
    }

    /// Steps and writes conditionally; on a lost race reloads and steps the same input again.
    async fn commit(
        &self,
        watch: &Watch,
        input: Input,
        mut loaded: Option<(WatchState, Option<bcdr_core::store::ETag>)>,
    ) -> Result<Step, TickError> {
        for attempt in 0..MAX_CONFLICTS {
            if attempt > 0 {
                // Racing watchers that retry in lockstep keep colliding; spread them out.
                tokio::time::sleep(conflict_backoff(attempt)).await;
            }
            let (state, etag) = match loaded.take() {
                Some(l) => l,
                None => self.load(watch).await?,
            };
            let step = watch::step(&state, input.clone(), &self.watcher, &watch.policy, Utc::now());
            let bytes = serde_json::to_vec(&step.state).expect("plain data serializes");
            let expect = match etag {
                Some(e) => Expect::Version(e),
                None => Expect::Absent,
            };
            match self.store.save(&state_key(&watch.name), &bytes, &expect).await {
                Ok(_) => {
                    let record = serde_json::to_vec(&step.decision).expect("plain data serializes");
                    if let Err(e) = self.store.append(&log_key(&watch.name), &record).await {
                        // The state (and so every count) is safe; only this line of history is lost.
                        tracing::error!(watch = %watch.name, error = %e, "cannot append to the decision log");
                    }
                    return Ok(step);
                }
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(TickError::Contended(MAX_CONFLICTS))
    }

    /// Alerts go out without being waited for; an activation request is made only now that its
    /// claim is stored, and its result goes back through the state machine.
    async fn carry_out(&self, watch: &Watch, step: Step) -> Result<(), TickError> {
        let epoch = step.state.epoch;
        for action in step.actions() {
            match action {
                Action::Alert(a) => {
                    self.alert(watch, a, epoch, step.decision.at);
                }
                Action::RequestActivation { epoch, reason } => {
                    let request = ActivationRequest {
                        watch: watch.name.clone(),
                        epoch: *epoch,
                        reason: reason.clone(),
                        requester: self.watcher.clone(),
                        practice: false,
                        force: false,
                        direction: Default::default(),
                    };
                    tracing::warn!(watch = %watch.name, epoch, reason = %reason, "requesting activation");
                    let outcome = self.activation.request(&request).await;
                    let result = Input::Command(Command::ActivationResult { epoch: *epoch, outcome });
                    let reported = self.commit(watch, result, None).await?;
                    for action in reported.actions() {
                        if let Action::Alert(a) = action {
                            self.alert(watch, a, reported.state.epoch, reported.decision.at);
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn alert(&self, watch: &Watch, alert: &watch::Alert, epoch: u64, at: DateTime<Utc>) {
        let severity = match alert.severity {
            Severity::Info => alerting::Severity::Info,
            Severity::Warning => alerting::Severity::Warning,
            Severity::Critical => alerting::Severity::Critical,
        };
        let title =
            format!("{}: {}{}", watch.name, alert.kind.label(), if alert.reminder { " (reminder)" } else { "" });
        let out = alerting::Alert::new(&watch.name, severity, alert.kind.label(), title, at)
            .with_text(&alert.message)
            .with_epoch(epoch)
            .with_field("watcher", &self.watcher)
            .with_field("target", &watch.target);
        // Delivery runs on its own tasks; a slow channel never holds up the tick.
        let _ = self.alerter.dispatch(out);
    }
}

/// A random pause of up to 4 ms times the attempt, without a random-number crate: the clock's
/// nanoseconds differ between racing processes, which is all the spreading needs.
fn conflict_backoff(attempt: usize) -> std::time::Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let cap_us = 4_000 * attempt as u64;
    std::time::Duration::from_micros(u64::from(nanos) % cap_us.max(1))
}
