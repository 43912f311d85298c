//! `bcdr`: the operator CLI for the failover bundle.

#[cfg(feature = "demo")]
mod demo;
mod host;
mod ops;
mod plan;
mod runs;

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
    /// Work with the failover plan: check it, print its schema, compute split schedules.
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
    /// Approve the activation a watch awaits (policy `activation: approval`): it runs by the
    /// normal path, fences and drains included; nothing is forced.
    Approve {
        #[command(flatten)]
        target: ops::Target,
        #[command(flatten)]
        activation: ops::ActivationTarget,
        /// Why; recorded in the decision log.
        #[arg(long, default_value = "")]
        reason: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Decline the activation a watch awaits: the watch is paused until --until, then asks again
    /// if the primary is still down.
    Reject {
        #[command(flatten)]
        target: ops::Target,
        /// Why; shown in status, the decision log and the alerts.
        #[arg(long)]
        reason: String,
        /// When to ask again: +30m, +2h, +1d, or a time like 2026-12-01T22:00:00Z.
        #[arg(long, default_value = "+1h")]
        until: String,
    },
    /// Run the plan through the activation endpoint: a practice (reads only) or a forced failover.
    #[command(group(clap::ArgGroup::new("mode").required(true).args(["practice", "force"])))]
    Activate {
        #[command(flatten)]
        target: ops::Target,
        #[command(flatten)]
        activation: ops::ActivationTarget,
        /// Read every target and list the calls a failover would make; write nothing.
        #[arg(long)]
        practice: bool,
        /// Fail over now, even within the hold-down and without a confirmed fence.
        #[arg(long)]
        force: bool,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// The whole story locally: both regions' apps, simulated Azure, an outage, the failover and
    /// the failback, in about half a minute.
    #[cfg(feature = "demo")]
    Demo(demo::DemoArgs),
    /// Rehearse a failover end to end: activation's readiness, then a practice run.
    Drill {
        #[command(flatten)]
        target: ops::Target,
        #[command(flatten)]
        activation: ops::ActivationTarget,
    },
    /// Move the work back to the primary once it is healthy: checks, a practice, the plan in
    /// reverse, then a new epoch on the watch.
    Failback {
        #[command(flatten)]
        target: ops::Target,
        #[command(flatten)]
        activation: ops::ActivationTarget,
        /// Function key of the primary's health-check.
        #[arg(long = "health-key", env = "BCDR_HEALTH_KEY", hide_env_values = true)]
        health_key: Option<String>,
        /// How long the watchdog must have seen the primary healthy: 30s, 10m, 1h.
        #[arg(long = "healthy-for", default_value = "10m", value_parser = parse_duration)]
        healthy_for: std::time::Duration,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// `30s`, `10m`, `1h`.
fn parse_duration(raw: &str) -> Result<std::time::Duration, String> {
    let bad = || format!("{raw:?}: expected a duration like 30s, 10m or 1h");
    let split = raw.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
    let (n, unit) = raw.split_at(split);
    let n: u64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(bad()),
    };
    Ok(std::time::Duration::from_secs(secs))
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
        Command::Approve { target, activation, reason, yes } => {
            block_on(runs::approve(&target, &activation, &reason, yes))
        }
        Command::Reject { target, reason, until } => block_on(ops::reject(&target, &reason, &until)),
        Command::Activate { target, activation, practice, force: _, yes } => {
            if practice {
                block_on(runs::practice(&target, &activation, "practice"))
            } else {
                block_on(runs::force(&target, &activation, yes))
            }
        }
        #[cfg(feature = "demo")]
        Command::Demo(args) => {
            tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(demo::run(args))
        }
        Command::Drill { target, activation } => block_on(runs::drill(&target, &activation)),
        Command::Failback { target, activation, health_key, healthy_for, yes } => {
            block_on(runs::failback(&target, &activation, health_key, healthy_for, yes))
        }
    }
}

fn block_on<F: std::future::Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(f)
}

fn init_logging() {
    let filter = EnvFilter::try_from_env("BCDR_LOG").unwrap_or_else(|_| EnvFilter::new("info,alert=warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal())
        .init();
}
