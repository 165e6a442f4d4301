//! The real proxy binary, with the repository's `conf/proxy.yaml`.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use reqwest::header::HeaderMap;

use super::{free_port, sample, wait_until, CLIENT_TIMEOUT, START_WITHIN};

const PROXY: &str = env!("CARGO_BIN_EXE_proxy-under-test");

pub struct Proxy {
    child: Child,
    pub base: String,
    pub metrics_base: String,
    http: reqwest::Client,
    stopped: bool,
    /// The last lines of its log (also forwarded to the test's output).
    log: Arc<Mutex<VecDeque<String>>>,
}

/// The most log lines a [`Proxy`] remembers.
const LOG_LINES: usize = 10_000;

/// One answer: status, headers, body.
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Proxy {
    /// Starts the proxy in front of `scraper_url` with Redis at `redis_url`
    /// and the extra variables `env`; waits until it answers `/health`.
    /// Its ports are free when chosen, but another process may take one
    /// before the proxy binds it: then the proxy exits, and it is started
    /// again on other ports.
    pub async fn start(redis_url: &str, scraper_url: &str, env: &[(&str, &str)]) -> Proxy {
        for _ in 0..3 {
            if let Some(proxy) = Proxy::try_start(redis_url, scraper_url, env).await {
                return proxy;
            }
        }
        panic!("the proxy exited at start three times (see its log above)");
    }

    async fn try_start(redis_url: &str, scraper_url: &str, env: &[(&str, &str)]) -> Option<Proxy> {
        // `PROXY_LISTEN` in `env` keeps a replaced replica's address.
        let listen = env.iter().find(|(name, _)| *name == "PROXY_LISTEN").map_or_else(
            || format!("127.0.0.1:{}", free_port()),
            |(_, address)| address.to_string(),
        );
        let metrics = free_port();
        let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/proxy.yaml");
        let mut command = Command::new(PROXY);
        command
            .arg("-c")
            .arg(conf)
            .env("PROXY_LISTEN", &listen)
            .env("METRICS_LISTEN", format!("127.0.0.1:{metrics}"))
            .env("REDIS_URL", redis_url)
            .env("SCRAPER_URL", scraper_url)
            .env("RUST_LOG", "info")
            // Stopped at once after SIGTERM unless a test asks for the delay.
            .env("PROXY_DRAIN_DELAY_SECS", "0")
            // The tests share two cores: a Redis reply slowed past the
            // 100 ms default by the tests beside would read as an outage
            // (and, say, a second lookup of a RUC the fleet coalesces).
            // Redis killed fails at once whatever the bound.
            .env("REDIS_TIMEOUT_MS", "1000")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (name, value) in env {
            command.env(name, value);
        }
        let mut child = command.spawn().expect("the proxy binary runs");
        let log = Arc::new(Mutex::new(VecDeque::new()));
        let stderr = child.stderr.take().expect("piped stderr");
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("{line}");
                let mut kept = kept.lock().unwrap();
                if kept.len() == LOG_LINES {
                    kept.pop_front();
                }
                kept.push_back(line);
            }
        });
        let mut proxy = Proxy {
            child,
            log,
            base: format!("http://{listen}"),
            metrics_base: format!("http://127.0.0.1:{metrics}"),
            http: reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap(),
            stopped: false,
        };
        let started = Instant::now();
        // The proxy's own `/health` (it names Redis), not another program's.
        while !proxy.own_health().await {
            if proxy.child.try_wait().unwrap().is_some() {
                proxy.stopped = true;
                return None;
            }
            assert!(started.elapsed() < START_WITHIN, "the proxy never answered");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Some(proxy)
    }

    /// The lines of its log that contain `text`.
    pub fn log_lines(&self, text: &str) -> Vec<String> {
        let log = self.log.lock().unwrap();
        log.iter().filter(|line| line.contains(text)).cloned().collect()
    }

    /// Waits (bounded) for a line of its log that contains all of `texts`
    /// (a line is written after its answer, and read from a pipe).
    pub async fn wait_for_log_line(&self, texts: &[&str]) -> String {
        let line = || {
            let lines = self.log_lines(texts[0]);
            lines
                .into_iter()
                .find(|line| texts.iter().all(|text| line.contains(text)))
        };
        wait_until(&format!("a log line with {texts:?}"), || line().is_some()).await;
        line().expect("found")
    }

    async fn own_health(&self) -> bool {
        let Ok(response) = self.http.get(format!("{}/health", self.base)).send().await else {
            return false;
        };
        response.text().await.is_ok_and(|body| body.contains(r#""redis""#))
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(reqwest::Method::GET, path).await
    }

    pub async fn head(&self, path: &str) -> Answer {
        self.send(reqwest::Method::HEAD, path).await
    }

    pub async fn send(&self, method: reqwest::Method, path: &str) -> Answer {
        let response = self
            .http
            .request(method, format!("{}{path}", self.base))
            .send()
            .await
            .expect("the proxy answers");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a whole body"),
        }
    }

    /// A `POST` of `body` with the given headers.
    pub async fn post(&self, path: &str, headers: &[(&str, &str)], body: impl Into<reqwest::Body>) -> Answer {
        let mut request = self.http.post(format!("{}{path}", self.base)).body(body);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the proxy answers");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a whole body"),
        }
    }

    /// A batch request for `rucs`, answered as one JSON array.
    pub async fn batch(&self, rucs: &[String]) -> Answer {
        let body = serde_json::json!({ "rucs": rucs }).to_string();
        self.post("/obtener-ruc", &[("Content-Type", "application/json")], body)
            .await
    }

    /// Like `get`, but the transfer may fail (a body cut short).
    pub async fn try_get(&self, path: &str) -> reqwest::Result<String> {
        self.http.get(format!("{}{path}", self.base)).send().await?.text().await
    }

    pub async fn lookup(&self, ruc: &str) -> Answer {
        self.get(&format!("/obtener-ruc/{ruc}")).await
    }

    /// A request to the admin listener (`METRICS_LISTEN`), with a bearer
    /// token when given.
    pub async fn admin(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> Answer {
        let mut request = self.http.request(method, format!("{}{path}", self.metrics_base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("the admin listener answers");
        Answer {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
            body: response.text().await.expect("a whole body"),
        }
    }

    /// One sample of the metrics endpoint.
    pub async fn metric(&self, name: &str) -> f64 {
        let page = self
            .http
            .get(format!("{}/metrics", self.metrics_base))
            .send()
            .await
            .unwrap();
        sample(&page.text().await.unwrap(), name)
    }

    /// Waits until no lookup is in flight in this replica: a background
    /// refresh, or a lookup whose answer this test did not wait for, has
    /// stored its answer and handed it to its followers. Until then, a new
    /// miss of the same RUC follows it.
    pub async fn lookups_settled(&self) {
        let settled = || async { self.metric("ruc_proxy_upstream_in_flight").await == 0.0 };
        super::wait_until_async("the lookups in flight end", settled).await;
    }

    pub async fn metrics_page(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.metrics_base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// SIGKILL, as in a crash: nothing is cleaned up.
    pub fn kill(&self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL).expect("the proxy runs");
    }

    /// Sends SIGTERM without waiting.
    pub fn terminate(&self) {
        kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM).expect("the proxy runs");
    }

    /// Sends SIGTERM and waits (up to 30 s, a bound against hangs) for an
    /// exit.
    pub async fn stop(self) -> ExitStatus {
        self.terminate();
        self.stop_after_signal().await
    }

    /// Waits for the exit that an earlier [`Proxy::terminate`] started.
    pub async fn stop_after_signal(mut self) -> ExitStatus {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "the proxy did not exit after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        self.stopped = true;
        status
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
