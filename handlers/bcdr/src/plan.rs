//! `bcdr plan`: work with the failover plan before it is deployed.

use std::path::PathBuf;

use anyhow::bail;
use bcdr_core::plan::{FailoverPlan, PlanError};

#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Validate a plan: every problem is printed with its JSON path; exits non-zero on any.
    Check {
        /// The plan file.
        #[arg(value_name = "FILE", default_value = "infra/failover-plan.json")]
        file: PathBuf,
    },
}

pub fn run(command: PlanCommand) -> anyhow::Result<()> {
    match command {
        PlanCommand::Check { file } => check(&file),
    }
}

fn check(file: &std::path::Path) -> anyhow::Result<()> {
    match FailoverPlan::from_file(file) {
        Ok(plan) => {
            println!(
                "{}: valid (plan {:?}, {} -> {}, {} health checks)",
                file.display(),
                plan.name,
                plan.regions.primary,
                plan.regions.secondary,
                plan.health.checks.len()
            );
            Ok(())
        }
        Err(PlanError::Invalid(e)) => {
            for p in &e.problems {
                println!("{}: {p}", file.display());
            }
            bail!("{}: {} problem{}", file.display(), e.problems.len(), if e.problems.len() == 1 { "" } else { "s" })
        }
        Err(e) => bail!("{}: {e}", file.display()),
    }
}
