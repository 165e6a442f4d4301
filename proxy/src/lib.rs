//! The caching proxy: `GET /obtener-ruc/<ruc>` answered from Redis when it
//! can, otherwise by a scraper (one lookup per RUC at a time across every
//! replica, within the upstream guard's limits), with the record stored
//! fresh for the cache TTL and kept stale after it, to be served when the
//! scraper fails.
//!
//! The cache is written on Pingora's core hooks rather than on
//! `pingora-cache`: the cache API is marked experimental and changed in every
//! minor release, its cache lock sends every waiter to the origin when the
//! one lookup fails (here each is a browser visit to SUNAT), and a Redis
//! outage costs it two timeouts per request. The hooks give the same
//! features (coalescing, `Age`, HEAD, fail-open) with the Redis layout and
//! the failure behaviour under our control.
//!
//! Reading order: [`app`] (start-up and wiring) → [`front`] (hits answered
//! off the connection, everything else lent to Pingora) → [`service`] (the
//! Pingora hooks, top to bottom) → [`lookup`] (one lookup from the miss to its
//! end, and what each end means) → [`cache`] (Redis keys, store, L1,
//! admission, coalescing) → [`upstream`] (slots and circuit breaker toward
//! the scrapers) → [`fleet`] (coalescing, slots and breaker shared by the
//! replicas through Redis) → [`scrapers`] (which scraper: health-checked,
//! least busy) → [`redis_conn`] (bounded Redis calls, each deployment) →
//! [`admin`] (metrics, purge and refresh) → [`responses`], [`routes`],
//! [`health`], [`metrics`], [`config`].

pub(crate) mod admin;
pub mod app;
pub(crate) mod cache;
pub(crate) mod config;
pub(crate) mod fleet;
pub(crate) mod front;
pub(crate) mod health;
pub(crate) mod lookup;
pub mod metrics;
pub(crate) mod redis_conn;
pub(crate) mod responses;
pub(crate) mod routes;
pub(crate) mod scrapers;
pub(crate) mod service;
pub(crate) mod upstream;
