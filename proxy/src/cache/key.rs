//! The keys of the cache: a RUC's record and its remembered "no such RUC".
//! Existing runbooks and tools read the record's (`redis-cli GET
//! sunat:ruc:<ruc>`), so it must never change, and nothing but a record may
//! ever be stored under it. The fleet's own keys are in
//! [`crate::fleet::keys`].

use ruc_contract::Ruc;

/// What every record key starts with (`CLIENT TRACKING … PREFIX`).
pub(crate) const RECORD_PREFIX: &str = "sunat:ruc:";

pub(crate) fn redis_key(ruc: &Ruc) -> String {
    format!("{RECORD_PREFIX}{ruc}")
}

/// The RUC of a record key, as Redis names it in an invalidation.
pub(crate) fn ruc_of_record_key(key: &[u8]) -> Option<Ruc> {
    let ruc = std::str::from_utf8(key.strip_prefix(RECORD_PREFIX.as_bytes())?).ok()?;
    Ruc::parse(ruc).ok()
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
    fn a_record_key_gives_its_ruc_back() {
        let ruc = Ruc::parse("20131312955").unwrap();
        assert_eq!(ruc_of_record_key(redis_key(&ruc).as_bytes()), Some(ruc));
        assert_eq!(ruc_of_record_key(not_found_key(&ruc).as_bytes()), None);
        assert_eq!(ruc_of_record_key(b"sunat:ruc:123"), None);
    }

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
