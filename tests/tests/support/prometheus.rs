//! A real Prometheus server that scrapes given targets every second and
//! evaluates the repository's alerting rules (`conf/prometheus/alerts.yml`)
//! every second, so that a test can see an alert fire on the services' own
//! metrics.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::{free_port, repo_file, require_program, unique_tmpdir, wait_until_async};

/// A running `prometheus`, killed with its data directory on drop.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    base: String,
    http: reqwest::Client,
}

impl Prometheus {
    /// Starts Prometheus on a free port, scraping `targets` (`host:port`,
    /// path `/metrics`) as `job`, and waits until it has scraped them all.
    pub async fn start(job: &str, targets: &[&str]) -> Prometheus {
        require_program("prometheus", "prometheus");
        let dir = unique_tmpdir();
        std::fs::create_dir_all(&dir).unwrap();
        let rules = repo_file("conf/prometheus/alerts.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {}\n\
             scrape_configs:\n  - job_name: {job}\n    static_configs:\n      - targets: {targets:?}\n",
            rules.display()
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let port = free_port();
        let child = Command::new("prometheus")
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("prometheus runs");
        let prometheus = Prometheus {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        };
        let scraped = format!("Prometheus scraping {targets:?}");
        wait_until_async(&scraped, || prometheus.scraped_all(targets.len())).await;
        prometheus
    }

    async fn api(&self, path: &str) -> Option<Value> {
        let response = self.http.get(format!("{}{path}", self.base)).send().await.ok()?;
        response.json::<Value>().await.ok()
    }

    async fn scraped_all(&self, count: usize) -> bool {
        let Some(targets) = self.api("/api/v1/targets").await else {
            return false;
        };
        let active = targets["data"]["activeTargets"].as_array().cloned().unwrap_or_default();
        active.len() == count && active.iter().all(|t| t["health"] == "up")
    }

    /// The alerts firing now, as `/api/v1/alerts` lists them.
    pub async fn firing(&self) -> Vec<Value> {
        let alerts = self.api("/api/v1/alerts").await.unwrap_or_default();
        let all = alerts["data"]["alerts"].as_array().cloned().unwrap_or_default();
        all.into_iter().filter(|a| a["state"] == "firing").collect()
    }

    /// Waits until `alert` fires (bounded), and returns it.
    pub async fn wait_for_alert(&self, alert: &str) -> Value {
        let found = || async {
            self.firing()
                .await
                .into_iter()
                .find(|a| a["labels"]["alertname"] == alert)
        };
        wait_until_async(&format!("{alert} firing"), || async { found().await.is_some() }).await;
        found().await.expect("firing")
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
