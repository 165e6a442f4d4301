//! The end-to-end tests: one binary, one module per area (the README's
//! layout says what each covers), sharing the harness in `support/`.
//!
//! One binary rather than one per file: each binary links the services and
//! all their dependencies again (about 150 MiB apiece with full debuginfo),
//! and thirty-four of them filled CI's disk.

mod support;

mod admin;
mod alerts;
mod bad_input;
mod batch;
mod cache;
mod coalescing;
mod coherence;
mod connections;
mod containers;
mod degraded;
mod direct;
mod faults;
mod fleet;
mod fleet_compose;
mod front;
mod grid;
mod guard;
mod kubernetes;
mod layout;
mod openapi;
mod operations;
mod outages;
mod proxy;
mod redis_modes;
mod rolling;
mod scraper;
mod scraper_outcomes;
mod scraper_pool;
mod secondary;
mod stack;
mod stale;
mod traces;
mod unknown_pages;
mod warm;
