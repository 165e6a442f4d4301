//! A fixed pool of warm browser sessions. Each lookup leases one session for
//! its whole duration (one lookup per browser at a time); the lookup slots
//! (`lookup::slots`) already bound lookups to the pool's size, so a lease
//! waits only while a session is being recycled. A session is replaced when it breaks
//! and recycled after a number of lookups, always closing the old browser
//! before opening the new one, so there are never more browsers than slots.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::{info, warn};

use super::driver::Driver;
use super::session::{Fault, Recovery, Session, SessionConfig};
use crate::metrics::Metrics;

/// How long closing a session may take before we stop waiting for it.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

/// The warm browser sessions, one lookup each at a time; cheap to clone.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

/// What every clone of the pool shares.
struct Inner {
    driver: Arc<Driver>,
    config: SessionConfig,
    size: usize,
    recycle_after: u32,
    /// One permit per slot not leased.
    permits: Arc<Semaphore>,
    /// Slots not leased; `None` is a slot whose session must be (re)opened.
    idle: Mutex<Vec<Option<Session>>>,
    metrics: Metrics,
}

/// A slot lent to one lookup. Dropping it returns the slot to the pool.
pub(crate) struct Lease {
    session: Option<Session>,
    /// Whether a lookup used the session (counts towards recycling).
    used: bool,
    permit: Option<OwnedSemaphorePermit>,
    inner: Arc<Inner>,
}

/// The counts `/health` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PoolStatus {
    pub(crate) idle: usize,
    pub(crate) busy: usize,
}

impl Pool {
    pub(crate) fn new(
        driver: Arc<Driver>,
        config: SessionConfig,
        size: usize,
        recycle_after: u32,
        metrics: Metrics,
    ) -> Pool {
        let pool = Pool {
            inner: Arc::new(Inner {
                driver,
                config,
                size,
                recycle_after,
                permits: Arc::new(Semaphore::new(size)),
                idle: Mutex::new((0..size).map(|_| None).collect()),
                metrics,
            }),
        };
        pool.inner.update_gauges();
        pool
    }

    /// Opens a session in every empty slot, one at a time (starting browsers
    /// in parallel on two cores only makes each start slower).
    pub(crate) async fn warm_up(&self) {
        let mut leases = Vec::new();
        while let Some(mut lease) = self.acquire(Duration::ZERO).await {
            if let Err(fault) = lease.open().await {
                warn!(%fault, "could not open a browser session at start");
            }
            leases.push(lease);
        }
        drop(leases);
        info!(sessions = self.status().idle, "browser pool warmed up");
    }

    /// Waits up to `wait` for a free slot. `None` when the wait ran out.
    pub(crate) async fn acquire(&self, wait: Duration) -> Option<Lease> {
        let inner = &self.inner;
        let permit = tokio::time::timeout(wait, inner.permits.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        // A live session first: a slot without one is (re)opened only when
        // no live session is idle (the WebDriver endpoint, a Grid say, may
        // have no room for another browser).
        let session = {
            let mut idle = inner.idle.lock().expect("pool lock");
            let live = idle.iter().rposition(Option::is_some);
            let at = live.unwrap_or(idle.len().saturating_sub(1));
            assert!(!idle.is_empty(), "a permit means an idle slot");
            idle.swap_remove(at)
        };
        inner.update_gauges();
        Some(Lease {
            session,
            used: false,
            permit: Some(permit),
            inner: self.inner.clone(),
        })
    }

    pub(crate) fn status(&self) -> PoolStatus {
        self.inner.status()
    }

    /// Closes every idle session (at shutdown, after in-flight lookups).
    pub(crate) async fn close_all(&self) {
        let sessions: Vec<Session> = self
            .inner
            .idle
            .lock()
            .expect("pool lock")
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for session in sessions {
            session.close(CLOSE_WITHIN).await;
        }
        self.inner.update_gauges();
    }
}

impl Inner {
    fn status(&self) -> PoolStatus {
        let idle = self.idle.lock().expect("pool lock").len();
        PoolStatus {
            idle,
            busy: self.size - idle,
        }
    }

    fn update_gauges(&self) {
        let status = self.status();
        self.metrics
            .sessions
            .with_label_values(&["idle"])
            .set(status.idle as i64);
        self.metrics
            .sessions
            .with_label_values(&["busy"])
            .set(status.busy as i64);
    }
}

impl Lease {
    /// The slot's session for a lookup, opened now if needed.
    pub(crate) async fn session(&mut self) -> Result<&Session, Fault> {
        self.used = true;
        self.open().await
    }

    /// Opens a session if the slot is empty or its session died with an
    /// older chromedriver.
    ///
    /// If the lookup's deadline cancels this while Chrome starts, fantoccini
    /// finishes creating the session in the background and then deletes it:
    /// until then one browser more than the pool size may run.
    async fn open(&mut self) -> Result<&Session, Fault> {
        let driver = &self.inner.driver;
        if self
            .session
            .as_ref()
            .is_some_and(|s| s.generation != driver.generation())
        {
            // Its browser died with the old driver's process group.
            self.session = None;
            self.inner.metrics.session_restarts.inc();
        }
        if self.session.is_none() {
            let generation = driver.generation();
            let session = Session::open(&driver.url(), &self.inner.config, generation).await;
            match session {
                Ok(session) => self.session = Some(session),
                Err(fault) => {
                    if fault.recovery() == Recovery::RestartDriver {
                        driver.restart(generation).await;
                    }
                    return Err(fault);
                }
            }
        }
        Ok(self.session.as_ref().expect("just opened"))
    }

    /// Applies the recovery a fault calls for. Whatever is replaced is gone
    /// before this returns, so the next session never coexists with it.
    pub(crate) async fn recover(&mut self, fault: &Fault) {
        let recovery = fault.recovery();
        if recovery == Recovery::Keep {
            return;
        }
        let Some(session) = self.session.take() else {
            return;
        };
        self.inner.metrics.session_restarts.inc();
        warn!(%fault, ?recovery, "replacing browser session");
        match recovery {
            Recovery::Kill => self.inner.kill(session).await,
            Recovery::RestartDriver => self.inner.driver.restart(session.generation).await,
            Recovery::Replace | Recovery::Keep => session.close(CLOSE_WITHIN).await,
        }
    }
}

impl Inner {
    /// Ends a session whose command hangs: SIGKILL its browser when it is
    /// ours (the pending command then fails at once), otherwise wait for the
    /// DELETE, which a remote endpoint serves after its own timeouts.
    async fn kill(&self, session: Session) {
        let killed = session.browser_pid().is_some_and(|pid| self.driver.kill_browser(pid));
        if !killed {
            session.close(self.config.page_load_timeout + CLOSE_WITHIN).await;
        }
    }

    fn give_back(&self, session: Option<Session>, permit: OwnedSemaphorePermit) {
        self.idle.lock().expect("pool lock").push(session);
        drop(permit);
        self.update_gauges();
    }
}

impl Drop for Lease {
    /// Returns the slot; a session due for recycling is closed and replaced
    /// in the background while the slot stays out of the pool.
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut session = self.session.take();
        if let Some(s) = session.as_mut().filter(|_| self.used) {
            s.lookups += 1;
        }
        let due = session.as_ref().is_some_and(|s| s.lookups >= self.inner.recycle_after);
        if !due {
            self.inner.give_back(session, permit);
            return;
        }
        let inner = self.inner.clone();
        let recycle = async move {
            inner.metrics.session_restarts.inc();
            info!(after = inner.recycle_after, "recycling browser session");
            if let Some(old) = session {
                old.close(CLOSE_WITHIN).await;
            }
            let driver = &inner.driver;
            let fresh = Session::open(&driver.url(), &inner.config, driver.generation()).await;
            if let Err(fault) = &fresh {
                warn!(%fault, "could not reopen a recycled session; the next lookup will retry");
            }
            inner.give_back(fresh.ok(), permit);
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn(recycle)),
            Err(_) => warn!("no runtime to recycle a session; dropping it"),
        }
    }
}
