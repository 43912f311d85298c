//! The watchdog's durable state: one small trait, a blob container in Azure, a directory locally.
//!
//! Values are bytes (callers serialize their own JSON) written only if they have not changed
//! since they were read (an ETag), so of several racing writers exactly one wins and the others
//! reload and retry. Logs are append-only files of JSON lines.
//!
//! Every read-decide-write of a stored value goes through [`update`], the one conditional-update
//! loop (reload and decide again on a conflict, with a jittered pause).
//!
//! Invariants: a store never retries on its own beyond what one operation needs (the watchdog
//! retries on its next tick); every blob request has a deadline; errors carry no keys, tokens or
//! query strings.

mod blob;
mod config;
mod file;
mod shared_key;
mod update;

use async_trait::async_trait;

pub use blob::{BlobAuth, BlobStore, DEFAULT_TIMEOUT, STORAGE_SCOPE};
pub use config::StoreConfig;
pub use file::FileStore;
pub use update::{load, update, Loaded, UpdateError, MAX_CONFLICTS};

/// The version of a stored value, opaque to callers: hand it back to [`StateStore::save`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ETag(String);

impl ETag {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ETag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A stored value and the version it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Versioned {
    pub bytes: Vec<u8>,
    pub etag: ETag,
}

/// What a conditional write expects to find.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    /// Nothing stored under the key yet (`If-None-Match: *`).
    Absent,
    /// The value last read, unchanged since (`If-Match`).
    Version(ETag),
}

/// Why a store operation failed, shaped by what the caller does next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// Someone else wrote first: reload and retry.
    #[error("the stored value changed since it was read")]
    Conflict,
    /// The store did not answer, or failed (5xx, refused, timed out): fail this tick, retry the next.
    #[error("state store unavailable: {0}")]
    Unavailable(String),
    /// The store refused our credentials (401, 403): an operator must fix access.
    #[error("state store refused access: {0}")]
    Denied(String),
    /// A bad key or record, or an answer we cannot read: retrying will not help.
    #[error("state store: {0}")]
    Invalid(String),
}

impl StoreError {
    /// Whether the same call may succeed later without anyone changing anything.
    pub fn is_transient(&self) -> bool {
        matches!(self, StoreError::Conflict | StoreError::Unavailable(_))
    }
}

/// Durable state and logs. Implementations: [`BlobStore`] (Azure, Azurite), [`FileStore`] (a
/// local directory).
#[async_trait]
pub trait StateStore: Send + Sync {
    /// The current value and its version, or `None` if nothing is stored under `key`.
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError>;

    /// Writes `bytes` under `key` if the stored version is still what `expect` says, and returns
    /// the new version; [`StoreError::Conflict`] if it is not.
    async fn save(&self, key: &str, bytes: &[u8], expect: &Expect) -> Result<ETag, StoreError>;

    /// Appends one record (a JSON line, without inner newlines) to the log named `key`, creating
    /// the log if absent. The store ends each record with `\n`.
    async fn append(&self, key: &str, record: &[u8]) -> Result<(), StoreError>;

    /// The whole log, or the whole records within its last `max_bytes`. A log never written
    /// reads as empty.
    async fn read_log(&self, key: &str, max_bytes: Option<u64>) -> Result<Vec<u8>, StoreError>;
}

/// The largest record [`StateStore::append`] takes: the blob service's limit on one append
/// block (4 MiB) including the newline.
pub const MAX_RECORD_BYTES: usize = 4 * 1024 * 1024 - 1;

/// Keys are `/`-separated segments of ASCII letters, digits, `.`, `_` and `-`, none empty and
/// none starting with `.`. That keeps them the same in a blob name and a file path (no `..`, no
/// absolute paths, no hidden files that could collide with the file store's own) and makes
/// URL-encoding unnecessary, which the Shared Key signature would otherwise have to match.
pub fn check_key(key: &str) -> Result<(), StoreError> {
    let bad = |why: &str| Err(StoreError::Invalid(format!("bad key {key:?}: {why}")));
    if key.is_empty() {
        return bad("empty");
    }
    if key.len() > 512 {
        return bad("longer than 512 bytes");
    }
    for segment in key.split('/') {
        if segment.is_empty() {
            return bad("empty segment (leading, trailing or double `/`)");
        }
        if segment.starts_with('.') {
            return bad("a segment starts with `.`");
        }
        if !segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-')) {
            return bad("only ASCII letters, digits, `.`, `_`, `-` and `/` are allowed");
        }
    }
    Ok(())
}

/// Checks a log record and returns it ending in exactly one newline.
fn line_of(record: &[u8]) -> Result<Vec<u8>, StoreError> {
    let body = record.strip_suffix(b"\n").unwrap_or(record);
    if body.contains(&b'\n') {
        return Err(StoreError::Invalid("a log record must be one line".to_owned()));
    }
    if body.len() > MAX_RECORD_BYTES {
        return Err(StoreError::Invalid(format!(
            "a log record of {} bytes exceeds the limit of {MAX_RECORD_BYTES}",
            body.len()
        )));
    }
    let mut line = Vec::with_capacity(body.len() + 1);
    line.extend_from_slice(body);
    line.push(b'\n');
    Ok(line)
}

/// Where to read a log of `len` bytes from so its last `max_bytes` can be cut at a record
/// boundary, or `None` to read it whole. The start is one byte early so [`whole_records`] can
/// see whether the first byte kept begins a record.
fn tail_start(len: u64, max_bytes: Option<u64>) -> Option<u64> {
    match max_bytes {
        Some(max) if len > max => Some(len - max - 1),
        _ => None,
    }
}

/// Drops the partial record at the front of a tail read from [`tail_start`].
fn whole_records(mut bytes: Vec<u8>, start: Option<u64>) -> Vec<u8> {
    if start.is_none() {
        return bytes;
    }
    match bytes.iter().position(|&b| b == b'\n') {
        Some(i) => {
            bytes.drain(..=i);
            bytes
        }
        None => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_key_case(key: &str, expect: &str) {
        let got = match check_key(key) {
            Ok(()) => "ok".to_owned(),
            Err(e) => e.to_string(),
        };
        assert_eq!(got, expect, "key {key:?}");
    }

    #[test]
    fn keys() {
        check_key_case("watchdog/state.json", "ok");
        check_key_case("decisions-2026-11.jsonl", "ok");
        check_key_case("", "state store: bad key \"\": empty");
        check_key_case(
            "/etc/passwd",
            "state store: bad key \"/etc/passwd\": empty segment (leading, trailing or double `/`)",
        );
        check_key_case("a//b", "state store: bad key \"a//b\": empty segment (leading, trailing or double `/`)");
        check_key_case("a/", "state store: bad key \"a/\": empty segment (leading, trailing or double `/`)");
        check_key_case("../x", "state store: bad key \"../x\": a segment starts with `.`");
        check_key_case("a/../../x", "state store: bad key \"a/../../x\": a segment starts with `.`");
        check_key_case(".lock", "state store: bad key \".lock\": a segment starts with `.`");
        check_key_case(
            "a b",
            "state store: bad key \"a b\": only ASCII letters, digits, `.`, `_`, `-` and `/` are allowed",
        );
        check_key_case(
            "a?comp=x",
            "state store: bad key \"a?comp=x\": only ASCII letters, digits, `.`, `_`, `-` and `/` are allowed",
        );
    }

    #[test]
    fn records_are_single_lines() {
        assert_eq!(line_of(b"{}").unwrap(), b"{}\n");
        assert_eq!(line_of(b"{}\n").unwrap(), b"{}\n");
        assert_eq!(line_of(b"{}\n{}").unwrap_err().to_string(), "state store: a log record must be one line");
        assert_eq!(line_of(b"{}\n\n").unwrap_err().to_string(), "state store: a log record must be one line");
    }

    #[test]
    fn tails_keep_whole_records() {
        let log = b"one\ntwo\nthree\n";
        let tail = |max| {
            let start = tail_start(log.len() as u64, max);
            let read = log[start.unwrap_or(0) as usize..].to_vec();
            String::from_utf8(whole_records(read, start)).unwrap()
        };
        assert_eq!(tail(None), "one\ntwo\nthree\n");
        assert_eq!(tail(Some(100)), "one\ntwo\nthree\n");
        assert_eq!(tail(Some(14)), "one\ntwo\nthree\n");
        assert_eq!(tail(Some(13)), "two\nthree\n");
        assert_eq!(tail(Some(10)), "two\nthree\n");
        assert_eq!(tail(Some(9)), "three\n");
        assert_eq!(tail(Some(6)), "three\n");
        assert_eq!(tail(Some(5)), "");
        assert_eq!(tail(Some(0)), "");
    }
}
