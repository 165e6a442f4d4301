//! The browser side: a chromedriver we run (or a remote WebDriver endpoint),
//! WebDriver sessions on it, and the pool that lends them out.
//!
//! - [`driver`]: starts chromedriver in its own process group, restarts it
//!   when it dies, kills the whole group on shutdown.
//! - [`guard`]: kills that group when the scraper dies without doing so.
//! - [`session`]: one browser session; how WebDriver errors are classified
//!   into [`Fault`]s and what each one means for the session.
//! - [`pool`]: a fixed number of warm sessions, one lookup per session, with
//!   recycling and replacement of broken sessions.

pub(crate) mod driver;
pub(crate) mod guard;
pub(crate) mod pool;
pub(crate) mod session;

use std::sync::Arc;

pub(crate) use driver::Driver;
pub(crate) use pool::{Lease, Pool};
pub(crate) use session::Fault;

use crate::metrics::Metrics;
use driver::{DriverConfig, DriverError};
use session::SessionConfig;

/// The browser side as the service runs it: the driver and the warm pool.
/// Absent in `http` mode; cheap to clone.
#[derive(Clone)]
pub(crate) struct Browser {
    pub(crate) driver: Arc<Driver>,
    pub(crate) pool: Pool,
}

impl Browser {
    /// Starts the driver and opens a session in every slot.
    pub(crate) async fn start(
        driver: &DriverConfig,
        sessions: SessionConfig,
        size: usize,
        recycle_after: u32,
        metrics: Metrics,
    ) -> Result<Browser, DriverError> {
        let driver = Driver::start(driver, metrics.clone()).await?;
        let pool = Pool::new(driver.clone(), sessions, size, recycle_after, metrics);
        pool.warm_up().await;
        Ok(Browser { driver, pool })
    }

    /// Closes the idle sessions, then the driver (after in-flight lookups).
    pub(crate) async fn shutdown(&self) {
        self.pool.close_all().await;
        self.driver.shutdown().await;
    }
}
