//! `bcdr`: the operator CLI for the failover bundle.

mod host;
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
    }
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("BCDR_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
