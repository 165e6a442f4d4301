//! The caching proxy: `GET /obtener-ruc/<ruc>` answered from Redis when it
//! can, otherwise by the scraper (one lookup per RUC at a time), with the
//! record stored for the cache TTL.
//!
//! Reading order: [`app`] (start-up) → [`service`] (the Pingora hooks, top to
//! bottom) → [`cache`] (Redis key, store, admission, coalescing) →
//! [`responses`], [`routes`], [`health`], [`metrics`], [`config`].

pub mod app;
pub mod cache;
pub mod config;
pub mod health;
pub mod metrics;
pub mod responses;
pub mod routes;
pub mod service;
