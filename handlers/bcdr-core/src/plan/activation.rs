//! The plan's `activation` section: how activation runs. The section as written is already the
//! typed value; only its deadline has a rule.

use serde::{Deserialize, Serialize};

use crate::settings::Problems;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActivationPlan {
    /// A client-state or webhook copy whose primary cannot be confirmed disabled is enabled
    /// anyway once this long has passed since the activation began (0: only by an operator).
    #[serde(default = "default_fence_grace_ms")]
    pub fence_grace_ms: u64,
    /// All ARM calls of one activation run, retries included, finish within this.
    #[serde(default = "default_activation_deadline_ms")]
    pub deadline_ms: u64,
}

fn default_fence_grace_ms() -> u64 {
    30 * 60 * 1000
}
fn default_activation_deadline_ms() -> u64 {
    4 * 60 * 1000
}

impl Default for ActivationPlan {
    fn default() -> Self {
        Self { fence_grace_ms: default_fence_grace_ms(), deadline_ms: default_activation_deadline_ms() }
    }
}

impl ActivationPlan {
    /// The section's rule, its problem at `$.activation.deadlineMs`.
    pub(super) fn check(&self, p: &mut Problems) {
        if !(10_000..=3_600_000).contains(&self.deadline_ms) {
            p.push("$.activation.deadlineMs", Some(&self.deadline_ms.to_string()), "must be between 10000 and 3600000");
        }
    }
}
