//! The activation function app: `activate` (`POST /api/activate`) runs the failover plan on a
//! signed request, at most once per epoch, and records a report; `ready` (`GET /api/ready`) checks
//! that it could (token, permissions, targets). The plan's logic is `bcdr_core::failover`; this
//! crate is the shell: signatures, epochs, reports, HTTP answers.

mod config;
mod epochs;

pub use config::Config;
pub use epochs::{record_key, reports_key, EpochRecord};

use std::sync::Arc;
use std::time::Duration;

use bcdr_core::arm::ManagementApi;
use bcdr_core::failover::{self, Direction, Outcome, Report, RunOptions};
use bcdr_core::plan::FailoverPlan;
use bcdr_core::runtime::{self, FunctionApp, Request, Response};
use bcdr_core::signature::{ActivationRequest, Verifier};
use bcdr_core::store::StateStore;
use chrono::Utc;
use http::{Method, StatusCode};
use serde::Serialize;

/// Everything the two functions share.
pub struct Activation {
    pub plan: FailoverPlan,
    pub arm: Arc<dyn ManagementApi>,
    pub store: Arc<dyn StateStore>,
    pub verifier: Verifier,
    /// One run at a time in this process: two runs switching the same copies would interleave
    /// their reads and writes. (Across instances the epoch record orders them.)
    pub running: tokio::sync::Mutex<()>,
}

/// What `POST /api/activate` answers: the request it ran for and the report.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Answer<'a> {
    pub watch: &'a str,
    pub epoch: u64,
    pub requester: &'a str,
    pub reason: &'a str,
    /// How many times this epoch has been asked for, this request included.
    pub run: u32,
    pub report: &'a Report,
}

pub fn app(activation: Activation) -> FunctionApp {
    let activation = Arc::new(activation);
    let for_ready = activation.clone();
    FunctionApp::new()
        .http("activate", "activate", &[Method::POST], move |req| {
            let a = activation.clone();
            async move { a.activate(req).await }
        })
        .http("ready", "ready", &[Method::GET], move |_req| {
            let a = for_ready.clone();
            async move { a.ready().await }
        })
}

impl Activation {
    fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + Duration::from_millis(self.plan.activation.deadline_ms)
    }

    async fn activate(&self, req: Request) -> Response {
        // The signature covers the path the caller signed: the function's public path.
        if let Err(e) = self.verifier.verify("POST", &req.path, &req.headers, &req.body, Utc::now()) {
            tracing::warn!(reason = %e, code = e.code(), "activation request refused");
            return runtime::coded_problem(StatusCode::UNAUTHORIZED, &e.to_string(), e.code());
        }
        let request = match ActivationRequest::from_json(&req.body) {
            Ok(r) => r,
            Err(e) => return runtime::coded_problem(StatusCode::BAD_REQUEST, &e.to_string(), "bad-request"),
        };
        if self.plan.watch(&request.watch).is_none() {
            return runtime::coded_problem(
                StatusCode::NOT_FOUND,
                &format!("the plan has no watch {:?}", request.watch),
                "unknown-watch",
            );
        }
        let _running = self.running.lock().await;
        let now = Utc::now();
        let failback = request.direction == Direction::Failback;
        let record = if request.practice {
            None
        } else {
            let begun = if failback {
                epochs::failback(self.store.as_ref(), &request, now).await
            } else {
                epochs::begin(self.store.as_ref(), &request, now).await
            };
            match begun {
                Ok(r) => Some(r),
                Err(epochs::BeginError::Stale { current }) => {
                    return runtime::coded_problem(
                        StatusCode::CONFLICT,
                        &format!("epoch {} is older than epoch {current}, which already ran", request.epoch),
                        "stale-epoch",
                    )
                }
                Err(epochs::BeginError::FailedBack { epoch }) => {
                    return runtime::coded_problem(
                        StatusCode::CONFLICT,
                        &format!("epoch {epoch} was failed back; a new outage is a new epoch"),
                        "failed-back",
                    )
                }
                Err(epochs::BeginError::NotFailedOver { current }) => {
                    let why = match current {
                        Some(c) => format!("failback is for the epoch that failed over ({c}), not {}", request.epoch),
                        None => "nothing was failed over for this watch".to_owned(),
                    };
                    return runtime::coded_problem(StatusCode::CONFLICT, &why, "not-failed-over");
                }
                Err(epochs::BeginError::Store(e)) => {
                    return runtime::coded_problem(
                        StatusCode::SERVICE_UNAVAILABLE,
                        &format!("state store: {e}"),
                        "store-unavailable",
                    )
                }
            }
        };
        tracing::warn!(watch = %request.watch, epoch = request.epoch, requester = %request.requester, direction = ?request.direction, practice = request.practice, force = request.force, "activation starts");
        let options = RunOptions {
            direction: request.direction,
            practice: request.practice,
            force: request.force,
            // The fence grace counts from the epoch's first failover run; a failback starts afresh.
            first_started_at: match &record {
                Some(r) if !failback => r.first_started_at,
                _ => now,
            },
            now,
            deadline: self.deadline(),
        };
        let report = failover::run(&self.plan, self.arm.as_ref(), &options).await;
        tracing::warn!(watch = %request.watch, epoch = request.epoch, outcome = ?report.outcome, actions = report.actions.len(), "activation finished");
        let answer = Answer {
            watch: &request.watch,
            epoch: request.epoch,
            requester: &request.requester,
            reason: &request.reason,
            run: record.as_ref().map_or(0, |r| r.runs),
            report: &report,
        };
        let line = serde_json::to_vec(&answer).expect("plain data serializes");
        if let Err(e) = self.store.append(&reports_key(&request.watch), &line).await {
            // The run happened; failing the answer now would make the caller run it again.
            tracing::error!(watch = %request.watch, error = %e, "cannot record the activation report");
        }
        if let Some(r) = record.as_ref().filter(|_| !failback) {
            epochs::finish(self.store.as_ref(), &request.watch, r.epoch, &report).await;
        }
        let status = match report.outcome {
            Outcome::Succeeded | Outcome::Practiced => StatusCode::OK,
            // Not finished: the caller asks again for the same epoch later (or an operator forces).
            Outcome::WaitingForFence => StatusCode::ACCEPTED,
            Outcome::Failed => StatusCode::BAD_GATEWAY,
        };
        runtime::json(status, &answer)
    }

    async fn ready(&self) -> Response {
        let readiness = failover::ready(&self.plan, self.arm.as_ref(), self.deadline()).await;
        let status = if readiness.ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        runtime::json(status, &readiness)
    }
}
