//! The state store in a local directory: the embedded default for `bcdr host` and `bcdr demo`.
//!
//! Each key is a file (a `/` in a key is a subdirectory). A state file starts with one header
//! line, `etag <version>-<hash>`, then the caller's bytes: keeping the version inside the file
//! makes a save one atomic rename, and a counter (rather than a content hash alone) means a value
//! that changes and changes back still gets a new ETag. Writers hold an exclusive `flock` on
//! `<dir>/.lock`, so writers in any number of processes see exactly one winner; each write goes
//! to a temporary file that is synced and renamed over the old one, so readers and crashes see
//! the old value or the new one, never half.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::{Digest, Sha256};

use super::{check_key, line_of, tail_start, whole_records, ETag, Expect, StateStore, StoreError, Versioned};

/// A directory of state files and logs.
#[derive(Debug, Clone)]
pub struct FileStore {
    root: PathBuf,
}

impl FileStore {
    /// A store in `root`, created on the first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, key: &str) -> Result<PathBuf, StoreError> {
        check_key(key)?;
        Ok(self.root.join(key))
    }

    /// Runs blocking file work off the async threads.
    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Path) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || work(&root))
            .await
            .map_err(|e| StoreError::Unavailable(format!("file store task failed: {e}")))?
    }
}

const HEADER: &str = "etag ";

/// Splits a state file into its ETag and the stored bytes.
fn parse(path: &Path, mut content: Vec<u8>) -> Result<Versioned, StoreError> {
    let not_state = || StoreError::Invalid(format!("{} is not a state file (no etag header)", path.display()));
    let newline = content.iter().position(|&b| b == b'\n').ok_or_else(not_state)?;
    let header = std::str::from_utf8(&content[..newline]).map_err(|_| not_state())?;
    let etag = header.strip_prefix(HEADER).filter(|e| version_of(e).is_some()).ok_or_else(not_state)?;
    let etag = ETag::new(etag);
    content.drain(..=newline);
    Ok(Versioned { bytes: content, etag })
}

fn version_of(etag: &str) -> Option<u64> {
    etag.split_once('-').and_then(|(n, _)| n.parse().ok())
}

fn read_state(path: &Path) -> Result<Option<Versioned>, StoreError> {
    match std::fs::read(path) {
        Ok(content) => parse(path, content).map(Some),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// Holds `<root>/.lock` until dropped. `flock` locks belong to the open file, so two stores
/// (or two tasks) in one process exclude each other just as two processes do.
struct Lock(File);

impl Lock {
    fn take(root: &Path, exclusive: bool) -> Result<Lock, StoreError> {
        std::fs::create_dir_all(root).map_err(|e| io_error("create", root, e))?;
        let path = root.join(".lock");
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| io_error("open", &path, e))?;
        let operation = if exclusive { libc::LOCK_EX } else { libc::LOCK_SH };
        loop {
            // SAFETY: flock only reads the descriptor, which `file` keeps open.
            if unsafe { libc::flock(file.as_raw_fd(), operation) } == 0 {
                return Ok(Lock(file));
            }
            let error = io::Error::last_os_error();
            if error.kind() != io::ErrorKind::Interrupted {
                return Err(io_error("lock", &path, error));
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        // Closing the file releases the lock too; unlocking first just says so.
        // SAFETY: as above.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

fn save_locked(root: &Path, path: &Path, bytes: &[u8], expect: &Expect) -> Result<ETag, StoreError> {
    let _lock = Lock::take(root, true)?;
    let current = read_state(path)?;
    let version = match (expect, &current) {
        (Expect::Absent, None) => 1,
        (Expect::Version(want), Some(found)) if *want == found.etag => version_of(found.etag.as_str()).unwrap_or(0) + 1,
        _ => return Err(StoreError::Conflict),
    };
    let hash = Sha256::digest(bytes);
    let hash: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let etag = ETag::new(format!("{version}-{hash}"));

    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("state");
    // Keys never start with `.`, so the temporary file cannot be anyone's key; only the lock
    // holder writes it, so one fixed name per key is enough.
    let temp = dir.join(format!(".{name}.tmp"));
    let write = || -> io::Result<()> {
        let mut file = File::create(&temp)?;
        file.write_all(format!("{HEADER}{etag}\n").as_bytes())?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)?;
        // The rename is durable once the directory is synced.
        File::open(dir)?.sync_all()
    };
    write().map_err(|e| io_error("write", path, e))?;
    Ok(etag)
}

fn append_locked(root: &Path, path: &Path, line: &[u8]) -> Result<(), StoreError> {
    let _lock = Lock::take(root, true)?;
    let dir = path.parent().unwrap_or(root);
    std::fs::create_dir_all(dir).map_err(|e| io_error("create", dir, e))?;
    let append = || -> io::Result<()> {
        let mut file = OpenOptions::new().append(true).create(true).open(path)?;
        file.write_all(line)?;
        file.sync_data()
    };
    append().map_err(|e| io_error("append to", path, e))
}

fn read_log_locked(root: &Path, path: &Path, max_bytes: Option<u64>) -> Result<Vec<u8>, StoreError> {
    // Shared, so a read never sees half of an append.
    let _lock = Lock::take(root, false)?;
    let read = || -> io::Result<Vec<u8>> {
        let mut file = File::open(path)?;
        let start = tail_start(file.metadata()?.len(), max_bytes);
        file.seek(SeekFrom::Start(start.unwrap_or(0)))?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        Ok(whole_records(bytes, start))
    };
    match read() {
        Ok(bytes) => Ok(bytes),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_error("read", path, e)),
    }
}

/// Permission problems need an operator; a key that collides with a directory (or the other
/// way round) is a bad key; anything else (disk full, I/O error) may pass.
fn io_error(operation: &str, path: &Path, error: io::Error) -> StoreError {
    let detail = format!("cannot {operation} {}: {error}", path.display());
    match error.kind() {
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => StoreError::Denied(detail),
        io::ErrorKind::NotADirectory | io::ErrorKind::IsADirectory => StoreError::Invalid(detail),
        _ => StoreError::Unavailable(detail),
    }
}

#[async_trait]
impl StateStore for FileStore {
    async fn load(&self, key: &str) -> Result<Option<Versioned>, StoreError> {
        let path = self.path(key)?;
        // No lock: a save replaces the file by rename, so a read sees one version or the other.
        self.run(move |_| read_state(&path)).await
    }

    async fn save(&self, key: &str, bytes: &[u8], expect: &Expect) -> Result<ETag, StoreError> {
        let path = self.path(key)?;
        let (bytes, expect) = (bytes.to_vec(), expect.clone());
        self.run(move |root| save_locked(root, &path, &bytes, &expect)).await
    }

    async fn append(&self, key: &str, record: &[u8]) -> Result<(), StoreError> {
        let line = line_of(record)?;
        let path = self.path(key)?;
        self.run(move |root| append_locked(root, &path, &line)).await
    }

    async fn read_log(&self, key: &str, max_bytes: Option<u64>) -> Result<Vec<u8>, StoreError> {
        let path = self.path(key)?;
        self.run(move |root| read_log_locked(root, &path, max_bytes)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_carry_their_etag() {
        let path = Path::new("/s/state.json");
        let parsed = parse(path, b"etag 3-00aa\n{\"a\":1}\n".to_vec()).unwrap();
        assert_eq!(parsed.etag.as_str(), "3-00aa");
        assert_eq!(parsed.bytes, b"{\"a\":1}\n");
        for bad in [&b"{\"a\":1}"[..], b"{\"a\":1}\n", b"etag x\n{}", b"etag 3\n{}"] {
            assert_eq!(
                parse(path, bad.to_vec()).unwrap_err().to_string(),
                "state store: /s/state.json is not a state file (no etag header)"
            );
        }
    }
}
