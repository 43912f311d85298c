//! The behaviour every state store must show, run against each implementation.

use std::sync::Arc;

use bcdr_core::store::{ETag, Expect, StateStore, StoreError};

/// Runs every case against a fresh, empty store.
pub async fn conformance(store: Arc<dyn StateStore>) {
    let store = store.as_ref();
    conditional_writes(store).await;
    changing_back_still_changes_the_version(store).await;
    empty_and_nested_values(store).await;
    bad_keys_are_invalid(store).await;
    logs_append_and_read(store).await;
    log_tails_keep_whole_records(store).await;
}

/// Runs the concurrency cases; the store is shared by all tasks (wrap several instances over
/// the same place in [`racing_writers`] to race those instead).
pub async fn concurrency(store: Arc<dyn StateStore>) {
    racing_writers(vec![store.clone(); 8], "counter", 25).await;
    concurrent_appends(store, 8, 10).await;
}

async fn conditional_writes(store: &dyn StateStore) {
    assert_eq!(store.load("state.json").await, Ok(None), "nothing stored yet");

    let first = store.save("state.json", b"{\"n\":1}", &Expect::Absent).await.expect("create");
    assert_eq!(loaded(store, "state.json").await, (b"{\"n\":1}".to_vec(), first.clone()));

    assert_eq!(
        store.save("state.json", b"{\"n\":9}", &Expect::Absent).await,
        Err(StoreError::Conflict),
        "second create"
    );

    let second = store.save("state.json", b"{\"n\":2}", &Expect::Version(first.clone())).await.expect("update");
    assert_ne!(second, first, "an update changes the version");
    assert_eq!(loaded(store, "state.json").await, (b"{\"n\":2}".to_vec(), second.clone()));

    assert_eq!(
        store.save("state.json", b"{\"n\":9}", &Expect::Version(first)).await,
        Err(StoreError::Conflict),
        "update with a stale version"
    );
    assert_eq!(
        store.save("never-written.json", b"{}", &Expect::Version(second.clone())).await,
        Err(StoreError::Conflict),
        "update of a value that does not exist"
    );
    assert_eq!(loaded(store, "state.json").await, (b"{\"n\":2}".to_vec(), second), "a refused write changes nothing");
}

async fn changing_back_still_changes_the_version(store: &dyn StateStore) {
    let a = store.save("aba.json", b"A", &Expect::Absent).await.unwrap();
    let b = store.save("aba.json", b"B", &Expect::Version(a.clone())).await.unwrap();
    let a_again = store.save("aba.json", b"A", &Expect::Version(b)).await.unwrap();
    assert_ne!(a_again, a, "the same bytes written again get a new version");
    assert_eq!(store.save("aba.json", b"C", &Expect::Version(a)).await, Err(StoreError::Conflict));
}

async fn empty_and_nested_values(store: &dyn StateStore) {
    let etag = store.save("empty", b"", &Expect::Absent).await.expect("an empty value");
    assert_eq!(loaded(store, "empty").await, (Vec::new(), etag));

    let key = "watchdog/primary-eu/state.json";
    let etag = store.save(key, b"[1,2,3]", &Expect::Absent).await.expect("a nested key");
    assert_eq!(loaded(store, key).await, (b"[1,2,3]".to_vec(), etag));
    assert_eq!(store.load("watchdog/other/state.json").await, Ok(None));

    let big: Vec<u8> = (0..300_000u32).map(|i| b'a' + (i % 26) as u8).collect();
    let etag = store.save("big", &big, &Expect::Absent).await.expect("a 300 kB value");
    assert_eq!(loaded(store, "big").await, (big, etag));
}

async fn bad_keys_are_invalid(store: &dyn StateStore) {
    for key in ["", "../escape", "a/../../escape", "/absolute", "a//b", ".hidden", "a b", "a?comp=list"] {
        let invalid = |r: Result<(), StoreError>| matches!(r, Err(StoreError::Invalid(_)));
        assert!(invalid(store.load(key).await.map(drop)), "load {key:?}");
        assert!(invalid(store.save(key, b"{}", &Expect::Absent).await.map(drop)), "save {key:?}");
        assert!(invalid(store.append(key, b"{}").await), "append {key:?}");
        assert!(invalid(store.read_log(key, None).await.map(drop)), "read_log {key:?}");
    }
}

async fn logs_append_and_read(store: &dyn StateStore) {
    assert_eq!(store.read_log("decisions.jsonl", None).await, Ok(Vec::new()), "a log never written reads empty");
    assert_eq!(store.read_log("decisions.jsonl", Some(100)).await, Ok(Vec::new()));

    store.append("decisions.jsonl", b"{\"n\":1}").await.expect("the first append creates the log");
    store.append("decisions.jsonl", b"{\"n\":2}\n").await.expect("a record may bring its newline");
    assert_eq!(text(store.read_log("decisions.jsonl", None).await), "{\"n\":1}\n{\"n\":2}\n");

    assert!(
        matches!(store.append("decisions.jsonl", b"{\"n\":3}\n{\"n\":4}").await, Err(StoreError::Invalid(_))),
        "two lines are two records"
    );
    assert_eq!(
        text(store.read_log("decisions.jsonl", None).await),
        "{\"n\":1}\n{\"n\":2}\n",
        "a refused record adds nothing"
    );

    store.append("logs/2026-11/decisions.jsonl", b"{}").await.expect("a nested log");
    assert_eq!(text(store.read_log("logs/2026-11/decisions.jsonl", None).await), "{}\n");
}

async fn log_tails_keep_whole_records(store: &dyn StateStore) {
    for n in 0..10 {
        store.append("tail.jsonl", format!("{{\"n\":{n}}}").as_bytes()).await.unwrap();
    }
    // Each record is 8 bytes with its newline: 80 in all.
    let tail = |max| async move { text(store.read_log("tail.jsonl", max).await) };
    assert_eq!(tail(None).await.lines().count(), 10);
    assert_eq!(tail(Some(80)).await.lines().count(), 10);
    assert_eq!(tail(Some(1000)).await.lines().count(), 10);
    assert_eq!(tail(Some(79)).await, (1..10).map(|n| format!("{{\"n\":{n}}}\n")).collect::<String>());
    assert_eq!(tail(Some(16)).await, "{\"n\":8}\n{\"n\":9}\n");
    assert_eq!(tail(Some(20)).await, "{\"n\":8}\n{\"n\":9}\n");
    assert_eq!(tail(Some(7)).await, "", "no whole record fits");
}

/// Each writer increments a shared counter `rounds` times by load, modify, save-if-unchanged,
/// retrying from the load on conflict. No update may be lost.
pub async fn racing_writers(stores: Vec<Arc<dyn StateStore>>, key: &'static str, rounds: u32) {
    let reader = stores[0].clone();
    let writers = stores.len() as u32;
    let tasks: Vec<_> = stores.into_iter().map(|store| tokio::spawn(increment(store, key, rounds))).collect();
    for task in tasks {
        task.await.expect("writer panicked");
    }
    assert_eq!(counter(reader.as_ref(), key).await, writers * rounds, "no lost update");
}

/// Increments the counter under `key` `rounds` times; returns how many conflicts it met.
pub async fn increment(store: Arc<dyn StateStore>, key: &'static str, rounds: u32) -> u32 {
    let mut conflicts = 0;
    for _ in 0..rounds {
        loop {
            let current = store.load(key).await.expect("load");
            let (n, expect) = match current {
                None => (0, Expect::Absent),
                Some(v) => (text(Ok(v.bytes)).parse::<u32>().expect("a counter"), Expect::Version(v.etag)),
            };
            match store.save(key, (n + 1).to_string().as_bytes(), &expect).await {
                Ok(_) => break,
                Err(StoreError::Conflict) => conflicts += 1,
                Err(e) => panic!("save failed: {e}"),
            }
        }
    }
    conflicts
}

/// The counter under `key`.
pub async fn counter(store: &dyn StateStore, key: &str) -> u32 {
    text(Ok(loaded(store, key).await.0)).parse().expect("a counter")
}

async fn concurrent_appends(store: Arc<dyn StateStore>, writers: u32, each: u32) {
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..each {
                    store
                        .append("shared.jsonl", format!("{{\"writer\":{w},\"i\":{i}}}").as_bytes())
                        .await
                        .expect("append");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("appender panicked");
    }
    let log = text(store.read_log("shared.jsonl", None).await);
    let mut lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len() as u32, writers * each, "every record once");
    lines.sort();
    let mut expected: Vec<String> =
        (0..writers).flat_map(|w| (0..each).map(move |i| format!("{{\"writer\":{w},\"i\":{i}}}"))).collect();
    expected.sort();
    assert_eq!(lines, expected, "no record torn or interleaved");
}

async fn loaded(store: &dyn StateStore, key: &str) -> (Vec<u8>, ETag) {
    let v = store.load(key).await.expect("load").unwrap_or_else(|| panic!("{key:?} should be stored"));
    (v.bytes, v.etag)
}

fn text(bytes: Result<Vec<u8>, StoreError>) -> String {
    String::from_utf8(bytes.expect("read")).expect("utf-8")
}
