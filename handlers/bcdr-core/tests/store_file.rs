//! The file store: the shared conformance suite, writers racing from several store instances and
//! several processes on one directory, and what lands on disk.

#[path = "store_support/conformance.rs"]
mod conformance;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use bcdr_core::store::{Expect, FileStore, StateStore, StoreError};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn conforms() {
    let dir = tempfile::tempdir().unwrap();
    conformance::conformance(Arc::new(FileStore::new(dir.path()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_on_one_store() {
    let dir = tempfile::tempdir().unwrap();
    conformance::concurrency(Arc::new(FileStore::new(dir.path()))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writers_on_separate_instances_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    // Separate instances open the lock file separately, as separate processes would.
    let stores: Vec<Arc<dyn StateStore>> =
        (0..8).map(|_| Arc::new(FileStore::new(dir.path())) as Arc<dyn StateStore>).collect();
    conformance::racing_writers(stores, "counter", 25).await;
}

/// Set in the environment of the child processes `writers_in_separate_processes` starts.
const CHILD_DIR: &str = "BCDR_STORE_TEST_CHILD_DIR";
const CHILD_ROUNDS: u32 = 30;

#[test]
fn writers_in_separate_processes_lose_no_update() {
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..3)
        .map(|_| {
            Command::new(&exe)
                .args(["--exact", "child_writer", "--test-threads=1"])
                .env(CHILD_DIR, dir.path())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("start a child test process")
        })
        .collect();
    // This process races them too.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(conformance::increment(Arc::new(FileStore::new(dir.path())), "counter", CHILD_ROUNDS));
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "a child writer failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let count = runtime.block_on(async { conformance::counter(&FileStore::new(dir.path()), "counter").await });
    assert_eq!(count, 4 * CHILD_ROUNDS);
}

/// A writer for the test above; does nothing when run on its own.
#[test]
fn child_writer() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(conformance::increment(Arc::new(FileStore::new(Path::new(&dir))), "counter", CHILD_ROUNDS));
}

#[tokio::test]
async fn files_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path().join("state"));
    let etag = store.save("watchdog/state.json", b"{\"epoch\":1}", &Expect::Absent).await.unwrap();
    store.append("watchdog/decisions.jsonl", b"{\"d\":1}").await.unwrap();

    let root = dir.path().join("state");
    let state = std::fs::read_to_string(root.join("watchdog/state.json")).unwrap();
    assert_eq!(state, format!("etag {etag}\n{{\"epoch\":1}}"), "a header line, then the bytes as given");
    assert_eq!(std::fs::read_to_string(root.join("watchdog/decisions.jsonl")).unwrap(), "{\"d\":1}\n");
    let mut names: Vec<String> = walk(&root);
    names.sort();
    assert_eq!(names, [".lock", "watchdog/decisions.jsonl", "watchdog/state.json"], "no temporary files left");
}

#[tokio::test]
async fn foreign_files_are_invalid_not_overwritten() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("state.json"), b"{\"hand\":\"written\"}").unwrap();
    let store = FileStore::new(dir.path());
    assert!(matches!(store.load("state.json").await, Err(StoreError::Invalid(m)) if m.contains("is not a state file")));
    assert!(matches!(store.save("state.json", b"{}", &Expect::Absent).await, Err(StoreError::Invalid(_))));
    assert_eq!(std::fs::read(dir.path().join("state.json")).unwrap(), b"{\"hand\":\"written\"}");

    // A key below a file is a bad key, not an outage.
    assert!(matches!(store.save("state.json/inner", b"{}", &Expect::Absent).await, Err(StoreError::Invalid(_))));
}

fn walk(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path).into_iter().map(|p| format!("{}/{p}", path.file_name().unwrap().to_string_lossy())));
        } else {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}
