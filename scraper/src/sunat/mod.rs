//! Everything that knows how SUNAT's "Consulta RUC" site looks and behaves.
//!
//! - [`form`]: the browser steps a person takes on the site (open the form,
//!   type the RUC, click "Buscar", wait for the answer page).
//! - [`post`]: the same search as the request a browser sends, for the
//!   direct client, with the [`client_hints`] that go with Chrome's
//!   `User-Agent`.
//! - [`page`]: pure code that tells which page came back and reads its
//!   label/value pairs.
//! - [`record`]: turns those pairs into the [`ruc_contract::Record`].
//! - [`answer`]: what the answer means for a lookup: the record of the RUC
//!   asked for, or the failure the page shows.
//! - [`address`] and [`text`]: the fiddly normalisation rules.

pub(crate) mod address;
pub(crate) mod answer;
pub(crate) mod client_hints;
pub(crate) mod form;
pub(crate) mod page;
pub(crate) mod post;
pub(crate) mod record;
pub(crate) mod secondary;
pub(crate) mod text;

#[cfg(test)]
mod properties;
