//! The guard of chromedriver's process group: what kills chromedriver and
//! its browsers when the scraper dies without cleaning up (SIGKILL, the
//! OOM killer).
//!
//! Nothing of a process killed that way runs again, so another process
//! does it: the scraper's own binary, started again with [`ARG`] as the
//! leader of a new process group, blocks reading its stdin, a pipe whose
//! only writer is the scraper. The kernel closes that pipe when the
//! scraper exits, however it exits; the guard then reads EOF and kills its
//! group, itself included. chromedriver is started into that group and
//! Chromium, chromedriver's child, stays in it. A parent-death signal
//! would not do: Chromium does not inherit it, and it fires when the
//! spawning thread exits rather than the process.

use std::io::Read;
use std::process::{ExitCode, Stdio};

use nix::sys::signal::{killpg, Signal};
use nix::unistd::getpgrp;
use tokio::process::{Child, Command};

/// The argument that makes the scraper's binary a guard.
pub(crate) const ARG: &str = "--guard-process-group";

/// Starts a guard leading a new process group (its id is the guard's
/// PID). The group lives as long as the returned child's stdin is open.
pub(crate) fn spawn() -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .arg(ARG)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
}

/// The guard's whole life, in the process [`spawn`] started: waits for
/// the scraper's end of the pipe to close, then kills the group.
pub(crate) fn run() -> ExitCode {
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 64];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => break,
            Err(e) if e.kind() != std::io::ErrorKind::Interrupted => break,
            _ => {}
        }
    }
    let _ = killpg(getpgrp(), Signal::SIGKILL);
    ExitCode::SUCCESS
}
