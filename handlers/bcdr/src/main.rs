//! `bcdr`: the operator CLI for the failover bundle.

mod host;
mod ops;
mod plan;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

#[derive(Debug, Parser)]
#[command(name = "bcdr", version, about = "Operate the regional failover bundle")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run function apps locally, as the Azure Functions host runs custom handlers.
    Host(host::HostArgs),
    /// Check the failover plan.
    #[command(subcommand)]
    Plan(plan::PlanCommand),
    /// Show what the watchdog thinks: each watch's phase, counts, votes, probes and decisions.
    Status {
        #[command(flatten)]
        target: ops::Target,
    },
    /// Pause a watch (maintenance): probes are recorded, nothing counts or activates.
    Pause {
        #[command(flatten)]
        target: ops::Target,
        /// Why; shown in status and alerts.
        #[arg(long)]
        reason: String,
        /// When the pause ends by itself: +30m, +2h, +1d, or a time like 2026-12-01T22:00:00Z.
        #[arg(long)]
        until: String,
    },
    /// End a pause now.
    Resume {
        #[command(flatten)]
        target: ops::Target,
    },
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("bcdr: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging();
    match cli.command {
        Command::Host(args) => host::run(args),
        Command::Plan(command) => plan::run(command),
        Command::Status { target } => block_on(ops::status(&target)),
        Command::Pause { target, reason, until } => block_on(ops::pause(&target, &reason, &until)),
        Command::Resume { target } => block_on(ops::resume(&target)),
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("BCDR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
