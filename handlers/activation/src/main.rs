//! The activation handler: `POST /api/activate` and `GET /api/ready`, in the secondary region.

use std::process::ExitCode;

use activation::{app, Config};
use anyhow::Context;
use bcdr_core::settings::Environment;
use bcdr_core::{logging, runtime};

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
    let port = config.port;
    let resources = config.plan.resources.len();
    let service = config.service().map_err(|e| anyhow::anyhow!("cannot open the state store: {e}"))?;
    let listener = runtime::bind(port).await.with_context(|| format!("cannot listen on 127.0.0.1:{port}"))?;
    tracing::info!(port, resources, "activation ready");
    runtime::serve(app(service), listener, runtime::shutdown_signal()).await;
    Ok(())
}
