//! A short-lived in-process copy of records just read from Redis, so that a
//! RUC asked many times a second costs one Redis read per second instead of
//! one per request (the hit path's main cost, see BENCHMARKS.md).
//!
//! Redis stays the truth shared by every replica: an entry is served for at
//! most `L1_TTL_MS` (at most 1 s) from the moment the Redis read that filled
//! it began, and never past the key's own expiry. So a record deleted or
//! expired in Redis stops being served by every replica within a second,
//! with no invalidation traffic. Entries are bounded in number
//! (`L1_CAPACITY`); TinyUFO keeps the most asked ones.

use std::time::{Duration, Instant};

use pingora_memory_cache::MemoryCache;
use ruc_contract::Ruc;

use super::cached::Cached;

/// The in-process copy: bounded, each entry for at most `L1_TTL_MS`.
pub(crate) struct L1 {
    entries: MemoryCache<Ruc, Entry>,
    ttl: Duration,
}

/// A record as read from Redis, and when that read began.
#[derive(Clone)]
struct Entry {
    /// Checked on every read: the cache indexes entries by a 64-bit hash.
    ruc: Ruc,
    cached: Cached,
    read_started: Instant,
}

impl L1 {
    /// `None` when either setting is zero (the L1 is off).
    pub(crate) fn new(capacity: usize, ttl: Duration) -> Option<L1> {
        (capacity > 0 && !ttl.is_zero()).then(|| L1 {
            entries: MemoryCache::new(capacity),
            ttl,
        })
    }

    pub(crate) fn get(&self, ruc: &Ruc) -> Option<Cached> {
        let entry = self.entries.get(ruc).0.filter(|entry| entry.ruc == *ruc)?;
        Some(entry.cached.aged(entry.read_started.elapsed()))
    }

    pub(crate) fn forget(&self, ruc: &Ruc) {
        self.entries.remove(ruc);
    }

    /// Keeps a record read from Redis by a read that began at `read_started`.
    pub(crate) fn fill(&self, ruc: &Ruc, cached: &Cached, read_started: Instant) {
        let lifetime = self.ttl.min(cached.fresh_for()).saturating_sub(read_started.elapsed());
        let entry = Entry {
            ruc: *ruc,
            cached: cached.clone(),
            read_started,
        };
        // A zero lifetime is not stored at all.
        self.entries.put(ruc, entry, Some(lifetime));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn ruc() -> Ruc {
        Ruc::parse("20131312955").unwrap()
    }

    fn cached(fresh_for: Duration) -> Cached {
        Cached {
            body: Bytes::from_static(b"{}"),
            age: Duration::ZERO,
            ttl_ms: fresh_for.as_millis() as i64,
        }
    }

    #[test]
    fn serves_what_was_filled_with_the_time_left_counted_down() {
        let l1 = L1::new(10, Duration::from_secs(1)).unwrap();
        let read_started = Instant::now() - Duration::from_millis(300);
        l1.fill(&ruc(), &cached(Duration::from_secs(100)), read_started);
        let served = l1.get(&ruc()).expect("filled 300 ms into a 1 s lifetime");
        assert_eq!(served.body, Bytes::from_static(b"{}"));
        assert!(served.ttl_ms <= 99_700 && served.age >= Duration::from_millis(300));
    }

    #[test]
    fn an_entry_never_outlives_one_lifetime_from_the_start_of_its_read() {
        let l1 = L1::new(10, Duration::from_secs(1)).unwrap();
        l1.fill(
            &ruc(),
            &cached(Duration::from_secs(100)),
            Instant::now() - Duration::from_secs(1),
        );
        assert_eq!(l1.get(&ruc()), None);
    }

    #[test]
    fn an_entry_never_outlives_its_redis_key() {
        let l1 = L1::new(10, Duration::from_secs(1)).unwrap();
        l1.fill(
            &ruc(),
            &cached(Duration::from_millis(50)),
            Instant::now() - Duration::from_millis(60),
        );
        assert_eq!(l1.get(&ruc()), None);
    }

    #[test]
    fn another_ruc_is_not_served() {
        let l1 = L1::new(10, Duration::from_secs(1)).unwrap();
        l1.fill(&ruc(), &cached(Duration::from_secs(100)), Instant::now());
        assert_eq!(l1.get(&Ruc::parse("20100070970").unwrap()), None);
    }

    #[test]
    fn zero_settings_turn_it_off() {
        assert!(L1::new(0, Duration::from_secs(1)).is_none());
        assert!(L1::new(10, Duration::ZERO).is_none());
    }
}
