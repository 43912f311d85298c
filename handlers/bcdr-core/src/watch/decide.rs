//! The watch's decisions as one pure function: [`step`] takes the stored state, one input, the
//! policy and the time, and returns the next state with the decision (actions and log record).
//! It reads no clock and does no I/O, so every rule can be tested by replaying a script.
//!
//! Longer than most files on purpose: the rules are one function's branches, and keeping them in
//! one file keeps their order (commands, then observations, then housekeeping) visible.

use chrono::{DateTime, SecondsFormat, Utc};

use super::decision::{Action, Alert, AlertKind, Decision, Severity, Step};
use super::input::{ActivationOutcome, Command, Input};
use super::policy::{ActivationMode, WatchPolicy};
use super::probe::Observation;
use super::state::{ActivationRecord, OpenAlert, Pause, Phase, ProbeRecord, Vote, WatchState, HISTORY_LEN};

/// Steps the watch with one input from `watcher` (for commands: whoever sent them) at `now`.
pub fn step(state: &WatchState, input: Input, watcher: &str, policy: &WatchPolicy, now: DateTime<Utc>) -> Step {
    let mut run = Run {
        s: state.clone(),
        watcher,
        policy,
        now,
        notes: Vec::new(),
        actions: Vec::new(),
        rejected: None,
        recovered: false,
    };
    let from = state.phase;
    run.expire_pause();
    run.expire_votes();
    match &input {
        Input::Observation(o) => run.observe(o),
        Input::Command(c) => run.command(c),
    }
    run.reconcile_alerts();
    run.send_reminders();
    run.finish(input, from)
}

/// One step in progress: the state being changed and what has been decided so far.
struct Run<'a> {
    s: WatchState,
    watcher: &'a str,
    policy: &'a WatchPolicy,
    now: DateTime<Utc>,
    notes: Vec<String>,
    actions: Vec<Action>,
    rejected: Option<String>,
    /// This step declared the primary recovered (M consecutive ups), so the alerts it closes
    /// say so rather than closing quietly.
    recovered: bool,
}

fn time(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Run<'_> {
    fn n(&self) -> u32 {
        self.policy.failure_threshold.max(1)
    }

    fn m(&self) -> u32 {
        self.policy.success_threshold.max(1)
    }

    fn k(&self) -> usize {
        self.policy.quorum.required.max(1) as usize
    }

    fn note(&mut self, note: impl Into<String>) {
        self.notes.push(note.into());
    }

    fn alert(&mut self, severity: Severity, kind: AlertKind, message: String) {
        self.actions.push(Action::Alert(Alert { severity, kind, message, reminder: false }));
    }

    fn reject(&mut self, why: String) {
        self.note(format!("rejected: {why}"));
        self.rejected = Some(why);
    }

    fn finish(mut self, input: Input, from: Phase) -> Step {
        if self.s.phase != from {
            self.s.phase_since = Some(self.now);
        }
        if self.notes.is_empty() {
            self.notes.push("nothing to do".into());
        }
        let decision = Decision {
            at: self.now,
            watcher: self.watcher.to_owned(),
            input,
            epoch: self.s.epoch,
            from,
            to: self.s.phase,
            note: self.notes.join("; "),
            actions: self.actions,
            rejected: self.rejected,
        };
        Step { state: self.s, decision }
    }

    // --- housekeeping, before the input ---

    /// A pause ends by itself, so a forgotten one cannot leave the watch blind.
    fn expire_pause(&mut self) {
        if self.s.pause.as_ref().is_some_and(|p| self.now >= p.until) {
            let p = self.s.pause.take().expect("checked above");
            self.note(format!("pause by {} ended", p.by));
            self.alert(
                Severity::Info,
                AlertKind::Resumed,
                format!("watching again: the pause by {} ({}) ended at {}", p.by, p.reason, time(p.until)),
            );
        }
    }

    fn expire_votes(&mut self) {
        let expired: Vec<String> = self
            .s
            .votes
            .iter()
            .filter(|(_, v)| !self.s.vote_counts(v, self.policy, self.now))
            .map(|(w, _)| w.clone())
            .collect();
        for w in expired {
            let v = self.s.votes.remove(&w).expect("listed above");
            self.note(format!("vote of {w} expired (last down {})", time(v.at)));
        }
    }

    /// Why observations do not count right now, if they do not.
    fn suppression(&self) -> Option<String> {
        if let Some(p) = self.s.pause_at(self.now) {
            return Some(format!("paused by {} until {}: {}", p.by, time(p.until), p.reason));
        }
        self.policy.maintenance_at(self.now).map(|w| format!("maintenance until {}: {}", time(w.end), w.reason))
    }

    /// Whether any watcher still reporting has a failure count or a vote. A watcher silent for
    /// longer than a vote lasts no longer holds the watch in `suspect`.
    fn anyone_failing(&self) -> bool {
        let ttl = self.policy.vote_ttl();
        !self.s.votes.is_empty()
            || self.s.watchers.values().any(|r| r.failures > 0 && r.last_seen.is_some_and(|t| self.now - t < ttl))
    }

    // --- observations ---

    fn observe(&mut self, o: &Observation) {
        let suppressed = self.suppression();
        let counted = suppressed.is_none() && !matches!(o, Observation::Inconclusive { .. });
        self.s.history.push_back(ProbeRecord {
            at: self.now,
            watcher: self.watcher.to_owned(),
            observation: o.clone(),
            counted,
        });
        while self.s.history.len() > HISTORY_LEN {
            self.s.history.pop_front();
        }
        let (n, m, now, epoch, ttl) = (self.n(), self.m(), self.now, self.s.epoch, self.policy.vote_ttl());
        let rec = self.s.watchers.entry(self.watcher.to_owned()).or_default();
        // A watcher silent for longer than a vote lasts starts its counts afresh: its earlier
        // observations are as stale as its vote would be.
        let silent_since = rec.last_seen.filter(|&t| now - t >= ttl && (rec.failures > 0 || rec.successes > 0));
        if silent_since.is_some() {
            rec.failures = 0;
            rec.successes = 0;
        }
        rec.last_seen = Some(now);
        if let Some(t) = silent_since {
            self.note(format!("silent since {}: counts start afresh", time(t)));
        }
        let rec = self.s.watchers.get_mut(self.watcher).expect("inserted above");

        if let Observation::Inconclusive { reason } = o {
            // The watcher cannot tell whether the primary is down; its counts stay as they were.
            rec.inconclusive += 1;
            let streak = rec.inconclusive;
            self.note(format!("inconclusive ({reason}): not counted, {streak} in a row"));
            return;
        }
        rec.inconclusive = 0;

        if let Some(why) = suppressed {
            // Counting starts afresh after the window or pause, so failures seen before it cannot
            // add up with those after it.
            rec.failures = 0;
            rec.successes = 0;
            self.s.votes.remove(self.watcher);
            self.note(format!("{}: not counted ({why})", o.label()));
            if self.s.phase == Phase::Suspect && !self.anyone_failing() {
                self.s.phase = Phase::Watching;
                self.note("suspicion dropped");
            }
            return;
        }

        match o {
            Observation::Up { latency_ms } => {
                rec.failures = 0;
                rec.successes += 1;
                let successes = rec.successes;
                self.note(format!("up ({latency_ms} ms): successes {successes} of {m}"));
                if self.s.votes.remove(self.watcher).is_some() {
                    self.note("vote withdrawn");
                }
            }
            Observation::Down { reason } => {
                rec.successes = 0;
                rec.failures += 1;
                let failures = rec.failures;
                self.note(format!("down ({reason}): failures {failures} of {n}"));
                // Votes only matter while the watch may still activate; once an epoch is
                // claimed they would only clutter the state.
                let voting = matches!(self.s.phase, Phase::Watching | Phase::Suspect | Phase::AwaitingApproval);
                if failures >= n && voting {
                    let since = self.s.votes.get(self.watcher).map_or(now, |v| v.since);
                    self.s.votes.insert(self.watcher.to_owned(), Vote { since, at: now, epoch });
                }
            }
            Observation::Inconclusive { .. } => unreachable!("handled above"),
        }

        match self.s.phase {
            Phase::Watching | Phase::Suspect => self.look_for_outage(o),
            Phase::AwaitingApproval => self.await_approval(o),
            Phase::Activating => self.retry_activation_if_due(),
            Phase::FailedOver => self.watch_while_failed_over(o),
        }
    }

    /// Watching or suspect: claim the next epoch once the stepping watcher has seen N downs in a
    /// row, k watchers' votes are live, no hold-down applies, and no approval is needed.
    fn look_for_outage(&mut self, o: &Observation) {
        let rec = &self.s.watchers[self.watcher];
        let (failures, successes) = (rec.failures, rec.successes);
        if let Observation::Down { reason } = o {
            if failures >= self.n() {
                let (votes, k) = (self.s.live_votes(self.policy, self.now), self.k());
                if votes < k {
                    self.s.phase = Phase::Suspect;
                    self.note(format!("votes {votes} of {k}: no quorum yet"));
                    return;
                }
                if let Some(until) = self.s.held_down_until(self.policy, self.now) {
                    self.s.phase = Phase::Suspect;
                    self.note(format!("held down until {}", time(until)));
                    return;
                }
                if self.policy.activation == ActivationMode::Approval {
                    self.s.phase = Phase::AwaitingApproval;
                    self.note(format!("votes {votes} of {k}: awaiting approval"));
                    return;
                }
                let why =
                    format!("{} saw {failures} downs in a row (last: {reason}); votes {votes} of {k}", self.watcher);
                self.claim(why, self.watcher.to_owned());
                return;
            }
        }
        if self.anyone_failing() {
            self.s.phase = Phase::Suspect;
        } else if self.s.phase == Phase::Suspect && successes >= self.m() {
            self.s.phase = Phase::Watching;
            self.recovered = true;
            self.note("recovered");
        }
    }

    fn await_approval(&mut self, o: &Observation) {
        let successes = self.s.watchers[self.watcher].successes;
        if o.is_up() && successes >= self.m() && !self.anyone_failing() {
            self.s.phase = Phase::Watching;
            self.recovered = true;
            self.note("recovered: approval no longer needed");
        }
    }

    /// The claim: the new epoch and phase `activating` go into the state this step returns, and
    /// the shell calls the activation only after writing it under the ETag it read, so of
    /// several watchers racing on the same outage exactly one gets to ask.
    fn claim(&mut self, reason: String, by: String) {
        let epoch = self.s.epoch + 1;
        self.s.epoch = epoch;
        self.s.phase = Phase::Activating;
        self.s.last_activation_at = Some(self.now);
        self.s.votes.clear();
        self.s.primary_back_since = None;
        self.s.activation = Some(ActivationRecord {
            epoch,
            requested_at: self.now,
            requested_by: by,
            reason: reason.clone(),
            attempts: 1,
            last_attempt_at: self.now,
            in_flight: true,
            last_error: None,
            gave_up: false,
        });
        self.note(format!("claim epoch {epoch}"));
        self.actions.push(Action::RequestActivation { epoch, reason: reason.clone() });
        self.alert(
            Severity::Critical,
            AlertKind::ActivationRequested,
            format!("activating the secondary (epoch {epoch}): {reason}"),
        );
    }

    /// Activating: ask again for the same epoch after a retryable failure, or when the call has
    /// reported nothing for `activationTimeoutMs` (the process making it died). Only counted
    /// observations get here, so a tick is the unit of retry, and nothing is retried while
    /// paused, in maintenance, or from a blind watcher.
    fn retry_activation_if_due(&mut self) {
        let (max, now, timeout) =
            (self.policy.max_activation_attempts.max(1), self.now, self.policy.activation_timeout());
        let Some(a) = self.s.activation.as_mut() else {
            self.note("activating without an activation record: waiting for an operator");
            return;
        };
        if a.gave_up {
            return;
        }
        let lost = a.in_flight && now - a.last_attempt_at >= timeout;
        if a.in_flight && !lost {
            return;
        }
        let why = if lost {
            format!("no result since {}", time(a.last_attempt_at))
        } else {
            format!("last error: {}", a.last_error.as_deref().unwrap_or("unknown"))
        };
        if a.attempts >= max {
            a.gave_up = true;
            a.in_flight = false;
            if lost {
                a.last_error = Some(why.clone());
            }
            let (epoch, attempts) = (a.epoch, a.attempts);
            self.note(format!("epoch {epoch}: giving up after {attempts} attempts ({why})"));
            return;
        }
        a.attempts += 1;
        a.in_flight = true;
        a.last_attempt_at = now;
        let (epoch, attempt) = (a.epoch, a.attempts);
        self.note(format!("retry epoch {epoch}, attempt {attempt} of {max}"));
        self.actions.push(Action::RequestActivation { epoch, reason: format!("retry {attempt} of {max}: {why}") });
    }

    /// Failed over: failback is never automatic; a primary that is healthy again only raises
    /// `failbackIsManual`, and a later outage of it withdraws that advice.
    fn watch_while_failed_over(&mut self, o: &Observation) {
        let rec = &self.s.watchers[self.watcher];
        let (failures, successes) = (rec.failures, rec.successes);
        if o.is_up() && successes >= self.m() && self.s.primary_back_since.is_none() {
            self.s.primary_back_since = Some(self.now);
            self.note("primary healthy again: failback is manual");
        } else if o.is_down() && failures >= self.n() && self.s.primary_back_since.is_some() {
            self.s.primary_back_since = None;
            self.note("primary down again");
        }
    }

    // --- commands ---

    fn command(&mut self, c: &Command) {
        let by = match c {
            Command::Pause { by, .. }
            | Command::Resume { by }
            | Command::Approve { by, .. }
            | Command::Reject { by, .. }
            | Command::ForceActivate { by }
            | Command::Failback { by } => Some(by),
            Command::ActivationResult { .. } => None,
        };
        if by.is_some_and(|b| b.trim().is_empty()) {
            return self.reject("the command must say who sent it (by)".into());
        }
        match c {
            Command::Pause { reason, until, by } => self.pause(reason, *until, by),
            Command::Resume { by } => match self.s.pause.take() {
                None => self.reject("not paused".into()),
                Some(p) => {
                    self.note(format!("resumed by {by}"));
                    self.alert(
                        Severity::Info,
                        AlertKind::Resumed,
                        format!("watching again: {by} ended the pause by {} ({})", p.by, p.reason),
                    );
                }
            },
            Command::Approve { by, reason } => {
                if self.s.phase == Phase::AwaitingApproval {
                    let why = if reason.trim().is_empty() { String::new() } else { format!(": {reason}") };
                    self.claim(format!("approved by {by}{why}"), by.clone());
                } else {
                    self.reject(format!("nothing awaits approval (phase {})", self.s.phase));
                }
            }
            Command::Reject { by, reason, until } => {
                if self.s.phase != Phase::AwaitingApproval {
                    return self.reject(format!("nothing awaits approval (phase {})", self.s.phase));
                }
                if reason.trim().is_empty() {
                    return self.reject("a rejection needs a reason".into());
                }
                self.pause(&format!("approval rejected: {reason}"), *until, by);
                if self.s.pause.is_some() {
                    self.s.phase = Phase::Watching;
                    self.s.votes.clear();
                    self.note(format!("approval rejected by {by}"));
                }
            }
            Command::ForceActivate { by } => self.force(by),
            Command::Failback { by } => self.failback(by),
            Command::ActivationResult { epoch, outcome } => self.activation_result(*epoch, outcome),
        }
    }

    fn pause(&mut self, reason: &str, until: DateTime<Utc>, by: &str) {
        if reason.trim().is_empty() {
            return self.reject("a pause needs a reason".into());
        }
        if until <= self.now {
            return self.reject(format!("pause until {} is not in the future", time(until)));
        }
        self.s.pause = Some(Pause { reason: reason.to_owned(), until, by: by.to_owned(), since: self.now });
        // Counting starts afresh when the pause ends, as it does after a maintenance window.
        for rec in self.s.watchers.values_mut() {
            rec.failures = 0;
            rec.successes = 0;
        }
        self.s.votes.clear();
        if self.s.phase == Phase::Suspect {
            self.s.phase = Phase::Watching;
        }
        self.note(format!("paused by {by} until {}", time(until)));
        self.alert(
            Severity::Info,
            AlertKind::Paused,
            format!(
                "paused by {by} until {}: {reason}; observations are recorded but do not count, and nothing activates",
                time(until)
            ),
        );
    }

    fn force(&mut self, by: &str) {
        match self.s.phase {
            Phase::Watching | Phase::Suspect | Phase::AwaitingApproval => {
                self.claim(format!("forced by {by}"), by.to_owned())
            }
            Phase::Activating => {
                let now = self.now;
                let Some(a) = self.s.activation.as_mut() else {
                    return self.reject("activating without an activation record".into());
                };
                // One more call for the epoch already claimed; never a new epoch.
                a.attempts += 1;
                a.in_flight = true;
                a.gave_up = false;
                a.last_attempt_at = now;
                let (epoch, attempt) = (a.epoch, a.attempts);
                self.note(format!("forced retry of epoch {epoch}, attempt {attempt}"));
                self.actions.push(Action::RequestActivation { epoch, reason: format!("forced by {by}") });
            }
            Phase::FailedOver => self.reject(format!("already failed over (epoch {}); fail back first", self.s.epoch)),
        }
    }

    fn failback(&mut self, by: &str) {
        if matches!(self.s.phase, Phase::Watching | Phase::Suspect) {
            return self.reject(format!("nothing to fail back (phase {})", self.s.phase));
        }
        self.s.epoch += 1;
        self.s.phase = Phase::Watching;
        self.s.activation = None;
        self.s.primary_back_since = None;
        self.s.votes.clear();
        for rec in self.s.watchers.values_mut() {
            rec.failures = 0;
            rec.successes = 0;
        }
        let epoch = self.s.epoch;
        let hold = match self.s.held_down_until(self.policy, self.now) {
            Some(until) => format!("; a new activation is held down until {}", time(until)),
            None => String::new(),
        };
        self.note(format!("failback by {by}: watching under epoch {epoch}"));
        self.alert(
            Severity::Info,
            AlertKind::FailbackRecorded,
            format!("failback recorded by {by}: watching the primary again (epoch {epoch}){hold}"),
        );
    }

    fn activation_result(&mut self, epoch: u64, outcome: &ActivationOutcome) {
        let current = self.s.epoch;
        let phase = self.s.phase;
        let max = self.policy.max_activation_attempts.max(1);
        let in_flight = self.s.activation.as_ref().is_some_and(|a| a.epoch == epoch && a.in_flight);
        if phase != Phase::Activating || epoch != current || !in_flight {
            return self.reject(format!("no call in flight for epoch {epoch} (epoch {current}, phase {phase})"));
        }
        let a = self.s.activation.as_mut().expect("checked above");
        a.in_flight = false;
        let attempts = a.attempts;
        match outcome {
            ActivationOutcome::Succeeded => {
                a.last_error = None;
                self.s.phase = Phase::FailedOver;
                self.note(format!("epoch {epoch} activated"));
                self.alert(
                    Severity::Warning,
                    AlertKind::ActivationSucceeded,
                    format!("the secondary is active (epoch {epoch}, attempt {attempts}); failback is manual"),
                );
            }
            ActivationOutcome::Failed { reason, retryable } => {
                a.last_error = Some(reason.clone());
                if *retryable && attempts < max {
                    self.note(format!("attempt {attempts} of {max} failed: {reason}; retry on a later tick"));
                    if attempts == 1 {
                        self.alert(
                            Severity::Warning,
                            AlertKind::ActivationFailed,
                            format!("activation of epoch {epoch} failed: {reason}; retrying (up to {max} attempts)"),
                        );
                    }
                } else {
                    a.gave_up = true;
                    let why = if *retryable { "attempts used up" } else { "not retryable" };
                    self.note(format!("attempt {attempts} of {max} failed: {reason}; giving up ({why})"));
                }
            }
        }
    }

    // --- alerts ---

    /// The alerts whose condition stands in the new state: (kind, watcher, severity, message).
    fn standing_alerts(&self) -> Vec<(AlertKind, Option<String>, Severity, String)> {
        let s = &self.s;
        let mut want = Vec::new();
        let voters = || s.votes.keys().cloned().collect::<Vec<_>>().join(", ");
        let (votes, k) = (s.live_votes(self.policy, self.now), self.k());
        let open = |kind: AlertKind| s.open_alerts.iter().any(|a| a.kind == kind);
        // Once open, `primaryDown` stays open until the phase leaves `suspect`, so it closes on
        // a declared recovery (M ups) rather than on the first healthy answer.
        if s.phase == Phase::Suspect && (!s.votes.is_empty() || open(AlertKind::PrimaryDown)) {
            let (severity, message) = match s.held_down_until(self.policy, self.now) {
                Some(until) => (
                    Severity::Critical,
                    format!(
                        "primary down ({}: {votes} of {k} votes) but activation is held down until {} after the last one",
                        voters(),
                        time(until)
                    ),
                ),
                None => (Severity::Warning, format!("primary down for {} ({votes} of {k} votes needed to activate)", voters())),
            };
            want.push((AlertKind::PrimaryDown, None, severity, message));
        }
        if s.phase == Phase::AwaitingApproval {
            want.push((
                AlertKind::ApprovalNeeded,
                None,
                Severity::Critical,
                format!(
                    "primary down ({}: {votes} of {k} votes); activation waits for an operator's approval",
                    voters()
                ),
            ));
        }
        if let Some(a) = s.activation.as_ref().filter(|a| s.phase == Phase::Activating && a.gave_up) {
            want.push((
                AlertKind::ActivationFailed,
                None,
                Severity::Critical,
                format!(
                    "activation of epoch {} failed after {} attempts ({}); no more automatic retries: force activation, or fail back",
                    a.epoch,
                    a.attempts,
                    a.last_error.as_deref().unwrap_or("unknown error")
                ),
            ));
        }
        if let (Phase::FailedOver, Some(since)) = (s.phase, s.primary_back_since) {
            want.push((
                AlertKind::FailbackIsManual,
                None,
                Severity::Warning,
                format!(
                    "the primary has looked healthy since {} while the secondary is active (epoch {}); failback is manual: move the work back, then record the failback",
                    time(since),
                    s.epoch
                ),
            ));
        }
        for (w, rec) in &s.watchers {
            if rec.inconclusive >= self.n() {
                want.push((
                    AlertKind::WatcherNetworkSuspect,
                    Some(w.clone()),
                    Severity::Warning,
                    format!(
                        "watcher {w} reached neither the primary nor the control endpoint {} times in a row; its observations do not count",
                        rec.inconclusive
                    ),
                ));
            }
        }
        want
    }

    /// Opens the alerts whose condition now stands and closes those whose condition has gone.
    fn reconcile_alerts(&mut self) {
        let want = self.standing_alerts();
        let open = std::mem::take(&mut self.s.open_alerts);
        let (keep, gone): (Vec<_>, Vec<_>) =
            open.into_iter().partition(|a| want.iter().any(|(kind, w, ..)| *kind == a.kind && *w == a.watcher));
        self.s.open_alerts = keep;
        for a in gone {
            self.note(format!("closed {}", a.kind.label()));
            match a.kind {
                AlertKind::PrimaryDown | AlertKind::ApprovalNeeded if self.recovered => self.alert(
                    Severity::Info,
                    AlertKind::PrimaryRecovered,
                    format!(
                        "primary recovered: {} healthy observations in a row (down since {})",
                        self.m(),
                        time(a.since)
                    ),
                ),
                AlertKind::WatcherNetworkSuspect => self.alert(
                    Severity::Info,
                    AlertKind::WatcherNetworkRecovered,
                    format!(
                        "watcher {} reaches the network again (blind since {})",
                        a.watcher.as_deref().unwrap_or("?"),
                        time(a.since)
                    ),
                ),
                _ => {}
            }
        }
        for (kind, watcher, severity, message) in want {
            if !self.s.open_alerts.iter().any(|a| a.kind == kind && a.watcher == watcher) {
                self.alert(severity, kind, message.clone());
                self.s.open_alerts.push(OpenAlert {
                    kind,
                    watcher,
                    severity,
                    message,
                    since: self.now,
                    last_sent_at: self.now,
                });
            }
        }
    }

    fn send_reminders(&mut self) {
        let Some(every) = self.policy.reminder_every() else {
            return;
        };
        for a in &mut self.s.open_alerts {
            if self.now - a.last_sent_at >= every {
                a.last_sent_at = self.now;
                self.actions.push(Action::Alert(Alert {
                    severity: a.severity,
                    kind: a.kind,
                    message: a.message.clone(),
                    reminder: true,
                }));
            }
        }
    }
}
