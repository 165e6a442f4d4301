//! Test support for the end-to-end tests in `tests/tests/`: the SUNAT
//! replica, also runnable on its own as the `sunat-replica` binary.

pub mod replica;
