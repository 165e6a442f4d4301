//! The fleet's Redis keys and channels. A RUC's carry its record key as
//! hash tag (`sunat:lease:{sunat:ruc:<ruc>}`): in a Redis Cluster they live
//! in the record's slot, so one script can touch them together. The
//! fleet-wide keys share the tag `{sunat}`.

use crate::subject::Subject;

use crate::cache::key::redis_key;

/// The lease of the replica leading the lookup of a RUC.
pub(crate) fn lease_key(subject: &Subject) -> String {
    format!("sunat:lease:{{{}}}", redis_key(subject))
}

/// The outcome of the last fleet-wide lookup of a RUC, kept briefly for the
/// replicas that waited for it.
pub(crate) fn outcome_key(subject: &Subject) -> String {
    format!("sunat:outcome:{{{}}}", redis_key(subject))
}

/// Where the leader announces that the lookup of a RUC ended.
pub(crate) fn landed_channel(subject: &Subject) -> String {
    format!("sunat:landed:{{{}}}", redis_key(subject))
}

/// The fleet-wide slots toward the scrapers: a sorted set of holders scored
/// by the expiry of their lease.
pub(crate) const SLOTS_KEY: &str = "sunat:slots:{sunat}";
/// Which of those slots batch items hold (a subset, scored the same way).
pub(crate) const BATCH_SLOTS_KEY: &str = "sunat:slots:{sunat}:batch";
/// The single lookups waiting for a slot, scored by the expiry of their
/// wait's lease: batch items take no slot while one waits.
pub(crate) const SINGLES_WAITING_KEY: &str = "sunat:slots:{sunat}:waiting";
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
    fn a_rucs_fleet_keys_share_the_records_hash_slot() {
        let subject = Subject::record(ruc_contract::Ruc::parse("20131312955").unwrap());
        for key in [lease_key(&subject), outcome_key(&subject), landed_channel(&subject)] {
            assert!(key.ends_with("{sunat:ruc:20131312955}"), "{key}");
        }
    }
}
