//! The local stack command (`make demo`, `scripts/stack.sh demo`) as a
//! newcomer runs it: it starts Redis, the replica, the scraper and the proxy,
//! shows a MISS then a HIT, and Ctrl-C stops everything it started.
//!
//! The script is given this build's binaries (`STACK_BIN_DIR`) instead of
//! building release ones, and free ports.

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::support::procfs::Scope;
use crate::support::scraper::require_browser;
use crate::support::{free_port, require_program, unique_tmpdir};
use nix::sys::signal::{killpg, signal, SigHandler, Signal};
use nix::unistd::Pid;

#[tokio::test(flavor = "multi_thread")]
async fn the_demo_shows_a_miss_then_a_hit_and_ctrl_c_stops_everything() {
    require_browser();
    require_program("redis-server", "redis-server");
    require_program("curl", "curl");
    let dir = unique_tmpdir();
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    for (name, path) in [
        ("proxy", env!("CARGO_BIN_EXE_proxy-under-test")),
        ("scraper", env!("CARGO_BIN_EXE_scraper-under-test")),
        ("sunat-replica", env!("CARGO_BIN_EXE_sunat-replica")),
    ] {
        std::os::unix::fs::symlink(path, bin.join(name)).unwrap();
    }
    let port = |_| format!("127.0.0.1:{}", free_port());
    let (proxy, metrics, scraper, replica) = (port(0), port(1), port(2), port(3));
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/stack.sh");
    let mut command = Command::new(script);
    command
        .arg("demo")
        .env("STACK_BIN_DIR", &bin)
        .env("STACK_DIR", dir.join("state"))
        .env("TMPDIR", &dir)
        .env("PROXY_LISTEN", &proxy)
        .env("METRICS_LISTEN", &metrics)
        .env("SCRAPER_LISTEN", &scraper)
        .env("REPLICA_LISTEN", &replica)
        .env("REDIS_URL", format!("redis://127.0.0.1:{}", free_port()))
        .env("SCRAPER_SESSIONS", "1")
        .process_group(0)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    // A terminal's Ctrl-C reaches a script whose SIGINT is at its default;
    // a test run started in the background inherits it ignored, and bash
    // cannot trap a signal ignored at its start.
    // SAFETY: only an async-signal-safe call between fork and exec.
    unsafe {
        command.pre_exec(|| {
            signal(Signal::SIGINT, SigHandler::SigDfl)
                .map(drop)
                .map_err(std::io::Error::from)
        });
    }
    let mut stack = command.spawn().expect("the script runs");
    let scope = Scope::new(dir.clone(), stack.id() as i32);
    let _cleanup = KillOnDrop(scope.clone(), stack.id() as i32);

    let (lines, output) = mpsc::channel();
    let stdout = stack.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[stack] {line}");
            let _ = lines.send(line);
        }
    });
    let mut answers = Vec::new();
    let started = Instant::now();
    while answers.len() < 2 {
        let line = output
            .recv_timeout(Duration::from_secs(180).saturating_sub(started.elapsed()))
            .expect("the demo printed two lookups");
        if line.contains("X-Cache:") && !line.starts_with('$') {
            answers.push(line);
        }
        scope.processes(); // notes chromedriver's process group
    }
    assert_eq!(answers, ["200 X-Cache: MISS", "200 X-Cache: HIT"]);
    assert!(!scope.processes().is_empty());

    // Ctrl-C: the terminal signals the whole foreground process group.
    killpg(Pid::from_raw(stack.id() as i32), Signal::SIGINT).unwrap();
    let deadline = Instant::now() + Duration::from_secs(90);
    let status = loop {
        if let Some(status) = stack.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the stack did not stop");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(status.code(), Some(130), "stopped by Ctrl-C");
    let mut left = scope.processes();
    while !left.is_empty() && Instant::now() < deadline + Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        left = scope.processes();
    }
    assert!(left.is_empty(), "still running after Ctrl-C: {left:#?}");
    for address in [&proxy, &scraper, &replica] {
        assert!(
            std::net::TcpStream::connect(address).is_err(),
            "{address} still answers"
        );
    }
}

/// After a failed assertion: kill the script and whatever it started.
struct KillOnDrop(Scope, i32);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = killpg(Pid::from_raw(self.1), Signal::SIGKILL);
        for proc in self.0.processes() {
            let _ = nix::sys::signal::kill(Pid::from_raw(proc.pid), Signal::SIGKILL);
        }
        let _ = std::fs::remove_dir_all(self.0.dir());
    }
}
