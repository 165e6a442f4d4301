//! The real scraper binary, started against the SUNAT replica, with its own
//! `TMPDIR` so that its chromedriver and browsers can be found (see
//! [`super::procfs::Scope`]).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use ruc_tests::replica::{Behaviour, Replica};
use serde_json::Value;

use super::procfs::{assert_all_exit, live_processes, Proc, Scope};
use super::{
    assert_record, expected_record, require_program, sample, sum_samples, unique_tmpdir, CLIENT_TIMEOUT, START_WITHIN,
};

const SCRAPER: &str = env!("CARGO_BIN_EXE_scraper-under-test");

/// Fails the test with an install hint when Chromium or chromedriver is missing.
pub fn require_browser() {
    require_program("chromium", "chromium chromium-driver");
    require_program("chromedriver", "chromium chromium-driver");
}

/// A running scraper process.
pub struct Scraper {
    child: Child,
    pub base: String,
    scope: Scope,
    http: reqwest::Client,
    stopped: bool,
}

impl Scraper {
    /// Starts the scraper on a free port with `SUNAT_URL` pointing at the
    /// replica and the extra variables `env`, and waits until `/health` is 200.
    pub async fn start(replica: &Replica, env: &[(&str, &str)]) -> Scraper {
        require_browser();
        Scraper::spawn(replica, env).await
    }

    /// Starts the scraper in `http` mode with neither chromedriver nor
    /// Chromium on its `PATH`.
    pub async fn start_without_browser(replica: &Replica, env: &[(&str, &str)]) -> Scraper {
        let empty = unique_tmpdir();
        std::fs::create_dir_all(&empty).expect("an empty PATH directory");
        let path = empty.to_string_lossy().into_owned();
        let mut env = env.to_vec();
        env.extend([("SCRAPER_MODE", "http"), ("PATH", path.as_str())]);
        let scraper = Scraper::spawn(replica, &env).await;
        let _ = std::fs::remove_dir_all(&empty);
        scraper
    }

    async fn spawn(replica: &Replica, env: &[(&str, &str)]) -> Scraper {
        let tmpdir = unique_tmpdir();
        let mut command = Command::new(SCRAPER);
        command
            .env("SCRAPER_LISTEN", "127.0.0.1:0")
            .env("SUNAT_URL", replica.url())
            .env("TMPDIR", &tmpdir)
            .env("RUST_LOG", "info")
            // No balancer watches these scrapers: stop without the drain
            // pause (the tests of draining set it).
            .env("SCRAPER_DRAIN_SECS", "0")
            .env_remove("WEBDRIVER_URL")
            .env_remove("CHROMEDRIVER")
            .env_remove("CHROME_BINARY")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the scraper binary runs");
        let base = listening_address(&mut child);
        let scraper = Scraper {
            scope: Scope::new(tmpdir, child.id() as i32),
            child,
            base: format!("http://{base}"),
            http: reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap(),
            stopped: false,
        };
        let started = Instant::now();
        while scraper.get("/health").await.0 != 200 {
            assert!(started.elapsed() < START_WITHIN, "the scraper never became healthy");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        scraper.processes();
        scraper
    }

    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    /// `GET path`: status, headers and body.
    pub async fn get_raw(&self, path: &str) -> (u16, reqwest::header::HeaderMap, String) {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("the scraper answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.text().await.expect("a body"))
    }

    /// `GET path` with a JSON body.
    pub async fn get(&self, path: &str) -> (u16, Value) {
        let (status, _, body) = self.get_raw(path).await;
        (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
    }

    pub async fn lookup(&self, ruc: &str) -> (u16, Value) {
        self.get(&format!("/obtener-ruc/{ruc}")).await
    }

    /// The value of one sample of `/metrics`, e.g.
    /// `ruc_scraper_lookups_total{outcome="ok"}`; 0 when absent.
    pub async fn metric(&self, name: &str) -> f64 {
        let (_, _, text) = self.get_raw("/metrics").await;
        sample(&text, name)
    }

    /// Under each of `behaviours` of the replica, three taxpayers of
    /// different kinds give their whole records.
    pub async fn assert_records_under(&self, replica: &Replica, behaviours: &[Behaviour]) {
        for behaviour in behaviours {
            replica.set_behaviour(behaviour.clone());
            for ruc in ["20146806679", "20440374248", "10471234562"] {
                let (status, body) = self.lookup(ruc).await;
                assert_eq!(status, 200, "{behaviour:?} {ruc}: {body}");
                assert_record(&body, &expected_record(ruc));
            }
        }
    }

    /// `ruc_scraper_lookups_total` for one outcome, whatever the method.
    pub async fn outcomes(&self, outcome: &str) -> f64 {
        let (_, _, text) = self.get_raw("/metrics").await;
        sum_samples(&text, "ruc_scraper_lookups_total", &[&format!("outcome=\"{outcome}\"")])
    }

    /// `ruc_scraper_lookups_total` answered by one method (`http`, `browser`).
    pub async fn answered_by(&self, method: &str) -> f64 {
        let (_, _, text) = self.get_raw("/metrics").await;
        sum_samples(&text, "ruc_scraper_lookups_total", &[&format!("method=\"{method}\"")])
    }

    pub fn scope(&self) -> Scope {
        self.scope.clone()
    }

    pub fn processes(&self) -> Vec<Proc> {
        self.scope.processes()
    }

    /// SIGKILLs our processes that match `which`; returns how many.
    pub fn kill_processes(&self, which: impl Fn(&Proc) -> bool) -> usize {
        let victims: Vec<Proc> = self.processes().into_iter().filter(|p| which(p)).collect();
        for victim in &victims {
            let _ = kill(Pid::from_raw(victim.pid), Signal::SIGKILL);
        }
        victims.len()
    }

    /// SIGKILLs the scraper itself, as the OOM killer would, and waits
    /// for it to be gone: nothing of its own cleanup runs.
    pub async fn kill(&mut self) {
        kill(Pid::from_raw(self.pid()), Signal::SIGKILL).expect("the scraper is running");
        self.wait_exit(Duration::from_secs(10)).await;
        self.stopped = true;
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        kill(Pid::from_raw(self.pid()), Signal::SIGTERM).expect("the scraper is running");
    }

    /// Stops the scraper with SIGTERM and checks that it exits cleanly and
    /// leaves no chromedriver, no browser and no temp files behind.
    pub async fn stop(mut self) {
        self.terminate();
        let status = self.wait_exit(Duration::from_secs(90)).await;
        self.stopped = true;
        assert!(status.success(), "the scraper exited with {status}");
        self.assert_nothing_left().await;
    }

    pub async fn wait_exit(&mut self, within: Duration) -> ExitStatus {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("waitpid") {
                return status;
            }
            assert!(started.elapsed() < within, "the scraper did not exit within {within:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// No process of ours is running and the scraper's temp directory is
    /// gone. Crash handlers exit on their own shortly after their browser,
    /// so this waits a little for them.
    pub async fn assert_nothing_left(&self) {
        assert_all_exit("processes", || self.processes()).await;
        let leftovers: Vec<_> = std::fs::read_dir(self.scope.dir())
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| is_ours(p))
                    .collect()
            })
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "temp files left behind: {leftovers:?}");
    }
}

impl Drop for Scraper {
    /// After a failed test: kill whatever is left and remove the temp dir.
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        for proc in self.processes() {
            let _ = kill(Pid::from_raw(proc.pid), Signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(self.scope.dir());
    }
}

/// The scraper's own temp entries (`ruc-scraper-<pid>`), not Chromium's
/// crash-handler leftovers, which we do not own.
/// The scraper's own temp files; the pages it kept for diagnosis
/// (`ruc-scraper-unknown-pages`, the default directory) outlive it by design.
fn is_ours(path: &Path) -> bool {
    path.file_name().is_some_and(|name| {
        let name = name.to_string_lossy();
        name.starts_with("ruc-scraper-") && name != "ruc-scraper-unknown-pages"
    })
}

/// Reads the scraper's log until it says where it listens; forwards every
/// line to the test's output.
fn listening_address(child: &mut Child) -> String {
    let stderr = child.stderr.take().expect("piped stderr");
    let (found, address) = mpsc::channel();
    std::thread::spawn(move || {
        let mut found = Some(found);
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("[scraper] {line}");
            if line.contains("scraper listening") {
                let address = line
                    .split("addr=")
                    .nth(1)
                    .and_then(|rest| rest.split_whitespace().next());
                if let (Some(sender), Some(address)) = (found.take(), address) {
                    let _ = sender.send(address.to_string());
                }
            }
        }
    });
    address
        .recv_timeout(START_WITHIN)
        .expect("the scraper logs `scraper listening addr=…` at start")
}

/// A chromedriver the test runs itself, standing in for a sidecar or grid.
/// Killed with its process group when dropped.
pub struct RemoteDriver {
    child: Child,
    port: u16,
    tmpdir: PathBuf,
}

impl RemoteDriver {
    pub fn start() -> RemoteDriver {
        require_browser();
        use std::os::unix::process::CommandExt;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let tmpdir = unique_tmpdir();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .env("TMPDIR", &tmpdir)
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs");
        let driver = RemoteDriver { child, port, tmpdir };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < START_WITHIN, "chromedriver never listened");
            std::thread::sleep(Duration::from_millis(20));
        }
        driver
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }

    /// Browsers running under this chromedriver.
    pub fn browsers(&self) -> usize {
        let group = self.child.id() as i32;
        live_processes()
            .iter()
            .filter(|p| p.pgid == group && p.is_browser())
            .count()
    }

    /// Waits (up to 15 s, a bound against hangs) until `count` browsers run.
    pub async fn wait_for_browsers(&self, count: usize) {
        let started = Instant::now();
        while self.browsers() != count {
            assert!(
                started.elapsed() < Duration::from_secs(15),
                "{} browsers, expected {count}",
                self.browsers()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for RemoteDriver {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.tmpdir);
    }
}
