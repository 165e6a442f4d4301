//! The browser side: a chromedriver we run (or a remote WebDriver endpoint),
//! WebDriver sessions on it, and the pool that lends them out.
//!
//! - [`driver`]: starts chromedriver in its own process group, restarts it
//!   when it dies, kills the whole group on shutdown.
//! - [`session`]: one browser session; how WebDriver errors are classified
//!   into [`Fault`]s and what each one means for the session.
//! - [`pool`]: a fixed number of warm sessions, one lookup per session, with
//!   recycling and replacement of broken sessions.

pub(crate) mod driver;
pub(crate) mod pool;
pub(crate) mod session;

pub(crate) use driver::Driver;
pub(crate) use pool::{Lease, Pool};
pub(crate) use session::Fault;
