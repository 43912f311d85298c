//! The health-check handler: answers `GET|HEAD /api/health` in the primary region.

use std::process::ExitCode;

use anyhow::Context;
use bcdr_core::settings::Environment;
use bcdr_core::{logging, runtime};
use health_check::{app, Config};

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
    let listener =
        runtime::bind(config.port).await.with_context(|| format!("cannot listen on 127.0.0.1:{}", config.port))?;
    tracing::info!(port = config.port, plan = %config.plan_file.display(), checks = config.plan.health.checks.len(), "health-check ready");
    runtime::serve(app(config.service()), listener, runtime::shutdown_signal()).await;
    Ok(())
}
