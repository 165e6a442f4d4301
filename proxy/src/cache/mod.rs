//! The cache: where a record lives in Redis, when an answer may be stored,
//! and how concurrent misses for one RUC share a single scraper lookup.
//!
//! - [`key`]: the Redis key of a RUC (`sunat:ruc:<ruc>`), a public contract;
//! - [`store`]: bounded Redis reads and writes, and Redis health;
//! - [`cached`]: an answer read from the cache, with its age and freshness;
//! - [`l1`]: the in-process copy of records read from Redis;
//! - [`tracking`]: Redis's invalidations, which keep that copy coherent;
//! - [`admission`]: which scraper answers are stored;
//! - [`coalesce`]: one scraper lookup per RUC at a time.

pub(crate) mod admission;
pub(crate) mod cached;
pub(crate) mod coalesce;
pub(crate) mod key;
pub(crate) mod l1;
pub(crate) mod store;
pub(crate) mod tracking;
