//! Every Redis key and channel the proxy uses. Existing runbooks and tools
//! read the record's (`redis-cli GET sunat:ruc:<ruc>`), so it must never
//! change, and nothing but a record may ever be stored under it.
//!
//! The fleet's keys of a RUC carry the record key as hash tag
//! (`sunat:lease:{sunat:ruc:<ruc>}`): in a Redis Cluster they live in the
//! record's slot, so one script can touch them together. The fleet-wide
//! keys share the tag `{sunat}`.

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

/// The lease of the replica leading the lookup of a RUC.
pub(crate) fn lease_key(ruc: &Ruc) -> String {
    format!("sunat:lease:{{{}}}", redis_key(ruc))
}

/// The outcome of the last fleet-wide lookup of a RUC, kept briefly for the
/// replicas that waited for it.
pub(crate) fn outcome_key(ruc: &Ruc) -> String {
    format!("sunat:outcome:{{{}}}", redis_key(ruc))
}

/// Where the leader announces that the lookup of a RUC ended.
pub(crate) fn landed_channel(ruc: &Ruc) -> String {
    format!("sunat:landed:{{{}}}", redis_key(ruc))
}

/// The fleet-wide slots toward the scrapers: a sorted set of holders scored
/// by the expiry of their lease.
pub(crate) const SLOTS_KEY: &str = "sunat:slots:{sunat}";
/// Where a freed slot is announced.
pub(crate) const SLOT_FREED_CHANNEL: &str = "sunat:slot-freed:{sunat}";

/// The fleet-wide breaker: failures in a row, open until it expires,
/// tripped (open, or half-open until a probe succeeds), the probe's lease.
pub(crate) const BREAKER_KEYS: [&str; 4] = [
    "sunat:breaker:{sunat}:failures",
    "sunat:breaker:{sunat}:open",
    "sunat:breaker:{sunat}:tripped",
    "sunat:breaker:{sunat}:probe",
];

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
    fn a_rucs_fleet_keys_share_the_records_hash_slot() {
        let ruc = Ruc::parse("20131312955").unwrap();
        for key in [lease_key(&ruc), outcome_key(&ruc), landed_channel(&ruc)] {
            assert!(key.ends_with("{sunat:ruc:20131312955}"), "{key}");
        }
    }

    #[test]
    fn not_found_answers_live_outside_the_records_namespace() {
        assert_eq!(
            not_found_key(&Ruc::parse("20131312955").unwrap()),
            "sunat:notfound:20131312955"
        );
    }
}
