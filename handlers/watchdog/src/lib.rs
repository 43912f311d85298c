//! The watchdog function app: its configuration, the tick that probes and decides, and the
//! status endpoint. The decisions themselves are `bcdr_core::watch::step`, a pure function; this
//! crate is the shell that loads, probes, writes and carries out.

mod config;
mod monitor;
mod status;
mod tick;

pub use bcdr_core::activation_client::{outcome_of, ActivationApi, SignedActivation};
pub use bcdr_core::prober::{HttpProber, Prober};
pub use bcdr_core::record::{Status, WatchStatus};
pub use config::{AlertUrls, Config, WatcherConfig};
pub use status::{page as status_page, read as read_status};
pub use tick::{TickError, WatchOutcome, Watchdog};

use std::sync::Arc;

use bcdr_core::invocation::InvocationResponse;
use bcdr_core::runtime::{FunctionApp, InvocationError};
use http::Method;

/// The function app: `watchdog` (timer, binding `timer`), `status` (`GET /api/status`), and for
/// monitors and dashboards `monitor` (`GET /api/status/monitor`) and `badge`
/// (`GET /api/status/badge`).
pub fn app(watchdog: Watchdog) -> FunctionApp {
    let watchdog = Arc::new(watchdog);
    let for_status = watchdog.clone();
    let (for_monitor, for_badge) = (watchdog.clone(), watchdog.clone());
    FunctionApp::new()
        .timer("watchdog", "timer", move |invocation| {
            let watchdog = watchdog.clone();
            async move {
                if invocation.timer.is_past_due {
                    tracing::warn!("the tick is late (past due)");
                }
                let outcomes = watchdog.tick().await;
                let logs: Vec<String> = outcomes.iter().map(|o| o.summary()).collect();
                if let Some(failed) = outcomes.iter().find(|o| o.error.is_some()) {
                    // A failed tick must fail the invocation, so the host (and its alerts) see it.
                    return Err(InvocationError(failed.summary()));
                }
                Ok(InvocationResponse { logs, ..Default::default() })
            }
        })
        .http("status", "status", &[Method::GET], move |req| {
            let watchdog = for_status.clone();
            async move { status::answer(&watchdog, &req).await }
        })
        .http("monitor", "status/monitor", &[Method::GET], move |req| {
            let watchdog = for_monitor.clone();
            async move { monitor::answer(&watchdog, &req).await }
        })
        .http("badge", "status/badge", &[Method::GET], move |req| {
            let watchdog = for_badge.clone();
            async move { monitor::badge(&watchdog, &req).await }
        })
}
