//! The Redis keys of a RUC. Existing runbooks and tools read the record's
//! (`redis-cli GET sunat:ruc:<ruc>`), so it must never change, and nothing
//! but a record may ever be stored under it.

use ruc_contract::Ruc;

pub(crate) fn redis_key(ruc: &Ruc) -> String {
    format!("sunat:ruc:{ruc}")
}

/// Where SUNAT's "no such RUC" answer is remembered: apart from the
/// records, so that it can never be mistaken for one.
pub(crate) fn not_found_key(ruc: &Ruc) -> String {
    format!("sunat:notfound:{ruc}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_the_original_services_key() {
        assert_eq!(redis_key(&Ruc::parse("20131312955").unwrap()), "sunat:ruc:20131312955");
    }

    #[test]
    fn not_found_answers_live_outside_the_records_namespace() {
        assert_eq!(
            not_found_key(&Ruc::parse("20131312955").unwrap()),
            "sunat:notfound:20131312955"
        );
    }
}
