//! The contract of `GET /obtener-ruc/<ruc>` (see `docs/record.md` in the shared
//! design notes): what a valid RUC is, the JSON record, and the error body.
//!
//! Both services depend on this crate so that the scraper, the proxy and every
//! client agree on one definition.

mod error_body;
mod record;
mod ruc;

pub use error_body::ErrorBody;
pub use record::Record;
pub use ruc::{InvalidRuc, Ruc};
