//! A local replica of SUNAT's "Consulta RUC" site (`sunat-site.md` §7), for
//! the tests and the offline demo. No test ever talks to the real site.
//!
//! - [`pages`]: the HTML, with the real site's quirks;
//! - [`dataset`]: the taxpayers it knows;
//! - [`server`]: the routes, the switchable failure modes ([`Behaviour`])
//!   and the per-RUC request counts tests assert on.

pub mod dataset;
pub mod pages;
pub mod server;

pub use server::{Behaviour, Charset, Replica};
