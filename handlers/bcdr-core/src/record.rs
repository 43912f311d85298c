//! A watch's durable record: its state (one JSON value, written only through the store's
//! conditional [`update`](crate::store::update)) and its append-only decision log. The watchdog's
//! ticks, the status page and the operator's commands all read and write a watch through here, so
//! there is one load, one step-and-save and one set of key names.
//!
//! The decision core ([`crate::watch`]) stays pure; this is the I/O around it.

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::activation_client::ActivationApi;
use crate::alert::{self, AlertDelivery, Alerter};
use crate::plan::Watch;
use crate::signature::ActivationRequest;
use crate::store::{self, Loaded, StateStore, StoreError, UpdateError};
use crate::watch::{self, Action, Command, Decision, Input, Step, WatchState};

/// Where a watch's state lives in the store.
pub fn state_key(watch: &str) -> String {
    format!("watches/{watch}/state.json")
}

/// Where a watch's append-only decision log lives in the store.
pub fn log_key(watch: &str) -> String {
    format!("watches/{watch}/decisions.jsonl")
}

/// Why a watch's record could not be read or written; nothing half-done is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("state store: {0}")]
    Store(#[from] StoreError),
    #[error("stored state of watch {watch} is unreadable: {message}")]
    Corrupt { watch: String, message: String },
    #[error("lost the write to other watchers {0} times in a row")]
    Contended(usize),
}

impl RecordError {
    fn of(watch: &str, e: UpdateError<std::convert::Infallible>) -> Self {
        match e {
            UpdateError::Store(e) => RecordError::Store(e),
            UpdateError::Unreadable { message, .. } => RecordError::Corrupt { watch: watch.to_owned(), message },
            UpdateError::Contended(n) => RecordError::Contended(n),
            UpdateError::Refused(never) => match never {},
        }
    }
}

/// The state as loaded, with the version a write must find.
pub type LoadedState = Loaded<WatchState>;

/// One watch's record in one store.
pub struct WatchRecord<'a> {
    store: &'a dyn StateStore,
    watch: &'a Watch,
}

impl<'a> WatchRecord<'a> {
    pub fn new(store: &'a dyn StateStore, watch: &'a Watch) -> Self {
        Self { store, watch }
    }

    /// The current state (the default state if the watch never ran) and its version.
    pub async fn load(&self) -> Result<LoadedState, RecordError> {
        store::load(self.store, &state_key(&self.watch.name)).await.map_err(|e| RecordError::of(&self.watch.name, e))
    }

    /// The current state alone.
    pub async fn state(&self) -> Result<WatchState, RecordError> {
        Ok(self.load().await?.value.unwrap_or_default())
    }

    /// Steps the decision core with `input` as `watcher` and writes the next state conditionally,
    /// starting from `loaded` when the caller already read it (a tick reads before it probes).
    /// On a lost race the same input is stepped again on the winner's state. Once written, the
    /// decision is appended to the log; a failed append loses only that line of history.
    pub async fn step(&self, input: Input, watcher: &str, loaded: Option<LoadedState>) -> Result<Step, RecordError> {
        let name = &self.watch.name;
        let step = store::update(self.store, &state_key(name), loaded, |state: Option<WatchState>| {
            let step = watch::step(&state.unwrap_or_default(), input.clone(), watcher, &self.watch.policy, Utc::now());
            Ok::<_, std::convert::Infallible>((step.state.clone(), step))
        })
        .await
        .map_err(|e| RecordError::of(name, e))?;
        let record = serde_json::to_vec(&step.decision).expect("plain data serializes");
        if let Err(e) = self.store.append(&log_key(name), &record).await {
            // The state (and so every count) is safe; only this line of history is lost.
            tracing::error!(watch = %name, error = %e, "cannot append to the decision log");
        }
        Ok(step)
    }

    /// Carries out the actions of a step that is written: every alert goes to `alerter` (sent on
    /// its own tasks; the deliveries are returned for a caller that must see them arrive), and an
    /// activation is asked for only now that its claim is stored. The activation's answer is
    /// stepped in turn as `watcher`, and its alerts go out the same way.
    pub async fn carry_out(
        &self,
        step: &Step,
        watcher: &str,
        activation: &dyn ActivationApi,
        alerter: &Alerter,
    ) -> Result<CarriedOut, RecordError> {
        let mut done = CarriedOut { deliveries: self.alert(step, watcher, alerter), activation: None };
        for action in step.actions() {
            let Action::RequestActivation { epoch, reason } = action else { continue };
            let request = ActivationRequest {
                watch: self.watch.name.clone(),
                epoch: *epoch,
                reason: reason.clone(),
                requester: watcher.to_owned(),
                practice: false,
                force: false,
                direction: Default::default(),
            };
            tracing::warn!(watch = %self.watch.name, epoch, reason = %reason, "requesting activation");
            let outcome = activation.request(&request).await;
            let result = Input::Command(Command::ActivationResult { epoch: *epoch, outcome });
            let reported = self.step(result, watcher, None).await?;
            done.deliveries.extend(self.alert(&reported, watcher, alerter));
            done.activation = Some(reported);
        }
        Ok(done)
    }

    fn alert(&self, step: &Step, watcher: &str, alerter: &Alerter) -> Vec<AlertDelivery> {
        step.actions()
            .iter()
            .filter_map(|action| match action {
                Action::Alert(raised) => Some(alerter.dispatch(alert::Alert::raised(
                    raised,
                    self.watch,
                    watcher,
                    step.state.epoch,
                    step.decision.at,
                ))),
                Action::RequestActivation { .. } => None,
            })
            .collect()
    }

    /// The newest decisions, oldest first, from the last `max_bytes` of the log; lines that do
    /// not parse (a torn write) are skipped.
    pub async fn decisions(&self, max_bytes: u64, keep: usize) -> Result<Vec<Decision>, StoreError> {
        let log = self.store.read_log(&log_key(&self.watch.name), Some(max_bytes)).await?;
        let mut decisions: Vec<Decision> = log
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .filter_map(|l| serde_json::from_slice(l).ok())
            .collect();
        let skip = decisions.len().saturating_sub(keep);
        decisions.drain(..skip);
        Ok(decisions)
    }
}

/// What carrying out a step did.
#[derive(Debug)]
pub struct CarriedOut {
    /// The alerts being sent; dropping them lets the sends finish on their own.
    pub deliveries: Vec<AlertDelivery>,
    /// The step that recorded the activation's answer, when an activation was asked for.
    pub activation: Option<Step>,
}

/// How much of a decision log the status reads (whole records only).
const STATUS_LOG_BYTES: u64 = 64 * 1024;
/// How many decisions the status shows per watch.
const STATUS_DECISIONS: usize = 25;

/// One watch as the status shows it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WatchStatus {
    pub name: String,
    pub target: String,
    pub state: WatchState,
    pub decisions: Vec<Decision>,
}

/// Every watch's state and newest decisions, read by `watcher` at `generated_at`: what the
/// watchdog's status endpoint serves and `bcdr status` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub watcher: String,
    pub generated_at: DateTime<Utc>,
    pub watches: Vec<WatchStatus>,
}

/// Reads the status of `watches`; fails if any state or log cannot be read.
pub async fn status(
    store: &dyn StateStore,
    watches: &[Watch],
    watcher: &str,
    now: DateTime<Utc>,
) -> Result<Status, String> {
    let mut out = Vec::with_capacity(watches.len());
    for w in watches {
        let record = WatchRecord::new(store, w);
        let state = record.state().await.map_err(|e| e.to_string())?;
        let decisions =
            record.decisions(STATUS_LOG_BYTES, STATUS_DECISIONS).await.map_err(|e| format!("decision log: {e}"))?;
        out.push(WatchStatus { name: w.name.clone(), target: w.target.clone(), state, decisions });
    }
    Ok(Status { watcher: watcher.to_owned(), generated_at: now, watches: out })
}
