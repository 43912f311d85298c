//! The watchdog on AWS Lambda: one more voter on the same watch, outside Azure.
//!
//! When an Azure-wide event hits, the watchers inside Azure may all share the fault; a watcher
//! on another cloud is the independent vote. This crate is only the Lambda shell around the
//! Functions watchdog's own tick (`watchdog::Watchdog::tick`): the same state blob, the same
//! conditional writes and decision log, under its own watcher name. [`event`] reads the
//! schedule's invocation, [`config`] the settings, [`federation`] reaches the state container
//! without a secret stored in AWS.

pub mod config;
pub mod event;
pub mod federation;

pub use config::{LambdaConfig, StateAccess};
pub use event::{EventError, Tick};

use std::time::Duration;

use chrono::Utc;
use lambda_runtime::{Diagnostic, LambdaEvent};
use serde::Serialize;
use watchdog::{WatchOutcome, Watchdog};

/// What one invocation answers: the watcher and what its tick did for each watch.
#[derive(Debug, Clone, Serialize)]
pub struct TickReport {
    pub watcher: String,
    pub outcomes: Vec<WatchOutcome>,
}

/// Why an invocation failed. The function's `Errors` metric counts it (the template alarms on
/// it); the next scheduled tick tries again.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationFailed {
    #[error(transparent)]
    Event(#[from] EventError),
    #[error("{0}")]
    Tick(String),
}

impl From<InvocationFailed> for Diagnostic {
    fn from(e: InvocationFailed) -> Diagnostic {
        let error_type = match e {
            InvocationFailed::Event(_) => "BadEvent",
            InvocationFailed::Tick(_) => "TickFailed",
        };
        Diagnostic { error_type: error_type.to_owned(), error_message: e.to_string() }
    }
}

/// One invocation: read the schedule's event, run the watchdog's tick. `interval` is the plan's
/// time between ticks, against which a late tick is logged.
pub async fn handle(
    watchdog: &Watchdog,
    interval: Option<Duration>,
    event: LambdaEvent<serde_json::Value>,
) -> Result<TickReport, InvocationFailed> {
    let tick = Tick::from_event(event.payload)?;
    if interval.is_some_and(|interval| tick.is_past_due(Utc::now(), interval)) {
        tracing::warn!(due = ?tick.due, "the tick is late (past due)");
    }
    if tick.attempt > 1 {
        tracing::warn!(attempt = tick.attempt, "the scheduler is delivering this tick again");
    }
    // The tick logs each watch's outcome itself, inside the runtime's span (request id).
    let outcomes = watchdog.tick().await;
    if let Some(failed) = outcomes.iter().find(|o| o.error.is_some()) {
        return Err(InvocationFailed::Tick(failed.summary()));
    }
    Ok(TickReport { watcher: watchdog.watcher.clone(), outcomes })
}
