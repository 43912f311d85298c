//! Per watch, the epoch activation last ran for, so a request for an older epoch is refused and
//! the same epoch again is the same run (its first start is what the fence grace counts from).

use bcdr_core::activation::Report;
use bcdr_core::signature::ActivationRequest;
use bcdr_core::store::{Expect, StateStore, StoreError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many times a write lost to a concurrent request is retried.
const MAX_CONFLICTS: usize = 8;

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

/// Records that `request.epoch` runs now: refused if an newer epoch already ran.
pub async fn begin(
    store: &dyn StateStore,
    request: &ActivationRequest,
    now: DateTime<Utc>,
) -> Result<EpochRecord, BeginError> {
    let key = record_key(&request.watch);
    for _ in 0..MAX_CONFLICTS {
        let loaded = store.load(&key).await.map_err(BeginError::Store)?;
        let (current, expect) = match &loaded {
            Some(v) => (serde_json::from_slice::<EpochRecord>(&v.bytes).ok(), Expect::Version(v.etag.clone())),
            None => (None, Expect::Absent),
        };
        let next = match current {
            Some(c) if request.epoch < c.epoch => return Err(BeginError::Stale { current: c.epoch }),
            Some(c) if request.epoch == c.epoch && c.failed_back_at.is_some() => {
                return Err(BeginError::FailedBack { epoch: c.epoch })
            }
            Some(c) if request.epoch == c.epoch => EpochRecord { runs: c.runs + 1, ..c },
            _ => EpochRecord {
                epoch: request.epoch,
                first_started_at: now,
                runs: 1,
                last_outcome: None,
                failed_back_at: None,
            },
        };
        let bytes = serde_json::to_vec(&next).expect("plain data serializes");
        match store.save(&key, &bytes, &expect).await {
            Ok(_) => return Ok(next),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(BeginError::Store(e)),
        }
    }
    Err(BeginError::Store(StoreError::Conflict))
}

/// Records that the epoch that failed over is failed back now; refused for any other epoch.
pub async fn failback(
    store: &dyn StateStore,
    request: &ActivationRequest,
    now: DateTime<Utc>,
) -> Result<EpochRecord, BeginError> {
    let key = record_key(&request.watch);
    for _ in 0..MAX_CONFLICTS {
        let loaded = store.load(&key).await.map_err(BeginError::Store)?;
        let Some(v) = loaded else { return Err(BeginError::NotFailedOver { current: None }) };
        let current: Option<EpochRecord> = serde_json::from_slice(&v.bytes).ok();
        let next = match current {
            Some(c) if c.epoch == request.epoch => EpochRecord { failed_back_at: Some(now), ..c },
            other => return Err(BeginError::NotFailedOver { current: other.map(|c| c.epoch) }),
        };
        let bytes = serde_json::to_vec(&next).expect("plain data serializes");
        match store.save(&key, &bytes, &Expect::Version(v.etag)).await {
            Ok(_) => return Ok(next),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(BeginError::Store(e)),
        }
    }
    Err(BeginError::Store(StoreError::Conflict))
}

/// Notes the run's outcome on the record; best effort, since the report is already stored.
pub async fn finish(store: &dyn StateStore, watch: &str, epoch: u64, report: &Report) {
    let key = record_key(watch);
    for _ in 0..MAX_CONFLICTS {
        let Ok(Some(v)) = store.load(&key).await else { return };
        let Ok(mut record) = serde_json::from_slice::<EpochRecord>(&v.bytes) else { return };
        if record.epoch != epoch {
            return;
        }
        record.last_outcome = serde_json::to_value(report.outcome).ok().and_then(|o| o.as_str().map(str::to_owned));
        let bytes = serde_json::to_vec(&record).expect("plain data serializes");
        match store.save(&key, &bytes, &Expect::Version(v.etag)).await {
            Err(StoreError::Conflict) => continue,
            Err(e) => {
                tracing::error!(watch, error = %e, "cannot note the outcome on the epoch record");
                return;
            }
            Ok(_) => return,
        }
    }
}
