//! A real Azurite blob service, for tests that need Azure Storage's actual behaviour: unlike the
//! doubles in this crate it is not a simulation but Microsoft's emulator, launched from
//! `tests/azurite/node_modules` (installed by `make azurite-install`) on a free loopback port
//! with its data in a temporary directory, and stopped when the handle is dropped.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The development account every Azurite serves.
pub const ACCOUNT: &str = "devstoreaccount1";
/// Its key, published in Azurite's documentation: not a secret.
pub const KEY: &str = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

/// How long Azurite may take to listen (it usually takes about 4 s).
const START_TIMEOUT: Duration = Duration::from_secs(60);

pub struct Azurite {
    /// `http://127.0.0.1:PORT/devstoreaccount1`: the account's path-style base URL.
    pub account_url: String,
    child: Child,
    _data: tempfile::TempDir,
    /// Keeps the thread that started Azurite alive; see [`Azurite::start`].
    _keeper: mpsc::Sender<()>,
}

impl Azurite {
    /// Starts Azurite and waits until it listens. Panics with what to do if it cannot.
    pub fn start() -> Azurite {
        Self::launch(None)
    }

    /// Starts Azurite over HTTPS with the simulation's certificate and OAuth (`--oauth basic`):
    /// it then also accepts bearer tokens, which it takes only over HTTPS. It checks a token's
    /// shape, audience, issuer and lifetime, not its signature. Clients must trust
    /// `authority.ca_pem()`.
    pub fn start_with_oauth(authority: &crate::tls::TestAuthority) -> Azurite {
        Self::launch(Some(authority))
    }

    fn launch(oauth: Option<&crate::tls::TestAuthority>) -> Azurite {
        let package = workspace_root().join("tests/azurite");
        let bin = package.join("node_modules/.bin/azurite-blob");
        assert!(
            bin.exists(),
            "Azurite is not installed at {}: run `make azurite-install` (npm ci --prefix tests/azurite)",
            bin.display()
        );
        let data = tempfile::tempdir().expect("a temporary directory for Azurite");
        let mut command = Command::new("node");
        command.arg(&bin).args(["--blobHost", "127.0.0.1", "--blobPort", "0", "--location"]).arg(data.path()).args([
            "--skipApiVersionCheck",
            "--loose",
            "--disableTelemetry",
            "--silent",
        ]);
        if let Some(authority) = oauth {
            let (cert, key) = authority.server_pem();
            let (cert_file, key_file) = (data.path().join("server.crt"), data.path().join("server.key"));
            std::fs::write(&cert_file, cert).expect("the certificate is written");
            std::fs::write(&key_file, key).expect("the key is written");
            command.arg("--cert").arg(&cert_file).arg("--key").arg(&key_file).args(["--oauth", "basic"]);
        }
        command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        // If the test process dies without dropping the handle, the kernel kills Azurite when
        // the thread that started it ends. Start it from a thread that lives exactly as long as
        // the handle (or the process), not from the calling thread, which may end first.
        // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let (started_tx, started_rx) = mpsc::channel();
        let (keeper, kept) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            let _ = started_tx.send(command.spawn());
            // Returns when the handle (the only sender) is dropped.
            let _ = kept.recv();
        });
        let mut child = match started_rx.recv().expect("the starter thread answers") {
            Ok(child) => child,
            Err(e) => panic!("cannot run `node` for Azurite ({e}): install Node.js 20 or later"),
        };

        // Azurite prints "... successfully listens on http://127.0.0.1:PORT" even with --silent.
        let (lines_tx, lines_rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                // Keep draining after the caller stops listening, so Azurite never blocks on
                // a full pipe.
                let _ = lines_tx.send(line);
            }
        });
        let stderr = child.stderr.take().expect("piped stderr");
        let (errors_tx, errors_rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut text = String::new();
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                text.push_str(&line);
                text.push('\n');
            }
            let _ = errors_tx.send(text);
        });

        let deadline = std::time::Instant::now() + START_TIMEOUT;
        let mut seen = String::new();
        let port = loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match lines_rx.recv_timeout(left) {
                Ok(line) => {
                    if let Some(port) = listening_port(&line) {
                        break port;
                    }
                    seen.push_str(&line);
                    seen.push('\n');
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = child.wait().ok();
                    let errors = errors_rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default();
                    panic!("Azurite exited before listening ({status:?}):\n{seen}{errors}");
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    panic!("Azurite did not listen within {START_TIMEOUT:?}:\n{seen}");
                }
            }
        };
        let scheme = if oauth.is_some() { "https" } else { "http" };
        Azurite { account_url: format!("{scheme}://127.0.0.1:{port}/{ACCOUNT}"), child, _data: data, _keeper: keeper }
    }

    /// The URL of a container in the development account (which need not exist yet).
    pub fn container_url(&self, container: &str) -> String {
        format!("{}/{container}", self.account_url)
    }
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn listening_port(line: &str) -> Option<u16> {
    let rest = line.split("successfully listens on http").nth(1)?;
    let rest = rest.strip_prefix("s://").or_else(|| rest.strip_prefix("://"))?;
    rest.rsplit(':').next()?.trim().trim_end_matches('/').parse().ok()
}

/// The workspace root: the nearest ancestor of this crate with `tests/azurite/package.json`.
fn workspace_root() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .find(|dir| dir.join("tests/azurite/package.json").exists())
        .unwrap_or_else(|| panic!("no tests/azurite/package.json above {}", manifest.display()))
        .to_path_buf()
}
