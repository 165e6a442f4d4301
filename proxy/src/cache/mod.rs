//! The cache: where a record lives in Redis, how it is read and stored,
//! and when an answer may be stored.
//!
//! - [`key`]: the Redis keys of a RUC (`sunat:ruc:<ruc>`), a public contract;
//! - [`store`]: bounded Redis reads and writes, fail-open;
//! - [`cached`]: an answer read from the cache, with its age and freshness;
//! - [`l1`]: the in-process copy of records read from Redis;
//! - [`tracking`]: Redis's invalidations, which keep that copy coherent;
//! - [`unstored`]: answers fetched while Redis could not take them;
//! - [`admission`]: which scraper answers are stored.

pub(crate) mod admission;
pub(crate) mod cached;
pub(crate) mod key;
pub(crate) mod l1;
pub(crate) mod store;
pub(crate) mod tracking;
pub(crate) mod unstored;
