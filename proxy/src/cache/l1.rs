//! An in-process copy of records read from Redis, so that a RUC asked many
//! times a second costs no Redis round trip at all.
//!
//! Redis stays the truth shared by every replica. While Redis tracks keys
//! for this process (`cache::tracking`: `CLIENT TRACKING … BCAST`), an entry
//! lives until Redis says its key changed (a purge, an overwrite, an expiry)
//! or its freshness ends; a purge or an overwrite on any replica thus
//! reaches every replica's copy as soon as the invalidation arrives. While
//! nothing tracks (Redis unreachable, a Cluster), an entry lives at most
//! `L1_TTL_MS` (at most 1 s) from the moment the Redis read that filled it
//! began, as before tracking existed; and when tracking stops, entries
//! that lived on tracking are served no more, since invalidations may have
//! been missed.
//!
//! An entry past its bound is not dropped: while Redis cannot be read, it
//! is what this replica still knows of the record ([`L1::kept`]), served
//! as such rather than sending SUNAT a lookup for every request. It goes
//! when Redis says its key changed, on a flush, or to make room.
//!
//! A read that overlaps an invalidation might have fetched the old value:
//! each fill carries the invalidation count seen before its read ([`Ticket`])
//! and keeps the short bound if it changed. Entries are bounded in number
//! (`L1_CAPACITY`) and in bytes (`L1_MAX_BYTES`); TinyUFO (S3-FIFO with
//! TinyLFU admission) keeps the most asked ones.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::subject::Subject;
use arc_swap::ArcSwap;
use tinyufo::TinyUfo;

use super::cached::Cached;

/// The in-process copy and what Redis tells it.
pub(crate) struct L1 {
    /// Replaced whole when tracking stops.
    entries: ArcSwap<TinyUfo<Subject, Entry>>,
    limits: Limits,
    /// `L1_TTL_MS`: an entry's longest life while nothing tracks.
    untracked_ttl: Duration,
    /// Whether Redis tracks keys for this process now.
    tracked: AtomicBool,
    /// Times tracking was lost: an entry that lived on tracking is served
    /// only within the tracking it was filled under.
    losses: AtomicU64,
    /// Invalidations seen (and tracking losses): a fill whose read began
    /// before one of them may hold an old value.
    invalidations: AtomicU64,
}

/// How much the copy may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    /// `L1_CAPACITY`: entries.
    pub(crate) entries: usize,
    /// `L1_MAX_BYTES`: bytes of answers.
    pub(crate) bytes: usize,
}

impl Limits {
    /// One bound for both: each entry weighs one slot of
    /// `bytes / entries` bytes per slot its answer takes (at least one), and
    /// the slots add up to at most `entries`. `None`: larger than the whole
    /// copy (or than TinyUFO's weights), not kept.
    fn weight(&self, answer_bytes: usize) -> Option<u16> {
        let slot_bytes = (self.bytes / self.entries).max(1);
        let slots = answer_bytes.div_ceil(slot_bytes).max(1);
        (slots <= self.entries).then_some(u16::try_from(slots).ok()?)
    }

    fn new_store(&self) -> TinyUfo<Subject, Entry> {
        TinyUfo::new(self.entries, self.entries)
    }
}

/// What a fill needs to know about the moment its Redis read began.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    read_started: Instant,
    invalidations: u64,
    tracked: bool,
}

/// A record as read from Redis, when that read began, and until when it
/// may be served.
#[derive(Clone)]
struct Entry {
    /// Checked on every read: the cache indexes entries by a 64-bit hash.
    subject: Subject,
    cached: Cached,
    read_started: Instant,
    expires: Instant,
    /// The tracking it lives on (the count of losses when filled), if its
    /// bound is its freshness rather than `L1_TTL_MS`.
    tracked_in: Option<u64>,
}

impl L1 {
    /// `None` when a setting is zero (the L1 is off).
    pub(crate) fn new(limits: Limits, untracked_ttl: Duration) -> Option<L1> {
        (limits.entries > 0 && limits.bytes > 0 && !untracked_ttl.is_zero()).then(|| L1 {
            entries: ArcSwap::from_pointee(limits.new_store()),
            limits,
            untracked_ttl,
            tracked: AtomicBool::new(false),
            losses: AtomicU64::new(0),
            invalidations: AtomicU64::new(0),
        })
    }

    /// The record, while it may be served as read from Redis.
    pub(crate) fn get(&self, subject: &Subject) -> Option<Cached> {
        let now = Instant::now();
        let entry = self.entries.load().get(subject)?;
        let losses = self.losses.load(Ordering::SeqCst);
        let servable = entry.expires > now && entry.tracked_in.is_none_or(|tracking| tracking == losses);
        (entry.subject == *subject && servable).then(|| entry.cached.aged(now - entry.read_started))
    }

    /// The record as last read, however long ago: for when Redis cannot
    /// be read.
    pub(crate) fn kept(&self, subject: &Subject) -> Option<Cached> {
        let entry = self.entries.load().get(subject)?;
        (entry.subject == *subject).then(|| entry.cached.aged(entry.read_started.elapsed()))
    }

    /// Taken just before the Redis read whose result may fill the copy.
    pub(crate) fn ticket(&self) -> Ticket {
        Ticket {
            invalidations: self.invalidations.load(Ordering::SeqCst),
            tracked: self.tracked.load(Ordering::SeqCst),
            read_started: Instant::now(),
        }
    }

    /// Keeps a record read from Redis by the read `ticket` was taken for:
    /// until its freshness ends if Redis tracked the key all along, else for
    /// at most `L1_TTL_MS`.
    pub(crate) fn fill(&self, subject: &Subject, cached: &Cached, ticket: Ticket) {
        let long = ticket.tracked && self.unchanged_since(&ticket);
        let bound = if long {
            cached.fresh_for()
        } else {
            self.untracked_ttl.min(cached.fresh_for())
        };
        let expires = ticket.read_started + bound;
        let Some(weight) = self.limits.weight(cached.body.len()) else {
            return;
        };
        if expires <= Instant::now() {
            return;
        }
        let entry = Entry {
            subject: *subject,
            cached: cached.clone(),
            read_started: ticket.read_started,
            expires,
            tracked_in: long.then(|| self.losses.load(Ordering::SeqCst)),
        };
        let entries = self.entries.load();
        entries.put(*subject, entry, weight);
        if long && !self.unchanged_since(&ticket) {
            // An invalidation (or the loss of tracking) raced with the put.
            entries.remove(subject);
        }
    }

    /// Redis said `subject`'s answer changed (or was deleted, or expired).
    pub(crate) fn invalidate(&self, subject: &Subject) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries.load().remove(subject);
    }

    /// Redis said every key changed (`FLUSHALL`, `FLUSHDB`): everything goes.
    pub(crate) fn invalidate_all(&self) {
        self.invalidations.fetch_add(1, Ordering::SeqCst);
        self.entries.store(self.limits.new_store().into());
    }

    /// Redis tracks keys for this process from now on.
    pub(crate) fn tracking_started(&self) {
        self.tracked.store(true, Ordering::SeqCst);
    }

    /// Tracking stopped: invalidations may be missed from now on, so the
    /// entries that lived on it are no longer served as read from Redis
    /// (only [`L1::kept`]), and new ones live `L1_TTL_MS` at most.
    pub(crate) fn tracking_lost(&self) {
        self.tracked.store(false, Ordering::SeqCst);
        self.losses.fetch_add(1, Ordering::SeqCst);
        self.invalidations.fetch_add(1, Ordering::SeqCst);
    }

    pub(crate) fn is_tracked(&self) -> bool {
        self.tracked.load(Ordering::SeqCst)
    }

    fn unchanged_since(&self, ticket: &Ticket) -> bool {
        self.invalidations.load(Ordering::SeqCst) == ticket.invalidations
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn subject() -> Subject {
        Subject::record(ruc_contract::Ruc::parse("20131312955").unwrap())
    }

    fn cached(fresh_for: Duration) -> Cached {
        Cached {
            body: Bytes::from_static(b"{}"),
            age: Duration::ZERO,
            ttl_ms: fresh_for.as_millis() as i64,
        }
    }

    const LIMITS: Limits = Limits {
        entries: 10,
        bytes: 1000,
    };

    fn l1() -> L1 {
        L1::new(LIMITS, Duration::from_secs(1)).unwrap()
    }

    /// A ticket as if the read had begun `ago`.
    fn ticket_from(l1: &L1, ago: Duration) -> Ticket {
        Ticket {
            read_started: Instant::now() - ago,
            ..l1.ticket()
        }
    }

    #[test]
    fn serves_what_was_filled_with_the_time_left_counted_down() {
        let l1 = l1();
        l1.fill(
            &subject(),
            &cached(Duration::from_secs(100)),
            ticket_from(&l1, Duration::from_millis(300)),
        );
        let served = l1.get(&subject()).expect("filled 300 ms into a 1 s lifetime");
        assert_eq!(served.body, Bytes::from_static(b"{}"));
        assert!(served.ttl_ms <= 99_700 && served.age >= Duration::from_millis(300));
    }

    #[test]
    fn untracked_an_entry_never_outlives_one_lifetime_from_the_start_of_its_read() {
        let l1 = l1();
        l1.fill(
            &subject(),
            &cached(Duration::from_secs(100)),
            ticket_from(&l1, Duration::from_secs(1)),
        );
        assert_eq!(l1.get(&subject()), None);
    }

    #[test]
    fn tracked_an_entry_lives_until_invalidated() {
        let l1 = l1();
        l1.tracking_started();
        l1.fill(
            &subject(),
            &cached(Duration::from_secs(100)),
            ticket_from(&l1, Duration::from_secs(5)),
        );
        assert!(l1.get(&subject()).is_some(), "past L1_TTL_MS while tracked");
        l1.invalidate(&subject());
        assert_eq!(l1.get(&subject()), None);
    }

    #[test]
    fn a_fill_whose_read_overlapped_an_invalidation_keeps_the_short_bound() {
        let l1 = l1();
        l1.tracking_started();
        let ticket = ticket_from(&l1, Duration::from_secs(2));
        l1.invalidate(&Subject::record(ruc_contract::Ruc::parse("20100070970").unwrap()));
        l1.fill(&subject(), &cached(Duration::from_secs(100)), ticket);
        assert_eq!(l1.get(&subject()), None, "2 s old: past the 1 s bound");
    }

    #[test]
    fn losing_tracking_ends_serving_what_lived_on_it_and_brings_back_the_bound() {
        let l1 = l1();
        l1.tracking_started();
        l1.fill(&subject(), &cached(Duration::from_secs(100)), l1.ticket());
        l1.tracking_lost();
        assert!(!l1.is_tracked());
        assert_eq!(l1.get(&subject()), None);
        assert!(
            l1.kept(&subject()).is_some(),
            "still known, for when Redis cannot be read"
        );
        l1.fill(
            &subject(),
            &cached(Duration::from_secs(100)),
            ticket_from(&l1, Duration::from_secs(2)),
        );
        assert_eq!(l1.get(&subject()), None);
        l1.tracking_started();
        assert_eq!(l1.get(&subject()), None, "not the tracking it was filled under");
    }

    #[test]
    fn an_entry_past_its_bound_is_kept_with_its_age_until_invalidated() {
        let l1 = l1();
        l1.fill(
            &subject(),
            &cached(Duration::from_secs(100)),
            ticket_from(&l1, Duration::from_millis(950)),
        );
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(l1.get(&subject()), None, "past the 1 s bound");
        let kept = l1.kept(&subject()).expect("kept past the bound");
        assert!(kept.age >= Duration::from_secs(1) && kept.ttl_ms <= 99_000);
        l1.invalidate(&subject());
        assert_eq!(l1.kept(&subject()), None);
    }

    #[test]
    fn a_flush_drops_everything() {
        let l1 = l1();
        l1.tracking_started();
        l1.fill(&subject(), &cached(Duration::from_secs(100)), l1.ticket());
        l1.invalidate_all();
        assert_eq!((l1.get(&subject()), l1.kept(&subject())), (None, None));
        assert!(l1.is_tracked(), "a flush is not a loss of tracking");
    }

    #[test]
    fn an_entry_never_outlives_its_redis_key() {
        let l1 = l1();
        l1.tracking_started();
        l1.fill(
            &subject(),
            &cached(Duration::from_millis(50)),
            ticket_from(&l1, Duration::from_millis(60)),
        );
        assert_eq!(l1.get(&subject()), None);
    }

    #[test]
    fn another_ruc_is_not_served() {
        let l1 = l1();
        l1.fill(&subject(), &cached(Duration::from_secs(100)), l1.ticket());
        assert_eq!(
            l1.get(&Subject::record(ruc_contract::Ruc::parse("20100070970").unwrap())),
            None
        );
    }

    #[test]
    fn zero_settings_turn_it_off() {
        let no_entries = Limits { entries: 0, ..LIMITS };
        let no_bytes = Limits { bytes: 0, ..LIMITS };
        assert!(L1::new(no_entries, Duration::from_secs(1)).is_none());
        assert!(L1::new(no_bytes, Duration::from_secs(1)).is_none());
        assert!(L1::new(LIMITS, Duration::ZERO).is_none());
    }

    #[test]
    fn an_entry_weighs_the_slots_its_answer_takes() {
        // 10 entries in 1000 bytes: slots of 100 bytes.
        assert_eq!(LIMITS.weight(0), Some(1));
        assert_eq!(LIMITS.weight(100), Some(1));
        assert_eq!(LIMITS.weight(101), Some(2));
        assert_eq!(LIMITS.weight(1000), Some(10));
        assert_eq!(LIMITS.weight(1001), None, "larger than the whole copy");
    }

    #[test]
    fn the_bytes_bound_the_copy_when_answers_are_large() {
        let l1 = l1();
        l1.tracking_started();
        let large = |n: u64| Cached {
            body: Bytes::from(vec![b' '; 400]),
            ..cached(Duration::from_secs(100 + n))
        };
        let subjects: Vec<Subject> = ["20131312955", "20100070970", "20100047218", "20100017491"]
            .iter()
            .map(|text| Subject::record(ruc_contract::Ruc::parse(text).unwrap()))
            .collect();
        for (n, subject) in subjects.iter().enumerate() {
            l1.fill(subject, &large(n as u64), l1.ticket());
        }
        let kept: usize = subjects.iter().filter(|subject| l1.get(subject).is_some()).count();
        assert!(kept <= 2, "4 slots each, 10 in all: {kept} kept");
    }
}
