//! Stopping without losing work. Pingora stops its listeners as soon as it
//! hears SIGTERM (cloudflare/pingora#505), then sleeps a fixed grace
//! period. This process hears the signal itself ([`Signals`]) and tells
//! Pingora only once nothing is left to finish:
//!
//! 1. *stopping*: `/health` answers 503 `stopping`, so that readiness
//!    probes and balancers take the replica out, and every answer carries
//!    `Connection: close`; new connections are still served for
//!    `PROXY_DRAIN_DELAY_SECS`, while endpoints update;
//! 2. *closing*: idle connections close and new ones are closed unread;
//!    requests in progress are answered and background refreshes end,
//!    their records stored, for at most the longest wait a lookup can
//!    have (a follower's: queue, upstream timeout and margin);
//! 3. Pingora is told to terminate: its grace period (0 in
//!    `conf/proxy.yaml`) has nothing left to wait for, and the process
//!    exits 0.
//!
//! A second SIGTERM or a SIGINT exits at once; SIGQUIT is still Pingora's
//! graceful upgrade.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::{ShutdownSignal, ShutdownSignalWatch};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::watch;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

/// Where this process is in its stopping, and the work it waits for.
pub(crate) struct Drain {
    stopping: AtomicBool,
    closing: watch::Sender<bool>,
    /// Open connections and background refreshes.
    work: TaskTracker,
}

/// A connection the front serves: counted as work until dropped, with the
/// watch that closes it when it is idle.
pub(crate) struct Admitted {
    _work: TaskTrackerToken,
    pub(crate) closing: watch::Receiver<bool>,
}

impl Drain {
    pub(crate) fn new() -> Arc<Drain> {
        Arc::new(Drain {
            stopping: AtomicBool::new(false),
            closing: watch::Sender::new(false),
            work: TaskTracker::new(),
        })
    }

    /// SIGTERM was heard: `/health` says so and connections are not kept.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    /// A new connection, unless the process is closing.
    pub(crate) fn admit(&self) -> Option<Admitted> {
        if *self.closing.borrow() {
            return None;
        }
        Some(Admitted {
            _work: self.work.token(),
            closing: self.closing.subscribe(),
        })
    }

    /// Background work the process waits for before it exits.
    pub(crate) fn tasks(&self) -> &TaskTracker {
        &self.work
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn close(&self) {
        self.closing.send_replace(true);
        self.work.close();
    }
}

/// The signals, heard instead of Pingora's own handling.
pub(crate) struct Signals {
    pub(crate) drain: Arc<Drain>,
    /// `PROXY_DRAIN_DELAY_SECS`.
    pub(crate) delay: Duration,
    /// The longest wait a lookup can have.
    pub(crate) longest_lookup: Duration,
}

#[async_trait]
impl ShutdownSignalWatch for Signals {
    async fn recv(&self) -> ShutdownSignal {
        let (Ok(mut term), Ok(mut int), Ok(mut quit)) = (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
            signal(SignalKind::quit()),
        ) else {
            error!("cannot install signal handlers");
            return ShutdownSignal::FastShutdown;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => return ShutdownSignal::FastShutdown,
            _ = quit.recv() => return ShutdownSignal::GracefulUpgrade,
        }
        self.drain.stop();
        info!(delay = ?self.delay, "SIGTERM: /health answers 503; new connections still served while balancers notice");
        if until_signal(tokio::time::sleep(self.delay), &mut term, &mut int)
            .await
            .is_none()
        {
            warn!("second signal: exiting now");
            return ShutdownSignal::FastShutdown;
        }
        self.drain.close();
        info!(within = ?self.longest_lookup, "no new connections: finishing the requests and lookups in flight");
        let work = tokio::time::timeout(self.longest_lookup, self.drain.work.wait());
        match until_signal(work, &mut term, &mut int).await {
            Some(Ok(())) => info!("nothing left in flight: exiting"),
            Some(Err(_)) => warn!("work still in flight after the longest lookup's wait: exiting"),
            None => {
                warn!("second signal: exiting now");
                return ShutdownSignal::FastShutdown;
            }
        }
        ShutdownSignal::GracefulTerminate
    }
}

/// `work`'s outcome, or `None` if SIGTERM or SIGINT came first.
async fn until_signal<T>(work: impl std::future::Future<Output = T>, term: &mut Signal, int: &mut Signal) -> Option<T> {
    tokio::select! {
        done = work => Some(done),
        _ = term.recv() => None,
        _ = int.recv() => None,
    }
}
