//! The watchdog on AWS Lambda (`bootstrap` for `provided.al2023`), invoked by its EventBridge
//! Scheduler schedule.

use std::process::ExitCode;
use std::sync::Arc;

use bcdr_core::settings::Environment;
use bcdr_core::{logging, runtime};
use lambda_runtime::{service_fn, LambdaEvent};
use watchdog_lambda::LambdaConfig;

// musl's allocator serializes threads under load; the handlers ship as static musl binaries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    logging::init();
    runtime::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let config = LambdaConfig::from_settings(&Environment, &runtime::executable_dir())?;
    let watchdog = Arc::new(config.watchdog().map_err(|e| anyhow::anyhow!("cannot open the state store: {e}"))?);
    let interval = config.watcher.plan.watchdog.as_ref().and_then(|w| w.interval());
    tracing::info!(watcher = %watchdog.watcher, watches = watchdog.watches.len(), "watchdog on lambda ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let watchdog = watchdog.clone();
        async move { watchdog_lambda::handle(&watchdog, interval, event).await }
    }))
    .await
    .map_err(|e| anyhow::anyhow!("the Lambda runtime stopped: {e}"))
}
