//! The watchdog handler: the `watchdog` timer and `GET /api/status`, in the secondary region.

use std::process::ExitCode;

use anyhow::Context;
use bcdr_core::settings::Environment;
use bcdr_core::{logging, runtime};
use watchdog::{app, Config};

// musl's allocator serializes threads under load; the handlers ship as static musl binaries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    logging::init();
    runtime::exit_code(run().await)
}

async fn run() -> anyhow::Result<()> {
    let config = Config::from_settings(&Environment, &runtime::executable_dir())?;
    let watchdog = config.watchdog().map_err(|e| anyhow::anyhow!("cannot open the state store: {e}"))?;
    let listener =
        runtime::bind(config.port).await.with_context(|| format!("cannot listen on 127.0.0.1:{}", config.port))?;
    tracing::info!(port = config.port, watcher = %config.watcher.name, watches = config.watcher.watches.len(), "watchdog ready");
    runtime::serve(app(watchdog), listener, runtime::shutdown_signal()).await;
    Ok(())
}
