//! The contract of `GET /obtener-ruc/<ruc>` (see `docs/record.md` in the shared
//! design notes): what a valid RUC is, the JSON record, the error body, the
//! route, and the body of answers to requests that reach no route; and of
//! `GET /obtener-ruc/<ruc>/<kind>`, the pages behind the result page.
//!
//! Both services depend on this crate so that the scraper, the proxy and every
//! client agree on one definition.

mod error_body;
mod record;
mod route;
mod ruc;
mod secondary;

pub use error_body::ErrorBody;
pub use record::Record;
pub use route::{check_host, RouteError, LOOKUP_PREFIX};
pub use ruc::{InvalidRuc, Ruc};
pub use secondary::{Deuda, Establecimiento, Kind, Periodo, Representante, Rows, Secondary};
