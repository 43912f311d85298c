//! One app settings write per Logic Apps Standard site and phase. Every workflow of a site keeps
//! its state in the site's app settings, a settings write replaces the whole set, and each write
//! restarts the site (every workflow on it stops for a while, and writes meanwhile get 409). So
//! the workflows a phase switches on one site meet here: each says what it wants (or that it
//! wants nothing), and the last to arrive makes one write for all of them, which the others
//! wait for.

use std::sync::Mutex;

use tokio::sync::watch;
use tokio::time::Instant;

use super::target::Want;

/// The workflows of one site switched in one phase.
#[derive(Debug)]
pub(super) struct SiteBatch {
    expected: usize,
    state: Mutex<Gathered>,
    result: watch::Sender<Option<Result<String, String>>>,
}

#[derive(Debug, Default)]
struct Gathered {
    arrived: usize,
    changes: Vec<(String, Want)>,
}

/// What a workflow that has arrived does next.
#[derive(Debug, PartialEq)]
pub(super) enum Arrival {
    /// Others are still to come: wait for the write.
    Wait,
    /// The last to arrive: write these changes, then [`SiteBatch::finish`].
    Write(Vec<(String, Want)>),
    /// The last to arrive, and nobody wants a change.
    Nothing,
}

impl SiteBatch {
    pub fn new(expected: usize) -> Self {
        Self { expected, state: Mutex::default(), result: watch::Sender::new(None) }
    }

    /// One workflow arrives, wanting `change` (or nothing). Each member arrives once.
    pub fn arrive(&self, change: Option<(String, Want)>) -> Arrival {
        let mut gathered = self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        gathered.arrived += 1;
        gathered.changes.extend(change);
        if gathered.arrived < self.expected {
            Arrival::Wait
        } else if gathered.changes.is_empty() {
            Arrival::Nothing
        } else {
            Arrival::Write(std::mem::take(&mut gathered.changes))
        }
    }

    /// The write's result, for everyone waiting: a description, or why it failed.
    pub fn finish(&self, result: Result<String, String>) {
        self.result.send_replace(Some(result));
    }

    /// Waits for the write until `deadline`.
    pub async fn outcome(&self, deadline: Instant) -> Result<String, String> {
        let mut seen = self.result.subscribe();
        let result = match tokio::time::timeout_at(deadline, seen.wait_for(Option::is_some)).await {
            Ok(Ok(result)) => result.clone().unwrap_or_else(|| Err("no result".into())),
            _ => Err("the site's settings write did not finish before the deadline".into()),
        };
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_last_to_arrive_writes_for_everyone() {
        let batch = SiteBatch::new(3);
        assert_eq!(batch.arrive(Some(("a".into(), Want::Disabled))), Arrival::Wait);
        assert_eq!(batch.arrive(None), Arrival::Wait);
        assert_eq!(
            batch.arrive(Some(("b".into(), Want::Disabled))),
            Arrival::Write(vec![("a".into(), Want::Disabled), ("b".into(), Want::Disabled)])
        );
        batch.finish(Ok("written".into()));
        assert_eq!(batch.outcome(Instant::now()).await, Ok("written".into()));

        let idle = SiteBatch::new(1);
        assert_eq!(idle.arrive(None), Arrival::Nothing);
        assert!(idle.outcome(Instant::now()).await.is_err(), "nobody writes, so a waiter would give up");
    }
}
