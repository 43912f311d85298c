//! `bcdr plan`: work with the failover plan before it is deployed.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use bcdr_core::plan::{access, plan_schema, FailoverPlan, PlanError};
use bcdr_core::schedule::split;
use bcdr_core::watch::WatchPolicy;

#[derive(Debug, clap::Subcommand)]
pub enum PlanCommand {
    /// Validate a plan: every problem is printed with its JSON path; exits non-zero on any.
    Check {
        /// The plan file.
        #[arg(value_name = "FILE", default_value = "infra/failover-plan.json")]
        file: PathBuf,
    },
    /// Print the plan's JSON Schema (what infra/failover-plan.schema.json holds).
    Schema,
    /// Print the Azure roles the deployment (infra/main.bicep, from infra/roles.json) gives each
    /// app's identity for this plan: which role, on which resource, and why.
    Roles {
        /// The plan file.
        #[arg(value_name = "FILE", default_value = "infra/failover-plan.json")]
        file: PathBuf,
        /// Also list each role's actions.
        #[arg(long)]
        actions: bool,
    },
    /// Print the NCRONTAB schedules of a recurrence split across regions.
    ///
    /// Each region runs every interval; the regions take turns, so together they run every
    /// interval / regions and never at the same time.
    Schedule {
        /// How often each region runs, in minutes: a divisor of 60, or whole hours dividing a day.
        #[arg(long, value_name = "MINUTES")]
        every: u32,
        /// How many regions take turns; the first is the primary.
        #[arg(long, value_name = "N", default_value_t = 2)]
        regions: u32,
        /// Shift every region's runs this many seconds past the hour (or the day).
        #[arg(long, value_name = "S", default_value_t = 0)]
        offset_seconds: u32,
        /// Print JSON instead of one line per region.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(command: PlanCommand) -> anyhow::Result<()> {
    match command {
        PlanCommand::Check { file } => check(&file),
        PlanCommand::Schema => {
            println!("{}", serde_json::to_string_pretty(&plan_schema())?);
            Ok(())
        }
        PlanCommand::Roles { file, actions } => {
            let plan = FailoverPlan::from_file(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            print!("{}", roles(&plan, actions));
            Ok(())
        }
        PlanCommand::Schedule { every, regions, offset_seconds, json } => {
            print!("{}", schedule(every, regions, offset_seconds, json)?);
            Ok(())
        }
    }
}

/// The role assignments as printed: one line each (app, role, scope, why), and with `actions`
/// the role's actions below it.
fn roles(plan: &FailoverPlan, actions: bool) -> String {
    let mut out = String::new();
    for a in access::assignments(plan) {
        let role = match &a.role_id {
            Some(id) => format!("{} ({id})", a.role),
            None => "custom role".to_owned(),
        };
        out.push_str(&format!("{}: {role} on {}: {}\n", a.app.label(), a.scope, a.reason));
        if actions || a.role_id.is_none() {
            for action in &a.actions {
                out.push_str(&format!("    {action}\n"));
            }
            for action in &a.not_actions {
                out.push_str(&format!("    not {action}\n"));
            }
        }
    }
    out
}

/// The split schedules as printed: `primary: <expr>` lines, or JSON.
fn schedule(every: u32, regions: u32, offset_seconds: u32, json: bool) -> anyhow::Result<String> {
    let expressions = split(every, regions, offset_seconds)?;
    let labelled = expressions.iter().enumerate().map(|(i, e)| (region_label(i), e));
    if json {
        let schedules: Vec<_> =
            labelled.map(|(region, schedule)| serde_json::json!({"region": region, "schedule": schedule})).collect();
        let out = serde_json::json!({
            "everyMinutes": every,
            "offsetSeconds": offset_seconds,
            "gapSeconds": every * 60 / regions,
            "schedules": schedules,
        });
        return Ok(serde_json::to_string_pretty(&out)? + "\n");
    }
    Ok(labelled.map(|(region, schedule)| format!("{region}: {schedule}\n")).collect())
}

fn region_label(i: usize) -> String {
    match i {
        0 => "primary".to_owned(),
        1 => "secondary".to_owned(),
        _ => format!("region {}", i + 1),
    }
}

/// What a watch's policy promises about detection at the watchdog's interval, in one line.
fn detection(watch: &str, policy: &WatchPolicy, interval: Duration) -> String {
    let (best, typical, worst) = policy.detection_range(interval);
    let how = match policy.confirmations(interval) {
        0 => format!("one probe a tick, {} in a row", policy.failure_threshold),
        n => format!("a first down confirmed by {n} more probes {} s apart", policy.confirm_spacing().as_secs_f64()),
    };
    format!(
        "watch {watch:?} detects an outage in {} s at best, about {} s typically, {} s at worst (a tick every {} s, {how}); the primary may be down {} s without activating",
        best.as_secs(),
        typical.as_secs(),
        worst.as_secs(),
        interval.as_secs(),
        policy.tolerated_down(interval).as_secs()
    )
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
            if let Some(watchdog) = &plan.watchdog {
                let interval = watchdog.interval().unwrap_or(Duration::from_secs(60));
                for w in &watchdog.watches {
                    println!("{}: {}", file.display(), detection(&w.name, &w.policy, interval));
                }
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_is_explained_per_watch() {
        let minute = Duration::from_secs(60);
        assert_eq!(
            detection("orders", &WatchPolicy::default(), minute),
            "watch \"orders\" detects an outage in 16 s at best, about 50 s typically, 85 s at worst (a tick every 60 s, a first down confirmed by 2 more probes 8 s apart); the primary may be down 14 s without activating"
        );
        let per_tick = WatchPolicy { confirm_every_ms: 0, probe_timeout_ms: 30_000, ..WatchPolicy::default() };
        assert_eq!(
            detection("orders", &per_tick, minute),
            "watch \"orders\" detects an outage in 120 s at best, about 165 s typically, 211 s at worst (a tick every 60 s, one probe a tick, 3 in a row); the primary may be down 96 s without activating"
        );
    }

    #[test]
    fn roles_name_the_role_scope_and_reason_and_list_custom_actions() {
        let plan = FailoverPlan::from_file(std::path::Path::new("../../infra/failover-plan.json")).unwrap();
        let text = roles(&plan, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "health-check: Reader (acdd72a7-3385-48ef-bd42-f606fba81ae7) on /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orders-weu/providers/Microsoft.Logic/workflows/order-intake: check order-intake reads it"
        );
        assert!(text.contains("activation: custom role on /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orders-weu/providers/Microsoft.Logic/workflows/order-intake: fences order-intake (logicApp)\n    Microsoft.Authorization/permissions/read\n    Microsoft.Logic/workflows/read\n"), "{text}");
        assert!(text.contains("activation: Traffic Manager Contributor (a4b10055-b0c7-44c2-b00f-c7b5b3550cf7) on /subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-orders-global/providers/Microsoft.Network/trafficManagerProfiles/tm-orders: switches the trafficManager router\n"), "{text}");
        assert!(!text.contains("Microsoft.Network/trafficManagerProfiles/*"), "built-in actions only with --actions");
        assert!(roles(&plan, true).contains("    Microsoft.Network/trafficManagerProfiles/*\n"));
    }

    #[test]
    fn schedule_lines_and_json() {
        assert_eq!(schedule(20, 2, 0, false).unwrap(), "primary: 0 0,20,40 * * * *\nsecondary: 0 10,30,50 * * * *\n");
        assert_eq!(
            schedule(15, 3, 0, false).unwrap(),
            "primary: 0 0,15,30,45 * * * *\nsecondary: 0 5,20,35,50 * * * *\nregion 3: 0 10,25,40,55 * * * *\n"
        );
        let json: serde_json::Value = serde_json::from_str(&schedule(20, 2, 0, true).unwrap()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"everyMinutes": 20, "offsetSeconds": 0, "gapSeconds": 600, "schedules": [
                {"region": "primary", "schedule": "0 0,20,40 * * * *"},
                {"region": "secondary", "schedule": "0 10,30,50 * * * *"}
            ]})
        );
        assert_eq!(
            schedule(1, 7, 0, false).unwrap_err().to_string(),
            "every 1 min (60 s) cannot be split evenly over 7 regions: 60 is not a multiple of 7"
        );
    }
}
