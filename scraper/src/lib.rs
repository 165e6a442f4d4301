//! The scraper service: turns `GET /obtener-ruc/<ruc>` into a lookup on
//! SUNAT's "Consulta RUC" site through headless Chrome, and answers with the
//! record of `ruc-contract` or a precise error.
//!
//! Reading order: [`app`] (start-up and shutdown) → [`api`] (routes) →
//! [`lookup`] (deadline, queue, retries) → [`sunat::form`] (the steps on the
//! site) → [`sunat::page`] and [`sunat::record`] (parsing) →
//! [`sunat::answer`] (record or [`failure`]) → [`browser`] (chromedriver,
//! sessions, pool).

pub(crate) mod api;
pub mod app;
pub(crate) mod browser;
pub mod config;
pub(crate) mod failure;
pub(crate) mod lookup;
pub mod metrics;
pub(crate) mod server;
pub(crate) mod sunat;
