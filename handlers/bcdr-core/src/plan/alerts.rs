//! The plan's `alerts` section: where alerts go besides the log. Its type, [`AlertPlan`], lives
//! with the channels it names in [`crate::alert`], which also holds its rules and resolves each
//! channel's URL from the app settings; the plan reads it as written.

pub use crate::alert::AlertPlan;

use crate::settings::Problems;

/// The section's rules, each problem at its path under `$.alerts`.
pub(super) fn check(alerts: &AlertPlan, p: &mut Problems) {
    alerts.validate("$.alerts", p);
}
