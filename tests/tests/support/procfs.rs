//! Finding processes in `/proc`, to check that no browser or driver of ours
//! outlives a test.

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
            let cmdline = String::from_utf8_lossy(&cmdline)
                .replace('\0', " ")
                .trim()
                .to_string();
            Some(Proc { pid, pgid, cmdline })
        })
        .collect()
}

pub fn environ_contains(pid: i32, marker: &str) -> bool {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|environ| String::from_utf8_lossy(&environ).contains(marker))
        .unwrap_or(false)
}
