//! One tick of the watchdog, for each watch: load the state with its ETag, probe, step the pure
//! decision core, write the state back only if the ETag still matches (reloading and stepping
//! again on a conflict), log the decision, and only then carry out the actions. The claim to
//! activate is part of the state written, so it is durable before activation is ever called.
//! After a first down the core may ask for confirmation probes ([`watch::confirm_after`]): the
//! tick probes again a few seconds later and steps that observation the same way.

use std::sync::Arc;
use std::time::Duration;

use bcdr_core::alert::Alerter;
use bcdr_core::plan::Watch;
use bcdr_core::record::{RecordError, WatchRecord};
use bcdr_core::store::StateStore;
use bcdr_core::watch::{self, Command, Input, Step};
use serde::Serialize;

use bcdr_core::activation_client::ActivationApi;
use bcdr_core::prober::Prober;

pub struct Watchdog {
    pub watches: Vec<Watch>,
    pub store: Arc<dyn StateStore>,
    pub prober: Arc<dyn Prober>,
    pub activation: Arc<dyn ActivationApi>,
    pub alerter: Alerter,
    pub watcher: String,
    /// Time between two ticks (the plan's `watchdog.schedule`): confirmation probes are made only
    /// when they all fit in it.
    pub interval: Duration,
}

/// What one tick did for one watch.
#[derive(Debug, Clone, Serialize)]
pub struct WatchOutcome {
    pub watch: String,
    pub observation: Option<String>,
    pub phase: Option<String>,
    pub epoch: Option<u64>,
    pub activation_requested: Option<u64>,
    /// Observations made after the tick's first one, to confirm a down.
    pub confirmations: u32,
    pub error: Option<String>,
}

impl WatchOutcome {
    pub fn summary(&self) -> String {
        match &self.error {
            Some(e) => format!("watch {}: tick failed: {e}", self.watch),
            None => format!(
                "watch {}: {} -> {} (epoch {}){}{}",
                self.watch,
                self.observation.as_deref().unwrap_or("-"),
                self.phase.as_deref().unwrap_or("-"),
                self.epoch.unwrap_or(0),
                match self.confirmations {
                    0 => String::new(),
                    n => format!(", after {n} confirmation probe{}", if n == 1 { "" } else { "s" }),
                },
                self.activation_requested.map(|e| format!(", activation requested for epoch {e}")).unwrap_or_default()
            ),
        }
    }
}

/// Why a tick could not complete; nothing half-done is written.
pub type TickError = RecordError;

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
            confirmations: 0,
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
        let record = WatchRecord::new(self.store.as_ref(), watch);
        let mut loaded = Some(record.load().await?);
        loop {
            let probe_started = tokio::time::Instant::now();
            let observation = self.prober.observe(watch).await;
            outcome.observation = Some(observation.label().to_owned());
            // The first step uses the state loaded before the probe; confirmations reload.
            let step = record.step(Input::Observation(observation), &self.watcher, loaded.take()).await?;
            outcome.phase = Some(step.state.phase.label().to_owned());
            outcome.epoch = Some(step.state.epoch);
            outcome.activation_requested = outcome.activation_requested.or(step.activation_request());
            let again = watch::confirm_after(&step.state, &self.watcher, &watch.policy, self.interval);
            self.carry_out(watch, step).await?;
            let Some(after) = again else {
                return Ok(());
            };
            tokio::time::sleep_until(probe_started + after).await;
            outcome.confirmations += 1;
        }
    }

    /// Applies an operator's command to a watch through the same load-step-write path.
    pub async fn apply(&self, watch: &Watch, command: Command) -> Result<Step, TickError> {
        let step =
            WatchRecord::new(self.store.as_ref(), watch).step(Input::Command(command), &self.watcher, None).await?;
        self.carry_out(watch, step.clone()).await?;
        Ok(step)
    }

    /// Alerts go out without being waited for (a slow channel never holds up the tick); an
    /// activation request is made only now that its claim is stored.
    async fn carry_out(&self, watch: &Watch, step: Step) -> Result<(), TickError> {
        WatchRecord::new(self.store.as_ref(), watch)
            .carry_out(&step, &self.watcher, self.activation.as_ref(), &self.alerter)
            .await?;
        Ok(())
    }
}
