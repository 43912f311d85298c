//! The failover plan executor, which the activation function runs: carries a plan out through
//! ARM (fence the old copies, enable the new ones, switch the router) and reports every action;
//! and readiness, the same reads without the writes.
//!
//! [`run`] takes the plan, the [`ManagementApi`](crate::arm::ManagementApi) and [`RunOptions`]
//! (direction, practice, force, the epoch's first start, now, one deadline) and returns a
//! [`Report`]. It never fails as a whole: each problem is one action's status, one resource's
//! failure does not stop the others, and the outcome is the worst of them (failed, then
//! waitingForFence, else succeeded, or practiced in practice mode). The epoch bookkeeping, the
//! request signature and storing the report belong to the activation app around it.
//!
//! # What each resource gets (failover; failback swaps the copies and the router endpoints)
//!
//! Each resource carries its [`Switch`](crate::plan::Switch), which the plan's trigger-type table
//! ([`trigger_rule`](crate::plan::trigger_rule)) chose when the plan was read; the same table
//! refuses the roles a trigger does not allow, so a run never meets one.
//!
//! - **fence first** (pollingClientState, webhook; active-passive): *fence* the primary copy
//!   (disable, then read back until it says Disabled / Stopped / FlowState Disabled), then
//!   *enable* the secondary. If the primary cannot be disabled or confirmed (ARM errors, the
//!   region is down), the secondary is not touched: its action is `waitingForFence` and so is the
//!   outcome, unless `force` is set or `fenceGraceMs` (non-zero) has passed since
//!   `first_started_at`; then it is enabled with `fenceOverridden: forced | gracePeriodPassed`.
//!   Two copies of these must never run together.
//! - **move** (recurrence, pollingServerState, request; active-passive): *enable* the secondary;
//!   the primary is disabled at the same time as a best effort (`unconfirmed` when its region
//!   does not answer, which does not fail the run).
//! - **keep enabled** (pollingServerState, request; active-active): make sure the secondary runs
//!   (a read, `alreadyDone`, or an enable if it was off).
//! - **nothing** (recurrence on a split schedule): `skipped`: each region already runs its own
//!   slots.
//! - **router**: after the request-triggered resources, *route*: enable the secondary's endpoint
//!   (Traffic Manager `endpointStatus`) or origin (Front Door `enabledState`), then disable the
//!   primary's as a best effort; for API Management, one `switchBackend` of the backend the
//!   APIs use (`backend`: a pool's priorities put the secondary's backend first, or a single
//!   backend takes its URL), written with `If-Match` and read back. It is `skipped` when a
//!   request-triggered secondary copy is not running, so traffic is never sent to a stopped copy.
//!
//! # How
//!
//! Resources run concurrently, each its own fence-then-enable sequence, so a hanging region
//! holds back only the resources that must wait for it. A fence gets half the time left before
//! the deadline; everything else gets the whole. Every action reads first and writes only when
//! the target is not yet as wanted (`alreadyDone`), so running the same epoch again writes
//! nothing that is already done. In practice mode every target is read and each write a real
//! run would make is reported as `wouldDo` with its method and path; nothing is written (the app
//! settings list of a Logic Apps Standard site is a POST, but a read). The workflows of one
//! Logic Apps Standard site that a phase switches share one settings write (`site`): each write
//! sends the site's whole app settings back and restarts it; each workflow is then confirmed
//! through its `flowState`, which changes only when the restart is over.

mod backend;
mod handover;
mod ready;
mod report;
mod run;
mod site;
mod target;

#[cfg(test)]
mod tests;

pub use ready::{ready, Readiness, TargetCheck};
pub use report::{ActionReport, ActionStatus, Direction, FenceOverride, Outcome, Report, Side, Stage};
pub use run::{run, RunOptions};
