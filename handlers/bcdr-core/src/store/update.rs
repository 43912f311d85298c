//! The one conditional-update loop over a JSON value in a [`StateStore`]: load it with its ETag,
//! let the caller decide the next value, write it only if nobody wrote in between, and on a lost
//! race reload and decide again after a short jittered pause. An unreadable value is an error,
//! never overwritten.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{ETag, Expect, StateStore, StoreError};

/// How many lost races one update takes before giving up (the caller retries on its next turn).
pub const MAX_CONFLICTS: usize = 16;

/// A value as read, with the version a conditional write must find.
#[derive(Debug, Clone, PartialEq)]
pub struct Loaded<T> {
    /// `None` when nothing is stored under the key yet.
    pub value: Option<T>,
    pub etag: Option<ETag>,
}

impl<T> Loaded<T> {
    fn expect(&self) -> Expect {
        match &self.etag {
            Some(etag) => Expect::Version(etag.clone()),
            None => Expect::Absent,
        }
    }
}

/// Why an update did not write.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError<E> {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The stored value does not parse: an operator must look at it; it is left as it is.
    #[error("{key} is unreadable: {message}")]
    Unreadable { key: String, message: String },
    /// Other writers won every race.
    #[error("lost the write to other writers {0} times in a row")]
    Contended(usize),
    /// The caller's decision was not to write.
    #[error("{0}")]
    Refused(E),
}

/// Reads the JSON value under `key`, and the version it was read at. A load never refuses, so
/// `E` is whatever the caller's decisions refuse with.
pub async fn load<T: DeserializeOwned, E>(store: &dyn StateStore, key: &str) -> Result<Loaded<T>, UpdateError<E>> {
    match store.load(key).await? {
        None => Ok(Loaded { value: None, etag: None }),
        Some(v) => match serde_json::from_slice(&v.bytes) {
            Ok(value) => Ok(Loaded { value: Some(value), etag: Some(v.etag) }),
            Err(e) => Err(UpdateError::Unreadable { key: key.to_owned(), message: e.to_string() }),
        },
    }
}

/// Loads the value under `key` (or starts from `first`, a value the caller already loaded),
/// lets `decide` give the next value and what to return, and writes it conditionally; on a
/// conflict, reloads and decides again. `decide` may run several times, so it must not act on
/// the world: acting belongs after the write, on what it returned.
pub async fn update<T, O, E>(
    store: &dyn StateStore,
    key: &str,
    mut first: Option<Loaded<T>>,
    mut decide: impl FnMut(Option<T>) -> Result<(T, O), E>,
) -> Result<O, UpdateError<E>>
where
    T: Serialize + DeserializeOwned,
{
    for attempt in 0..MAX_CONFLICTS {
        if attempt > 0 {
            // Racing writers that retry in lockstep keep colliding; spread them out.
            tokio::time::sleep(conflict_backoff(attempt)).await;
        }
        let loaded = match first.take() {
            Some(l) => l,
            None => load(store, key).await?,
        };
        let expect = loaded.expect();
        let (next, out) = decide(loaded.value).map_err(UpdateError::Refused)?;
        let bytes = serde_json::to_vec(&next).expect("plain data serializes");
        match store.save(key, &bytes, &expect).await {
            Ok(_) => return Ok(out),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(UpdateError::Contended(MAX_CONFLICTS))
}

/// A random pause of up to 4 ms times the attempt, without a random-number crate: the clock's
/// nanoseconds differ between racing processes, which is all the spreading needs.
fn conflict_backoff(attempt: usize) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let cap_us = 4_000 * attempt as u64;
    Duration::from_micros(u64::from(nanos) % cap_us.max(1))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use async_trait::async_trait;

    use super::*;
    use crate::store::{FileStore, Versioned};

    /// A store whose first `losses` saves lose to a writer that bumps the counter in between.
    struct Contested {
        inner: FileStore,
        losses: AtomicUsize,
    }

    #[async_trait]
    impl StateStore for Contested {
        async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
            self.inner.load(key).await
        }
        async fn save(&self, key: &str, bytes: &[u8], expect: &Expect) -> Result<ETag, StoreError> {
            if self.losses.load(Ordering::SeqCst) > 0 {
                self.losses.fetch_sub(1, Ordering::SeqCst);
                // The other writer adds 100 to whatever is stored.
                let current = self.inner.load(key).await?;
                let (n, expect_other) = match &current {
                    Some(v) => (serde_json::from_slice::<u64>(&v.bytes).unwrap(), Expect::Version(v.etag.clone())),
                    None => (0, Expect::Absent),
                };
                self.inner.save(key, (n + 100).to_string().as_bytes(), &expect_other).await?;
            }
            self.inner.save(key, bytes, expect).await
        }
        async fn append(&self, key: &str, record: &[u8]) -> Result<(), StoreError> {
            self.inner.append(key, record).await
        }
        async fn read_log(&self, key: &str, max_bytes: Option<u64>) -> Result<Vec<u8>, StoreError> {
            self.inner.read_log(key, max_bytes).await
        }
    }

    fn contested(losses: usize) -> (tempfile::TempDir, Contested) {
        let dir = tempfile::tempdir().unwrap();
        let inner = FileStore::new(dir.path());
        (dir, Contested { inner, losses: AtomicUsize::new(losses) })
    }

    async fn increment(store: &dyn StateStore, decisions: &Arc<AtomicUsize>) -> Result<u64, UpdateError<String>> {
        update(store, "counter.json", None, |n: Option<u64>| {
            decisions.fetch_add(1, Ordering::SeqCst);
            let next = n.unwrap_or(0) + 1;
            Ok::<_, String>((next, next))
        })
        .await
    }

    #[tokio::test]
    async fn a_lost_race_decides_again_on_the_winners_value() {
        let (_dir, store) = contested(2);
        let decisions = Arc::new(AtomicUsize::new(0));
        // Nothing stored; the rival writes 100, then 200; our +1 lands on 200.
        assert_eq!(increment(&store, &decisions).await.unwrap(), 201);
        assert_eq!(decisions.load(Ordering::SeqCst), 3);
        let stored: Loaded<u64> = load::<_, ()>(&store, "counter.json").await.unwrap();
        assert_eq!(stored.value, Some(201));
    }

    #[tokio::test]
    async fn endless_rivals_give_contended_and_keep_their_writes() {
        let (_dir, store) = contested(usize::MAX);
        let decisions = Arc::new(AtomicUsize::new(0));
        let err = increment(&store, &decisions).await.unwrap_err();
        assert_eq!(err.to_string(), format!("lost the write to other writers {MAX_CONFLICTS} times in a row"));
        assert_eq!(decisions.load(Ordering::SeqCst), MAX_CONFLICTS);
        let stored: Loaded<u64> = load::<_, ()>(&store, "counter.json").await.unwrap();
        assert_eq!(stored.value, Some(100 * MAX_CONFLICTS as u64));
    }

    #[tokio::test]
    async fn a_refusal_writes_nothing_and_an_unreadable_value_is_left_alone() {
        let (_dir, store) = contested(0);
        let refused =
            update(&store, "counter.json", None, |_: Option<u64>| Err::<(u64, ()), _>("no")).await.unwrap_err();
        assert_eq!(refused.to_string(), "no");
        assert!(store.load("counter.json").await.unwrap().is_none());

        store.inner.save("counter.json", b"{not json", &Expect::Absent).await.unwrap();
        let decisions = Arc::new(AtomicUsize::new(0));
        let err = increment(&store, &decisions).await.unwrap_err();
        assert!(err.to_string().starts_with("counter.json is unreadable: "), "{err}");
        assert_eq!(decisions.load(Ordering::SeqCst), 0);
        assert_eq!(store.load("counter.json").await.unwrap().unwrap().bytes, b"{not json");
    }

    #[tokio::test]
    async fn a_value_loaded_first_is_used_once() {
        let (_dir, store) = contested(1);
        store.inner.save("counter.json", b"5", &Expect::Absent).await.unwrap();
        let first: Loaded<u64> = load::<_, ()>(&store, "counter.json").await.unwrap();
        let decisions = Arc::new(AtomicUsize::new(0));
        let got = update(&store, "counter.json", Some(first), |n: Option<u64>| {
            decisions.fetch_add(1, Ordering::SeqCst);
            Ok::<_, String>((n.unwrap() + 1, n.unwrap() + 1))
        })
        .await
        .unwrap();
        // The first decision used the preloaded 5 and lost to the rival's 105.
        assert_eq!(got, 106);
        assert_eq!(decisions.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn backoff_stays_under_its_cap() {
        for attempt in 1..20 {
            assert!(conflict_backoff(attempt) < Duration::from_micros(4_000 * attempt as u64));
        }
    }
}
