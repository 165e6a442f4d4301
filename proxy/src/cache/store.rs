//! Records in Redis: `sunat:ruc:<ruc>` holds exactly the JSON body, for
//! `CACHE_TTL_SECONDS` fresh plus `STALE_IF_ERROR_SECONDS` stale, so
//! `redis-cli GET` shows the record and `TTL` the time left; a page behind
//! it, `sunat:ruc:<ruc>:<kind>`, is fresh for `CACHE_TTL_SECONDS_<KIND>`.
//!
//! Redis must never make a lookup slow or fail: calls go through
//! [`RedisConn`] (bounded, skipped while its health check finds Redis
//! down), and caching resumes when Redis is back. Reads go through the
//! [`L1`] first, an in-process copy that Redis keeps coherent (or, without
//! that, at most a second old). While Redis cannot be read, what this
//! replica still knows of a RUC is the answer ([`Held::Kept`]): an answer
//! it fetched but could not store ([`Unstored`], written to Redis once it
//! is back), or its last copy of the record; only a RUC it knows nothing
//! of is a miss.
//! SUNAT's "no such RUC" answers are kept apart, for `NEGATIVE_TTL_SECONDS`,
//! and read only when there is no record, so they never shadow one.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use redis::Script;
use ruc_contract::{Kind, Ruc};

use super::admission::Admitted;
use super::cached::Cached;
use super::key::{not_found_key, redis_key};
use super::l1::L1;
use super::unstored::{self, Unstored};
use crate::metrics::Metrics;
use crate::redis_conn::RedisConn;
use crate::subject::Subject;

/// Writes an answer held for want of Redis unless the key holds a newer
/// one: it is written when the key is absent or has less time left (an
/// older answer, a stale record); a key without expiry (set by hand) is
/// kept. KEYS: key. ARGV: body, ms left. Returns 1 when written.
static WRITE_BACK: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local left = redis.call('PTTL', KEYS[1])
        if left == -2 or (left >= 0 and left < tonumber(ARGV[2])) then
            redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
            return 1
        end
        return 0",
    )
});

/// What the cache holds for a RUC, as a read found it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Held {
    /// A fresh record.
    Fresh(Cached),
    /// A record past its freshness, kept to be served when the scraper fails.
    Stale(Cached),
    /// No record, but SUNAT recently said it has no such RUC: its 404 body.
    NotFound(Cached),
    /// Nothing.
    Absent,
    /// Redis is down or did not answer in time, and this replica holds an
    /// answer for the RUC: one it could not store, or its last copy of the
    /// record (`not_found`: SUNAT's "no such RUC").
    Kept { cached: Cached, not_found: bool },
    /// Redis is down or did not answer in time, and this replica knows
    /// nothing of the RUC.
    Unavailable,
}

/// How long answers stay in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetimes {
    /// A record is fresh this long (`CACHE_TTL_SECONDS`)…
    pub(crate) fresh: Duration,
    /// …and each page behind it this long (`CACHE_TTL_SECONDS_<KIND>`, in
    /// the order of [`Kind::ALL`])…
    pub(crate) fresh_pages: [Duration; 4],
    /// …then stays this much longer, stale (`STALE_IF_ERROR_SECONDS`).
    pub(crate) stale: Duration,
    /// SUNAT's "no such RUC" (`NEGATIVE_TTL_SECONDS`); zero: not kept.
    pub(crate) not_found: Duration,
}

/// The Redis cache: bounded reads and writes, fail-open; reads go through
/// the L1 first.
pub(crate) struct Store {
    redis: Arc<RedisConn>,
    lifetimes: Lifetimes,
    l1: Option<Arc<L1>>,
    unstored: Unstored,
    metrics: &'static Metrics,
}

impl Lifetimes {
    /// How long `subject`'s answer is fresh.
    fn fresh(&self, subject: &Subject) -> Duration {
        match subject.kind {
            None => self.fresh,
            Some(kind) => self.fresh_pages[kind.index()],
        }
    }
}

impl Store {
    pub(crate) fn new(
        redis: Arc<RedisConn>,
        lifetimes: Lifetimes,
        l1: Option<Arc<L1>>,
        metrics: &'static Metrics,
    ) -> Store {
        Store {
            redis,
            lifetimes,
            l1,
            unstored: Unstored::new(metrics.unstored.clone()),
            metrics,
        }
    }

    /// From the L1, or from Redis; what this replica holds when Redis
    /// cannot be read; an answer it could not store, written now, when
    /// Redis has none.
    pub(crate) async fn get(&self, subject: &Subject) -> Held {
        if let Some(cached) = self.l1.as_ref().and_then(|l1| l1.get(subject)) {
            self.metrics.l1_hits.inc();
            return Held::Fresh(cached);
        }
        match self.read_redis(subject).await {
            Held::Unavailable => self.kept(subject).unwrap_or(Held::Unavailable),
            Held::Absent => match self.unstored.get(subject) {
                Some(answer) => self.write_back(subject, answer).await.unwrap_or(Held::Absent),
                None => Held::Absent,
            },
            held => held,
        }
    }

    /// `GET` and `PTTL` in one round trip; without a record, a second one
    /// for a remembered "not found".
    async fn read_redis(&self, subject: &Subject) -> Held {
        let ticket = self.l1.as_deref().map(L1::ticket);
        let Lifetimes { stale, not_found, .. } = self.lifetimes;
        match self
            .read(redis_key(subject), self.lifetimes.fresh(subject), stale)
            .await
        {
            Some(Some(cached)) if cached.ttl_ms > 0 => {
                if let (Some(l1), Some(ticket)) = (&self.l1, ticket) {
                    l1.fill(subject, &cached, ticket);
                }
                Held::Fresh(cached)
            }
            Some(Some(cached)) => Held::Stale(cached),
            Some(None) if not_found.is_zero() => Held::Absent,
            Some(None) => match self.read(not_found_key(&subject.ruc), not_found, Duration::ZERO).await {
                Some(Some(cached)) if cached.ttl_ms > 0 => Held::NotFound(cached),
                Some(_) => Held::Absent,
                None => Held::Unavailable,
            },
            None => Held::Unavailable,
        }
    }

    /// Whether this replica holds an answer for `subject` to serve while Redis
    /// cannot be read.
    pub(crate) fn holds(&self, subject: &Subject) -> bool {
        self.kept(subject).is_some()
    }

    /// What this replica holds for `subject` while Redis cannot be read: the
    /// answer it could not store, else its last copy of the record, while
    /// that could still be served stale.
    fn kept(&self, subject: &Subject) -> Option<Held> {
        if let Some(answer) = self.unstored.get(subject) {
            if let Some((cached, _)) = self.held_as_cached(subject, &answer) {
                let not_found = answer.admitted == Admitted::NotFound;
                return Some(Held::Kept { cached, not_found });
            }
        }
        let cached = self.l1.as_ref()?.kept(subject)?;
        let servable = cached.ttl_ms + (self.lifetimes.stale.as_millis() as i64) > 0;
        servable.then_some(Held::Kept {
            cached,
            not_found: false,
        })
    }

    /// `GET` and `PTTL` of a key stored for `fresh + stale`; `None` when
    /// Redis failed.
    async fn read(&self, key: String, fresh: Duration, stale: Duration) -> Option<Option<Cached>> {
        let (body, pttl) = self
            .redis
            .call(|mut connection| async move {
                redis::pipe()
                    .get(&key)
                    .pttl(&key)
                    .query_async::<(Option<Vec<u8>>, i64)>(&mut connection)
                    .await
            })
            .await?;
        Some(body.map(|body| cached(Bytes::from(body), pttl, fresh, stale)))
    }

    /// Stores an answer as what the admission check found it to be (a
    /// "no such RUC" only when `NEGATIVE_TTL_SECONDS` is not 0); one Redis
    /// did not take is held until it does.
    pub(crate) async fn keep(&self, subject: &Subject, admitted: Admitted, body: Bytes) -> bool {
        let (key, ttl) = match admitted {
            Admitted::Record => (redis_key(subject), self.lifetimes.fresh(subject) + self.lifetimes.stale),
            Admitted::NotFound if self.lifetimes.not_found.is_zero() => return false,
            Admitted::NotFound => (not_found_key(&subject.ruc), self.lifetimes.not_found),
        };
        let stored = self.set(key, body.clone(), ttl).await.is_some();
        if !stored {
            self.unstored.hold(*subject, admitted, body);
        }
        stored
    }

    /// Writes every answer held for want of Redis, until Redis fails again.
    pub(crate) async fn flush_unstored(&self) {
        for (subject, answer) in self.unstored.all() {
            if self.write_back(&subject, answer).await.is_none() {
                return;
            }
        }
    }

    /// Writes an answer held for want of Redis, unless Redis has a newer
    /// one by now ([`WRITE_BACK`]), and lets go of it; what the cache holds
    /// for `subject` then, `None` when Redis failed again.
    async fn write_back(&self, subject: &Subject, answer: unstored::Answer) -> Option<Held> {
        let held = match self.held_as_cached(subject, &answer) {
            Some((cached, left)) => {
                let key = match answer.admitted {
                    Admitted::Record => redis_key(subject),
                    Admitted::NotFound => not_found_key(&subject.ruc),
                };
                self.write_back_if_newer(key, answer.body.clone(), left).await?;
                match answer.admitted {
                    Admitted::Record if cached.ttl_ms > 0 => Held::Fresh(cached),
                    Admitted::Record => Held::Stale(cached),
                    Admitted::NotFound => Held::NotFound(cached),
                }
            }
            None => Held::Absent,
        };
        self.unstored.release(subject, &answer);
        Some(held)
    }

    /// An answer held since it was fetched, as a read of Redis would have
    /// found it had it been stored then, and the time it still has in
    /// Redis; `None` once that is over.
    fn held_as_cached(&self, subject: &Subject, answer: &unstored::Answer) -> Option<(Cached, Duration)> {
        let Lifetimes { stale, not_found, .. } = self.lifetimes;
        let fresh = self.lifetimes.fresh(subject);
        let (fresh, stored_for) = match answer.admitted {
            Admitted::Record => (fresh, fresh + stale),
            Admitted::NotFound => (not_found, not_found),
        };
        let age = answer.age();
        let left = stored_for.checked_sub(age).filter(|left| left.as_secs() > 0)?;
        let cached = Cached {
            body: answer.body.clone(),
            age,
            ttl_ms: fresh.as_millis() as i64 - age.as_millis() as i64,
        };
        Some((cached, left))
    }

    /// Deletes what the cache holds of `ruc`: with a `kind`, that page;
    /// without, the record, every page behind it and the remembered "not
    /// found" (and this process's L1 copies and held answers of them); how
    /// many keys existed, `None` when Redis failed.
    pub(crate) async fn purge(&self, ruc: Ruc, kind: Option<Kind>) -> Option<u64> {
        let subjects: Vec<Subject> = match kind {
            Some(kind) => vec![Subject { ruc, kind: Some(kind) }],
            None => std::iter::once(None)
                .chain(Kind::ALL.map(Some))
                .map(|kind| Subject { ruc, kind })
                .collect(),
        };
        let mut keys = Vec::with_capacity(subjects.len() + 1);
        for subject in &subjects {
            if let Some(l1) = &self.l1 {
                l1.invalidate(subject);
            }
            self.unstored.forget(subject);
            keys.push(redis_key(subject));
        }
        if kind.is_none() {
            keys.push(not_found_key(&ruc));
        }
        self.redis
            .bounded(
                |mut connection| async move { redis::cmd("DEL").arg(&keys).query_async::<u64>(&mut connection).await },
            )
            .await
    }

    /// `SET key body EX ttl`; `None` when Redis is down or did not answer.
    async fn set(&self, key: String, body: Bytes, ttl: Duration) -> Option<()> {
        let ttl = ttl.as_secs();
        self.redis
            .call(|mut connection| async move {
                let mut set = redis::cmd("SET");
                set.arg(&key).arg(body.as_ref()).arg("EX").arg(ttl);
                set.query_async::<()>(&mut connection).await
            })
            .await
    }

    /// [`WRITE_BACK`] of `body` with `left` to live; `None` when Redis is
    /// down or did not answer.
    async fn write_back_if_newer(&self, key: String, body: Bytes, left: Duration) -> Option<()> {
        let left_ms = left.as_millis() as u64;
        self.redis
            .call(|mut connection| async move {
                WRITE_BACK
                    .key(&key)
                    .arg(body.as_ref())
                    .arg(left_ms)
                    .invoke_async::<()>(&mut connection)
                    .await
            })
            .await
    }
}

/// An answer read from a key stored for `fresh + stale`, with `pttl` (ms)
/// left. A key without expiry (-1, e.g. set by hand) counts as just stored.
fn cached(body: Bytes, pttl: i64, fresh: Duration, stale: Duration) -> Cached {
    let stored_for = (fresh + stale).as_millis() as i64;
    let left = if pttl == -1 { stored_for } else { pttl.max(0) };
    Cached {
        body,
        age: Duration::from_millis((stored_for - left).max(0) as u64),
        ttl_ms: left - stale.as_millis() as i64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(86_400);

    #[test]
    fn a_record_is_fresh_then_stale_within_its_redis_ttl() {
        let fresh = cached(Bytes::new(), 10 * 86_400_000, 7 * DAY, 7 * DAY);
        assert_eq!((fresh.age, fresh.ttl_ms), (4 * DAY, 3 * 86_400_000));
        let stale = cached(Bytes::new(), 2 * 86_400_000, 7 * DAY, 7 * DAY);
        assert_eq!((stale.age, stale.ttl_ms), (12 * DAY, -5 * 86_400_000));
    }

    #[test]
    fn a_key_without_expiry_counts_as_just_stored() {
        let cached = cached(Bytes::new(), -1, 7 * DAY, 7 * DAY);
        assert_eq!((cached.age, cached.fresh_for()), (Duration::ZERO, 7 * DAY));
    }
}
