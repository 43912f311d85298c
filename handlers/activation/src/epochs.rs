//! Per watch, the epoch activation last ran for, so a request for an older epoch is refused and
//! the same epoch again is the same run (its first start is what the fence grace counts from).

use bcdr_core::failover::Report;
use bcdr_core::signature::ActivationRequest;
use bcdr_core::store::{self, StateStore, StoreError, UpdateError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub fn record_key(watch: &str) -> String {
    format!("activations/{watch}/record.json")
}

pub fn reports_key(watch: &str) -> String {
    format!("activations/{watch}/reports.jsonl")
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EpochRecord {
    pub epoch: u64,
    pub first_started_at: DateTime<Utc>,
    pub runs: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_outcome: Option<String>,
    /// When an operator last failed this epoch back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_back_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub enum BeginError {
    /// The epoch was failed back: a late request for it must not move the work again.
    FailedBack {
        epoch: u64,
    },
    Stale {
        current: u64,
    },
    /// Failback is for the epoch that failed over, and none did (or another one is current).
    NotFailedOver {
        current: Option<u64>,
    },
    Store(StoreError),
}

/// Loads the watch's record, lets `decide` make the next one (or refuse), and writes it through
/// the store's one conditional-update loop. An unreadable record is an error, never overwritten.
async fn update(
    store: &dyn StateStore,
    watch: &str,
    decide: impl Fn(Option<EpochRecord>) -> Result<EpochRecord, BeginError>,
) -> Result<EpochRecord, BeginError> {
    store::update(store, &record_key(watch), None, |current| decide(current).map(|next| (next.clone(), next)))
        .await
        .map_err(|e| match e {
            UpdateError::Refused(refusal) => refusal,
            UpdateError::Store(e) => BeginError::Store(e),
            UpdateError::Unreadable { message, .. } => {
                BeginError::Store(StoreError::Invalid(format!("the epoch record of {watch} is unreadable: {message}")))
            }
            UpdateError::Contended(_) => BeginError::Store(StoreError::Conflict),
        })
}

/// Records that `request.epoch` runs now: refused if a newer epoch already ran, or if this one
/// was failed back.
pub async fn begin(
    store: &dyn StateStore,
    request: &ActivationRequest,
    now: DateTime<Utc>,
) -> Result<EpochRecord, BeginError> {
    update(store, &request.watch, |current| match current {
        Some(c) if request.epoch < c.epoch => Err(BeginError::Stale { current: c.epoch }),
        Some(c) if request.epoch == c.epoch && c.failed_back_at.is_some() => {
            Err(BeginError::FailedBack { epoch: c.epoch })
        }
        Some(c) if request.epoch == c.epoch => Ok(EpochRecord { runs: c.runs + 1, ..c }),
        _ => Ok(EpochRecord {
            epoch: request.epoch,
            first_started_at: now,
            runs: 1,
            last_outcome: None,
            failed_back_at: None,
        }),
    })
    .await
}

/// Records that the epoch that failed over is failed back now; refused for any other epoch.
pub async fn failback(
    store: &dyn StateStore,
    request: &ActivationRequest,
    now: DateTime<Utc>,
) -> Result<EpochRecord, BeginError> {
    update(store, &request.watch, |current| match current {
        Some(c) if c.epoch == request.epoch => Ok(EpochRecord { failed_back_at: Some(now), ..c }),
        other => Err(BeginError::NotFailedOver { current: other.map(|c| c.epoch) }),
    })
    .await
}

/// Notes the run's outcome on the record; best effort, since the report is already stored.
pub async fn finish(store: &dyn StateStore, watch: &str, epoch: u64, report: &Report) {
    let outcome = serde_json::to_value(report.outcome).ok().and_then(|o| o.as_str().map(str::to_owned));
    let noted = update(store, watch, |current| match current {
        Some(c) if c.epoch == epoch => Ok(EpochRecord { last_outcome: outcome.clone(), ..c }),
        // A newer epoch began meanwhile: this outcome no longer belongs on the record.
        other => Err(BeginError::Stale { current: other.map_or(0, |c| c.epoch) }),
    })
    .await;
    if let Err(BeginError::Store(e)) = noted {
        tracing::error!(watch, error = %e, "cannot note the outcome on the epoch record");
    }
}
