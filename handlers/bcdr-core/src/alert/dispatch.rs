//! The fan-out: an alert is logged at once and sent to every sink concurrently on its own task,
//! each attempt under a timeout, retried once when the receiver was unavailable. The caller never
//! waits: activation must not be held up by a slow Teams. It gets a handle it may await when it
//! wants to know (tests, graceful shutdown) and may drop otherwise.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio::task::JoinHandle;

use super::{Alert, AlertError, AlertSink, LogSink};

/// The pause before the one retry, so a receiver that just failed gets a moment.
pub const DEFAULT_RETRY_DELAY: Duration = Duration::from_secs(1);

#[derive(Clone)]
pub struct Alerter {
    sinks: Arc<[Arc<dyn AlertSink>]>,
    per_sink_timeout: Duration,
    retry_delay: Duration,
}

impl std::fmt::Debug for Alerter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Alerter")
            .field("sinks", &self.sink_names())
            .field("per_sink_timeout", &self.per_sink_timeout)
            .field("retry_delay", &self.retry_delay)
            .finish()
    }
}

impl Alerter {
    /// `sinks` are the channels besides the log, which every alert goes to anyway.
    /// `per_sink_timeout` bounds each attempt, so one sink takes at most twice that plus the
    /// retry delay.
    pub fn new(sinks: Vec<Arc<dyn AlertSink>>, per_sink_timeout: Duration) -> Self {
        Self { sinks: sinks.into(), per_sink_timeout, retry_delay: DEFAULT_RETRY_DELAY }
    }

    pub fn with_retry_delay(mut self, retry_delay: Duration) -> Self {
        self.retry_delay = retry_delay;
        self
    }

    pub fn sink_names(&self) -> Vec<&str> {
        self.sinks.iter().map(|s| s.name()).collect()
    }

    /// Logs the alert, starts sending it to every sink, and returns at once. Must be called
    /// within a Tokio runtime; outside one, the alert is only logged and every sink reports
    /// itself unavailable.
    pub fn dispatch(&self, alert: Alert) -> AlertDelivery {
        LogSink::log(&alert);
        let alert = Arc::new(alert);
        let runtime = Handle::try_current();
        let pending = self
            .sinks
            .iter()
            .map(|sink| {
                let name = sink.name().to_owned();
                let pending = match &runtime {
                    Ok(runtime) => Pending::Running(runtime.spawn(deliver(
                        Arc::clone(sink),
                        Arc::clone(&alert),
                        self.per_sink_timeout,
                        self.retry_delay,
                    ))),
                    Err(_) => {
                        let error = AlertError::Unavailable { detail: "no async runtime to send on".to_owned() };
                        report(&name, &alert, &Err(error.clone()));
                        Pending::Done(Err(error))
                    }
                };
                (name, pending)
            })
            .collect();
        AlertDelivery { pending }
    }
}

/// The sends of one alert still under way. Dropping it lets them finish on their own.
#[derive(Debug)]
pub struct AlertDelivery {
    pending: Vec<(String, Pending)>,
}

#[derive(Debug)]
enum Pending {
    Running(JoinHandle<Result<(), AlertError>>),
    Done(Result<(), AlertError>),
}

impl AlertDelivery {
    /// Waits until every sink has delivered or given up, and says how each went, in the order
    /// the sinks were given.
    pub async fn settled(self) -> Vec<(String, Result<(), AlertError>)> {
        let mut out = Vec::with_capacity(self.pending.len());
        for (name, pending) in self.pending {
            let result = match pending {
                Pending::Done(result) => result,
                Pending::Running(task) => task.await.unwrap_or_else(|e| {
                    Err(AlertError::Unavailable { detail: format!("the send stopped unexpectedly: {e}") })
                }),
            };
            out.push((name, result));
        }
        out
    }

    /// How many sinks the alert is going to.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

async fn deliver(
    sink: Arc<dyn AlertSink>,
    alert: Arc<Alert>,
    timeout: Duration,
    retry_delay: Duration,
) -> Result<(), AlertError> {
    let mut result = attempt(sink.as_ref(), &alert, timeout).await;
    if let Err(e) = &result {
        if e.is_retryable() {
            tracing::warn!(
                target: "alert",
                event = "alert-retry",
                sink = sink.name(),
                watch = %alert.watch,
                kind = %alert.kind,
                epoch = alert.epoch,
                error = %e,
                "alert not delivered to {}, trying once more",
                sink.name()
            );
            tokio::time::sleep(retry_delay).await;
            result = attempt(sink.as_ref(), &alert, timeout).await;
        }
    }
    report(sink.name(), &alert, &result);
    result
}

async fn attempt(sink: &dyn AlertSink, alert: &Alert, timeout: Duration) -> Result<(), AlertError> {
    tokio::time::timeout(timeout, sink.send(alert))
        .await
        .unwrap_or_else(|_| Err(AlertError::Unavailable { detail: crate::outbound::no_answer_within(timeout) }))
}

/// The outcome, by sink name: sinks keep their URLs out of errors, so neither appears here.
fn report(sink: &str, alert: &Alert, result: &Result<(), AlertError>) {
    match result {
        Ok(()) => tracing::info!(
            target: "alert",
            event = "alert-delivered",
            sink,
            watch = %alert.watch,
            kind = %alert.kind,
            epoch = alert.epoch,
            "alert delivered to {sink}"
        ),
        Err(e) => tracing::error!(
            target: "alert",
            event = "alert-failed",
            sink,
            watch = %alert.watch,
            kind = %alert.kind,
            epoch = alert.epoch,
            error = %e,
            "alert not delivered to {sink}: {e}"
        ),
    }
}
