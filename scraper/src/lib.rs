//! The scraper service: turns `GET /obtener-ruc/<ruc>` into a lookup on
//! SUNAT's "Consulta RUC" site, through headless Chrome or plain HTTP
//! (`SCRAPER_MODE`), and answers with the record of `ruc-contract` or a
//! precise error.
//!
//! Reading order: [`app`] (start-up and shutdown) → [`api`] (routes) →
//! [`lookup`] (deadline, slots, mode and fallback, retries) →
//! [`sunat::form`] (the steps on the site in a browser) or [`direct`] (the
//! same on the wire, [`sunat::post`]) → [`sunat::page`] and
//! [`sunat::record`] (parsing) → [`sunat::answer`] (record or [`failure`])
//! → [`browser`] (chromedriver, sessions, pool); [`unknown_pages`]: what
//! could not be read, kept for diagnosis. The images' `HEALTHCHECK` is
//! `scraper --healthcheck` (`startup::healthcheck`).

pub(crate) mod api;
pub mod app;
pub(crate) mod browser;
pub mod config;
pub(crate) mod direct;
pub(crate) mod failure;
pub(crate) mod lookup;
pub mod metrics;
pub(crate) mod server;
pub(crate) mod sunat;
pub(crate) mod unknown_pages;
