//! Handler processes: start one per app, wait until it answers, relay its output, restart it when it dies.

use std::collections::BTreeMap;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use crate::app::AppSpec;
use crate::call::{self, Ping};

/// The host polls `GET /` this often while a handler starts ...
const READY_POLL: Duration = Duration::from_millis(25);
/// ... for at most this long.
pub const READY_LIMIT: Duration = Duration::from_secs(30);
/// Once running, a handler is pinged now and then so a hung one shows in the log.
const LIVENESS_PING: Duration = Duration::from_secs(5);
/// A handler asked to stop gets this long before it is killed.
pub const STOP_GRACE: Duration = Duration::from_secs(5);

/// Where an app's handler is, as the front and the timers see it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WorkerState {
    Starting,
    Ready { port: u16, pid: u32 },
    Stopped,
}

/// Waits until the handler is ready (its port) or stopped (`None`), for at most `limit`.
pub async fn ready_port(state: &watch::Receiver<WorkerState>, limit: Duration) -> Option<u16> {
    let mut rx = state.clone();
    let waited = tokio::time::timeout(limit, rx.wait_for(|s| !matches!(s, WorkerState::Starting))).await;
    match waited {
        Ok(Ok(s)) => match *s {
            WorkerState::Ready { port, .. } => Some(port),
            _ => None,
        },
        _ => None,
    }
}

/// What a supervisor tells the host about the first start of its handler.
#[derive(Debug)]
pub enum StartEvent {
    Ready,
    /// The handler cannot be run at all; the host gives up.
    Fatal(anyhow::Error),
}

/// Restart delays: 1 s doubling to 30 s; a handler that stayed up a minute starts over at 1 s.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(30);
    const HEALTHY_RUN: Duration = Duration::from_secs(60);

    pub fn new() -> Self {
        Backoff { next: Self::FIRST }
    }

    /// The delay before restarting a handler that ran for `ran_for`.
    pub fn after_exit(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= Self::HEALTHY_RUN {
            self.next = Self::FIRST;
        }
        let delay = self.next;
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }
}

/// Describes an exit status the way an operator reads it.
pub fn describe_exit(status: &ExitStatus) -> String {
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return format!("killed by signal {sig}{}", signal_name(sig));
        }
    }
    match status.code() {
        Some(code) => format!("exit code {code}"),
        None => "unknown status".to_string(),
    }
}

#[cfg(unix)]
fn signal_name(sig: i32) -> &'static str {
    match sig {
        libc::SIGTERM => " (SIGTERM)",
        libc::SIGKILL => " (SIGKILL)",
        libc::SIGINT => " (SIGINT)",
        libc::SIGSEGV => " (SIGSEGV)",
        libc::SIGABRT => " (SIGABRT)",
        _ => "",
    }
}

/// Runs one app's handler until shutdown, restarting it when it exits.
pub struct Supervisor {
    pub app: Arc<AppSpec>,
    pub client: reqwest::Client,
    pub state: watch::Sender<WorkerState>,
    pub shutdown: watch::Receiver<bool>,
    pub events: mpsc::UnboundedSender<StartEvent>,
}

enum Phase {
    Ready,
    Exited(std::io::Result<ExitStatus>),
    NeverAnswered,
    Shutdown,
}

impl Supervisor {
    pub async fn run(mut self) {
        let name = self.app.name.clone();
        let mut backoff = Backoff::new();
        let mut first_start = true;
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            self.state.send_replace(WorkerState::Starting);
            let port = match free_port() {
                Ok(p) => p,
                Err(e) => {
                    self.fail_start(first_start, anyhow::anyhow!("[{name}] no free loopback port: {e}"));
                    break;
                }
            };
            let mut child = match spawn(&self.app, port) {
                Ok(c) => c,
                Err(e) => {
                    let err = anyhow::anyhow!(
                        "[{name}] cannot start the handler {}: {e}",
                        self.app.handler.executable.display()
                    );
                    if first_start {
                        self.fail_start(true, err);
                        break;
                    }
                    error!("{err:#}");
                    if !self.pause(backoff.after_exit(Duration::ZERO)).await {
                        break;
                    }
                    continue;
                }
            };
            let pid = child.id().unwrap_or_default();
            let started = Instant::now();
            relay_output(&name, &mut child);

            let phase = tokio::select! {
                ready = wait_ready(&self.client, port) => if ready { Phase::Ready } else { Phase::NeverAnswered },
                status = child.wait() => Phase::Exited(status),
                _ = wait_shutdown(&mut self.shutdown) => Phase::Shutdown,
            };
            let phase = match phase {
                Phase::Ready => {
                    info!(
                        "[{name}] handler ready on 127.0.0.1:{port} (pid {pid}, {} ms)",
                        started.elapsed().as_millis()
                    );
                    self.state.send_replace(WorkerState::Ready { port, pid });
                    if first_start {
                        first_start = false;
                        let _ = self.events.send(StartEvent::Ready);
                    }
                    self.watch_running(&mut child, port).await
                }
                other => other,
            };
            self.state.send_replace(WorkerState::Starting);
            match phase {
                Phase::Shutdown => {
                    stop(&name, &mut child).await;
                    break;
                }
                Phase::NeverAnswered => {
                    let err = anyhow::anyhow!(
                        "[{name}] the handler never answered GET / on 127.0.0.1:{port} within {} s; it must listen on 127.0.0.1 at the port in FUNCTIONS_CUSTOMHANDLER_PORT",
                        READY_LIMIT.as_secs()
                    );
                    stop(&name, &mut child).await;
                    if first_start {
                        self.fail_start(true, err);
                        break;
                    }
                    error!("{err:#}");
                    if !self.pause(backoff.after_exit(started.elapsed())).await {
                        break;
                    }
                }
                Phase::Exited(status) => {
                    let how = match &status {
                        Ok(s) => describe_exit(s),
                        Err(e) => format!("status unknown: {e}"),
                    };
                    let delay = backoff.after_exit(started.elapsed());
                    error!("[{name}] handler (pid {pid}) died: {how}; restarting in {} s", delay.as_secs());
                    if !self.pause(delay).await {
                        break;
                    }
                }
                Phase::Ready => unreachable!("a running handler ends by exiting or by shutdown"),
            }
        }
        self.state.send_replace(WorkerState::Stopped);
    }

    fn fail_start(&self, first_start: bool, err: anyhow::Error) {
        if first_start {
            let _ = self.events.send(StartEvent::Fatal(err));
        } else {
            error!("{err:#}");
        }
    }

    /// Sleeps before a restart; false when the host is shutting down instead.
    async fn pause(&mut self, delay: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(delay) => true,
            _ = wait_shutdown(&mut self.shutdown) => false,
        }
    }

    /// While the handler runs: keep pinging it, and notice when it exits or the host stops.
    async fn watch_running(&mut self, child: &mut Child, port: u16) -> Phase {
        let name = &self.app.name;
        let mut ticks = tokio::time::interval(LIVENESS_PING);
        ticks.tick().await;
        let mut answering = true;
        loop {
            tokio::select! {
                status = child.wait() => return Phase::Exited(status),
                _ = wait_shutdown(&mut self.shutdown) => return Phase::Shutdown,
                _ = ticks.tick() => {
                    let now_answering = call::ping(&self.client, port, LIVENESS_PING).await == Ping::Answered;
                    if answering && !now_answering {
                        warn!("[{name}] handler does not answer GET / any more");
                    } else if !answering && now_answering {
                        info!("[{name}] handler answers GET / again");
                    }
                    answering = now_answering;
                }
            }
        }
    }
}

async fn wait_shutdown(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Polls `GET /` every 25 ms until any answer, for at most 30 s.
async fn wait_ready(client: &reqwest::Client, port: u16) -> bool {
    let deadline = Instant::now() + READY_LIMIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return false;
        }
        if call::ping(client, port, left).await == Ping::Answered {
            return true;
        }
        tokio::time::sleep(READY_POLL).await;
    }
}

/// A loopback port nothing listens on right now, for the handler to take.
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port())
}

/// The environment a handler gets on top of the inherited one.
pub fn handler_environment(app: &AppSpec, port: u16) -> BTreeMap<String, String> {
    let mut env = app.settings.clone();
    let worker_id = uuid::Uuid::new_v4().to_string();
    let port = port.to_string();
    env.insert("FUNCTIONS_WORKER_RUNTIME".into(), "custom".into());
    env.insert("FUNCTIONS_CUSTOMHANDLER_PORT".into(), port.clone());
    env.insert("FUNCTIONS_HTTPWORKER_PORT".into(), port);
    env.insert("FUNCTIONS_CUSTOMHANDLER_WORKER_ID".into(), worker_id.clone());
    env.insert("FUNCTIONS_HTTPWORKER_ID".into(), worker_id);
    env.insert("FUNCTIONS_APP_ROOT_PATH".into(), app.dir.to_string_lossy().into_owned());
    env
}

fn spawn(app: &AppSpec, port: u16) -> std::io::Result<Child> {
    let mut cmd = Command::new(&app.handler.executable);
    cmd.args(&app.handler.arguments)
        .current_dir(&app.handler.working_dir)
        .envs(handler_environment(app, port))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    tie_to_parent(&mut cmd);
    cmd.spawn()
}

/// Puts the child in its own process group (a Ctrl-C at the terminal reaches bcdr alone, which
/// then stops its children in order) and has the kernel stop it if bcdr dies, even by SIGKILL.
pub fn tie_to_parent(cmd: &mut Command) {
    #[cfg(unix)]
    {
        // Its own process group: a Ctrl-C at the terminal reaches bcdr alone, which then stops
        // the handlers in order instead of seeing them die and restarting them.
        cmd.process_group(0);
    }
    #[cfg(target_os = "linux")]
    {
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: runs in the forked child before exec and only makes async-signal-safe calls.
        unsafe {
            cmd.pre_exec(move || {
                // If bcdr dies, even by SIGKILL, the kernel tells the handler to stop.
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
                // bcdr may have died between fork and prctl.
                if libc::getppid() != parent {
                    libc::raise(libc::SIGTERM);
                }
                Ok(())
            });
        }
    }
}

/// Handler stdout lines are information, stderr lines errors, each prefixed with the app name.
fn relay_output(name: &str, child: &mut Child) {
    if let Some(out) = child.stdout.take() {
        tokio::spawn(relay_lines(name.to_string(), out, false));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(relay_lines(name.to_string(), err, true));
    }
}

async fn relay_lines(name: String, stream: impl AsyncRead + Unpin, is_stderr: bool) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\r', '\n']);
                if is_stderr {
                    error!("[{name}] {text}");
                } else {
                    info!("[{name}] {text}");
                }
            }
        }
    }
}

/// SIGTERM, up to five seconds to exit, then SIGKILL.
async fn stop(name: &str, child: &mut Child) {
    let Some(pid) = child.id() else {
        return;
    };
    #[cfg(unix)]
    // SAFETY: kill(2) on our own child's pid; the child has not been reaped (id() is Some).
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
    match tokio::time::timeout(STOP_GRACE, child.wait()).await {
        Ok(Ok(status)) => info!("[{name}] handler (pid {pid}) stopped: {}", describe_exit(&status)),
        Ok(Err(e)) => warn!("[{name}] handler (pid {pid}) stop status unknown: {e}"),
        Err(_) => {
            warn!("[{name}] handler (pid {pid}) still running {} s after SIGTERM; killing it", STOP_GRACE.as_secs());
            let _ = child.kill().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_thirty_seconds_and_resets_after_a_healthy_run() {
        let mut b = Backoff::new();
        let short = Duration::from_secs(2);
        let delays: Vec<u64> = (0..7).map(|_| b.after_exit(short).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(b.after_exit(Duration::from_secs(61)).as_secs(), 1);
        assert_eq!(b.after_exit(short).as_secs(), 2);
    }

    #[cfg(unix)]
    #[test]
    fn exit_descriptions() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(describe_exit(&ExitStatus::from_raw(3 << 8)), "exit code 3");
        assert_eq!(describe_exit(&ExitStatus::from_raw(9)), "killed by signal 9 (SIGKILL)");
    }
}
