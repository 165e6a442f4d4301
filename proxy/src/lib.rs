//! The caching proxy: `GET /obtener-ruc/<ruc>` answered from Redis when it
//! can, otherwise by a scraper (one lookup per RUC at a time across every
//! replica, within the upstream guard's limits), with the record stored
//! fresh for the cache TTL and kept stale after it, to be served when the
//! scraper fails.
//!
//! The cache is written on Pingora's server and our own lookup lifecycle
//! rather than on `pingora-cache`: the cache API is marked experimental and
//! changed in every minor release, its cache lock sends every waiter to the
//! origin when the one lookup fails (here each is a browser visit to
//! SUNAT), and a Redis outage costs it two timeouts per request. Our own
//! gives the same features (coalescing, `Age`, HEAD, fail-open) with the
//! Redis layout and the failure behaviour under our control.
//!
//! Reading order: [`app`] (start-up and wiring) → [`front`] (the API
//! listener: requests read, answers written, deadlines and bounds) →
//! [`routes`] and [`api`] (what each request gets) → [`batch`] (many RUCs
//! in one request) → [`lookup`] (one lookup
//! from the cache read to the answer, and what each end means) → [`cache`]
//! (Redis keys, store, L1, admission) → [`coalesce`] (one lookup per RUC,
//! in this process and across the fleet) → [`gate`] (slots and circuit
//! breaker toward the scrapers, this process's and the fleet's) →
//! [`scrapers`] (which scraper, and the one client to them) → [`fleet`]
//! (what the replicas share through Redis) → [`redis_conn`] (bounded Redis
//! calls, each deployment) → [`admin`] (metrics, purge and refresh) →
//! [`responses`], [`health`], [`drain`] (stopping without losing work),
//! [`metrics`], [`config`].

pub(crate) mod admin;
pub(crate) mod api;
pub mod app;
pub(crate) mod batch;
pub(crate) mod cache;
pub(crate) mod coalesce;
pub mod config;
pub(crate) mod drain;
pub(crate) mod fleet;
pub(crate) mod front;
pub(crate) mod gate;
pub(crate) mod health;
pub(crate) mod lookup;
pub mod metrics;
pub(crate) mod redis_conn;
pub(crate) mod responses;
pub(crate) mod routes;
pub(crate) mod scrapers;
pub(crate) mod subject;
