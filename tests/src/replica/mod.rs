//! A local replica of SUNAT's "Consulta RUC" site (`sunat-site.md` §7), for
//! the tests and the offline demo. No test ever talks to the real site.
//!
//! - [`pages`]: the HTML, with the real site's quirks;
//! - [`dataset`]: the taxpayers it knows; [`secondary`]: the pages behind
//!   their result page's buttons;
//! - [`server`]: the routes, the switchable failure modes ([`Behaviour`])
//!   and the per-RUC request counts tests assert on;
//! - [`checks`]: what a post must carry (fields, session, browser check).

pub mod checks;
pub mod dataset;
pub mod pages;
pub mod secondary;
pub mod server;

pub use checks::BrowserCheck;
pub use server::{Behaviour, Charset, ContentEncoding, Replica};
