//! Finding processes in `/proc`, to check that no browser or driver of ours
//! outlives a test.
//!
//! A test gives the programs it starts their own `TMPDIR`. Children inherit
//! it, so our processes are recognised by that directory in their
//! environment, and Chromium's by chromedriver's process group (zygote
//! children start with an empty environment).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// One live process.
#[derive(Debug, Clone)]
pub struct Proc {
    pub pid: i32,
    pub pgid: i32,
    pub cmdline: String,
}

impl Proc {
    pub fn is_chromedriver(&self) -> bool {
        self.executable().ends_with("chromedriver")
    }

    /// A browser's main process (not one of its zygote/renderer/gpu children).
    pub fn is_browser(&self) -> bool {
        let exe = self.executable();
        (exe.ends_with("chromium") || exe.ends_with("chrome")) && !self.cmdline.contains("--type=")
    }

    pub fn is_renderer(&self) -> bool {
        self.cmdline.contains("--type=renderer")
    }

    fn executable(&self) -> &str {
        self.cmdline.split(' ').next().unwrap_or("")
    }
}

/// Every process that is not a zombie (zombies are dead; this machine's PID
/// 1 may not reap them).
pub fn live_processes() -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Fields after the parenthesised command: state, ppid, pgrp, …
            let after = &stat[stat.rfind(')')? + 2..];
            let fields: Vec<&str> = after.split(' ').collect();
            if fields.first() == Some(&"Z") {
                return None;
            }
            let pgid = fields.get(2)?.parse().ok()?;
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ").trim().to_string();
            Some(Proc { pid, pgid, cmdline })
        })
        .collect()
}

/// Waits up to 15 s for `processes` to come back empty (crash handlers
/// exit on their own shortly after their browser); panics with what is
/// left, named `what`.
pub async fn assert_all_exit(what: &str, processes: impl Fn() -> Vec<Proc>) {
    let started = std::time::Instant::now();
    let mut left = processes();
    while !left.is_empty() && started.elapsed() < std::time::Duration::from_secs(15) {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        left = processes();
    }
    assert!(left.is_empty(), "{what} left behind: {left:#?}");
}

pub fn environ_contains(pid: i32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|environ| String::from_utf8_lossy(&environ).contains(marker))
        .unwrap_or(false)
}

/// The processes started under one test directory. Cloneable, so a sampling
/// thread can watch them during a test.
#[derive(Clone)]
pub struct Scope {
    dir: PathBuf,
    /// A process of ours not to report (the program under test itself).
    except_pid: i32,
    /// Process groups of every chromedriver of ours ever seen.
    groups: Arc<Mutex<BTreeSet<i32>>>,
}

impl Scope {
    pub fn new(dir: PathBuf, except_pid: i32) -> Scope {
        Scope {
            dir,
            except_pid,
            groups: Arc::default(),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Our live processes now; remembers chromedriver process groups so that
    /// their browsers are still found after chromedriver is gone.
    pub fn processes(&self) -> Vec<Proc> {
        let all = live_processes();
        // With the slash, so that `…-1` does not also match `…-10`.
        let marker = format!("{}/", self.dir.display());
        let mut groups = self.groups.lock().unwrap();
        for proc in &all {
            if proc.is_chromedriver() && environ_contains(proc.pid, &marker) {
                groups.insert(proc.pgid);
            }
        }
        all.into_iter()
            .filter(|p| p.pid != self.except_pid && (groups.contains(&p.pgid) || environ_contains(p.pid, &marker)))
            .collect()
    }
}
