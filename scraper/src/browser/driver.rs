//! The WebDriver endpoint. By default we run chromedriver ourselves, on a
//! free loopback port, in its own process group and with its own `TMPDIR`:
//! killing that group is the only way to be sure no browser outlives it
//! (`webdriver.md` §4.4). The group's leader is a [`guard`] that kills it
//! if the scraper dies without doing so. With `WEBDRIVER_URL` we use a
//! remote endpoint and can only recover through timeouts and session
//! deletion.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::{getpgid, Pid};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;
use tracing::{debug, error, info, warn};

use super::guard;
use crate::metrics::Metrics;

/// How long a fresh chromedriver may take to answer `/status` (it takes
/// 12–18 ms on a quiet machine).
const READY_WITHIN: Duration = Duration::from_secs(10);
/// How long a `/status` probe may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the watchdog checks that our chromedriver is alive.
const WATCH_EVERY: Duration = Duration::from_millis(500);

/// Where the WebDriver endpoint comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DriverConfig {
    /// Run `chromedriver` ourselves; its temp files live under `work_dir`.
    Embedded { chromedriver: PathBuf, work_dir: PathBuf },
    /// Use a chromedriver sidecar or Selenium Grid at this URL.
    Remote { url: String },
}

/// The WebDriver endpoint sessions are opened on.
pub(crate) struct Driver {
    embedded: Option<Embedded>,
    url: RwLock<String>,
    /// Bumped by every restart; sessions of an older generation are dead.
    generation: AtomicU64,
    metrics: Metrics,
    http: HttpClient<hyper_util::client::legacy::connect::HttpConnector, Empty<Bytes>>,
}

/// The chromedriver this scraper runs itself, in its own process group.
struct Embedded {
    chromedriver: PathBuf,
    work_dir: PathBuf,
    process: tokio::sync::Mutex<Option<Process>>,
    /// The running chromedriver's process group, readable without the lock
    /// (for `Drop` and for checking a browser PID before killing it).
    pgid: AtomicI32,
}

/// A running chromedriver, in the process group its guard leads.
struct Process {
    child: Child,
    /// Kills the group when its stdin closes: when this is dropped, or
    /// when the scraper dies.
    guard: Child,
    pgid: Pid,
    tmpdir: PathBuf,
}

/// Why chromedriver could not be started or reached.
#[derive(Debug)]
pub(crate) struct DriverError(String);

impl std::fmt::Display for DriverError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DriverError {}

impl Driver {
    pub(crate) async fn start(config: &DriverConfig, metrics: Metrics) -> Result<Arc<Driver>, DriverError> {
        let http = HttpClient::builder(TokioExecutor::new()).build_http();
        let driver = match config {
            DriverConfig::Remote { url } => Driver {
                embedded: None,
                url: RwLock::new(url.clone()),
                generation: AtomicU64::new(0),
                metrics,
                http,
            },
            DriverConfig::Embedded { chromedriver, work_dir } => {
                std::fs::create_dir_all(work_dir)
                    .map_err(|e| DriverError(format!("cannot create {}: {e}", work_dir.display())))?;
                let driver = Driver {
                    embedded: Some(Embedded {
                        chromedriver: chromedriver.clone(),
                        work_dir: work_dir.clone(),
                        process: tokio::sync::Mutex::new(None),
                        pgid: AtomicI32::new(0),
                    }),
                    url: RwLock::new(String::new()),
                    generation: AtomicU64::new(0),
                    metrics,
                    http,
                };
                {
                    let embedded = driver.embedded.as_ref().expect("just built");
                    let mut process = embedded.process.lock().await;
                    driver.spawn_process(0, &mut process).await?;
                }
                driver
            }
        };
        info!(url = %driver.url(), embedded = driver.embedded.is_some(), "webdriver endpoint ready");
        Ok(Arc::new(driver))
    }

    /// The WebDriver URL, with a trailing slash (fantoccini joins `session`).
    pub(crate) fn url(&self) -> String {
        self.url.read().expect("url lock").clone()
    }

    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Restarts our chromedriver, unless someone already did since
    /// `seen_generation`. Every browser of the old driver dies with its
    /// process group. A remote endpoint cannot be restarted: no-op.
    pub(crate) async fn restart(&self, seen_generation: u64) {
        let Some(embedded) = &self.embedded else {
            return;
        };
        let mut process = embedded.process.lock().await;
        if self.generation() != seen_generation {
            return;
        }
        if let Some(old) = process.take() {
            old.terminate().await;
        }
        let next = seen_generation + 1;
        warn!(generation = next, "restarting chromedriver");
        self.metrics.driver_restarts.inc();
        if let Err(e) = self.spawn_process(next, &mut process).await {
            error!(error = %e, "chromedriver did not restart");
        }
    }

    /// Whether the endpoint answers `GET /status`.
    pub(crate) async fn answers(&self) -> bool {
        let Ok(uri) = format!("{}status", self.url()).parse::<hyper::Uri>() else {
            return false;
        };
        matches!(
            tokio::time::timeout(PROBE_TIMEOUT, self.http.get(uri)).await,
            Ok(Ok(response)) if response.status().is_success()
        )
    }

    /// Kills a browser whose command hung. Only for browsers of our own
    /// chromedriver, checked through the process group, so a PID that was
    /// reused by another program is never touched.
    pub(crate) fn kill_browser(&self, pid: u32) -> bool {
        let Some(embedded) = &self.embedded else {
            return false;
        };
        let pid = Pid::from_raw(pid as i32);
        let ours = getpgid(Some(pid)).is_ok_and(|group| group.as_raw() == embedded.pgid.load(Ordering::SeqCst));
        ours && kill(pid, Signal::SIGKILL).is_ok()
    }

    /// Restarts chromedriver whenever it dies, until `stop` is cancelled.
    pub(crate) async fn watch(self: Arc<Self>, stop: CancellationToken) {
        let Some(embedded) = &self.embedded else {
            return;
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(WATCH_EVERY) => {}
            }
            let generation = self.generation();
            let dead = match embedded.process.lock().await.as_mut() {
                Some(process) => !matches!(process.child.try_wait(), Ok(None)),
                None => true,
            };
            if dead {
                warn!(generation, "chromedriver is not running");
                self.restart(generation).await;
            }
        }
    }

    /// Kills chromedriver's process group (every browser with it) and removes
    /// the temp directory.
    pub(crate) async fn shutdown(&self) {
        let Some(embedded) = &self.embedded else {
            return;
        };
        if let Some(process) = embedded.process.lock().await.take() {
            process.terminate().await;
        }
        self.kill_now();
        info!("chromedriver stopped");
    }

    /// Starts chromedriver into `slot`, which the caller holds locked so that
    /// two restarts never race.
    async fn spawn_process(&self, generation: u64, slot: &mut Option<Process>) -> Result<(), DriverError> {
        let embedded = self.embedded.as_ref().expect("only for an embedded driver");
        let tmpdir = embedded.work_dir.join(format!("driver-{generation}"));
        remove_dir(&tmpdir);
        std::fs::create_dir_all(&tmpdir)
            .map_err(|e| DriverError(format!("cannot create {}: {e}", tmpdir.display())))?;
        let process = self.launch(&embedded.chromedriver, tmpdir).await?;
        embedded.pgid.store(process.pgid.as_raw(), Ordering::SeqCst);
        *slot = Some(process);
        self.generation.store(generation, Ordering::SeqCst);
        Ok(())
    }

    /// Starts chromedriver on a free port, points [`Driver::url`] at it and
    /// waits until it answers. A port taken between our probe and
    /// chromedriver's bind gets another try.
    async fn launch(&self, chromedriver: &Path, tmpdir: PathBuf) -> Result<Process, DriverError> {
        let mut last_error = DriverError("chromedriver did not start".into());
        for _ in 0..3 {
            let port = free_port().map_err(|e| DriverError(format!("no free port: {e}")))?;
            let guard =
                guard::spawn().map_err(|e| DriverError(format!("cannot start the process group's guard: {e}")))?;
            // Never 0: that would name the scraper's own group.
            let pgid = guard
                .id()
                .ok_or_else(|| DriverError("the process group's guard exited at start".into()))?;
            let pgid = Pid::from_raw(pgid as i32);
            let mut child = Command::new(chromedriver)
                .arg(format!("--port={port}"))
                .arg("--log-level=WARNING")
                .env("TMPDIR", &tmpdir)
                .process_group(pgid.as_raw())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .kill_on_drop(true)
                .spawn()
                .map_err(|e| DriverError(format!("cannot run {}: {e}", chromedriver.display())))?;
            if let Some(stderr) = child.stderr.take() {
                tokio::spawn(forward_output(stderr));
            }
            let process = Process {
                child,
                guard,
                pgid,
                tmpdir: tmpdir.clone(),
            };
            let url = format!("http://127.0.0.1:{port}/");
            *self.url.write().expect("url lock") = url.clone();
            match self.wait_ready(process).await {
                Ok(process) => {
                    debug!(%url, pgid = process.pgid.as_raw(), "chromedriver started");
                    return Ok(process);
                }
                Err(error) => last_error = error,
            }
        }
        Err(last_error)
    }

    async fn wait_ready(&self, mut process: Process) -> Result<Process, DriverError> {
        let started = Instant::now();
        while started.elapsed() < READY_WITHIN {
            if let Ok(Some(status)) = process.child.try_wait() {
                return Err(DriverError(format!("chromedriver exited at start: {status}")));
            }
            if self.answers().await {
                return Ok(process);
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        process.terminate().await;
        Err(DriverError(format!(
            "chromedriver did not answer within {READY_WITHIN:?}"
        )))
    }
}

impl Process {
    /// SIGKILL to the whole group: chromedriver ignores nothing it cannot,
    /// and SIGTERM would leave its browsers running.
    async fn terminate(mut self) {
        let _ = killpg(self.pgid, Signal::SIGKILL);
        let _ = self.child.wait().await;
        let _ = self.guard.wait().await;
        remove_dir(&self.tmpdir);
    }
}

impl Driver {
    /// Kills chromedriver's group at once, without waiting: for a forced
    /// exit, or when `shutdown` was not reached.
    pub(crate) fn kill_now(&self) {
        if let Some(embedded) = &self.embedded {
            let pgid = embedded.pgid.swap(0, Ordering::SeqCst);
            if pgid > 0 {
                let _ = killpg(Pid::from_raw(pgid), Signal::SIGKILL);
            }
            remove_dir(&embedded.work_dir);
        }
    }
}

impl Drop for Driver {
    /// Never leave a process group of browsers behind.
    fn drop(&mut self) {
        self.kill_now();
    }
}

fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            warn!(dir = %dir.display(), error = %e, "cannot remove temp directory");
        }
    }
}

/// chromedriver's and Chrome's stderr, into our logs.
async fn forward_output(stderr: tokio::process::ChildStderr) {
    let mut lines = BufReader::new(stderr).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        debug!(target: "chromedriver", "{line}");
    }
}
