//! Records in Redis: `sunat:ruc:<ruc>` holds exactly the JSON body, for
//! `CACHE_TTL_SECONDS` fresh plus `STALE_IF_ERROR_SECONDS` stale, so
//! `redis-cli GET` shows the record and `TTL` the time left.
//!
//! Redis must never make a lookup slow or fail: calls go through
//! [`RedisConn`] (bounded, skipped while its health check finds Redis
//! down), and an error counts as a miss (fail-open); caching resumes when
//! Redis is back. Reads go through the [`L1`] first, an in-process copy
//! that Redis keeps coherent (or, without that, at most a second old).
//! SUNAT's "no such RUC" answers are kept apart, for `NEGATIVE_TTL_SECONDS`,
//! and read only when there is no record, so they never shadow one.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use ruc_contract::Ruc;

use super::admission::Admitted;
use super::cached::Cached;
use super::key::{not_found_key, redis_key};
use super::l1::L1;
use crate::metrics::Metrics;
use crate::redis_conn::RedisConn;

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
    /// Redis is down or did not answer in time: as good as nothing.
    Unavailable,
}

/// How long answers stay in Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Lifetimes {
    /// A record is fresh this long (`CACHE_TTL_SECONDS`)…
    pub(crate) fresh: Duration,
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
    metrics: &'static Metrics,
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
            metrics,
        }
    }

    /// From the L1, or `GET` and `PTTL` in one round trip; without a record,
    /// a second one for a remembered "not found".
    pub(crate) async fn get(&self, ruc: &Ruc) -> Held {
        if let Some(cached) = self.l1.as_ref().and_then(|l1| l1.get(ruc)) {
            self.metrics.l1_hits.inc();
            return Held::Fresh(cached);
        }
        let ticket = self.l1.as_deref().map(L1::ticket);
        let Lifetimes {
            fresh,
            stale,
            not_found,
        } = self.lifetimes;
        match self.read(redis_key(ruc), fresh, stale).await {
            Some(Some(cached)) if cached.ttl_ms > 0 => {
                if let (Some(l1), Some(ticket)) = (&self.l1, ticket) {
                    l1.fill(ruc, &cached, ticket);
                }
                Held::Fresh(cached)
            }
            Some(Some(cached)) => Held::Stale(cached),
            Some(None) if not_found.is_zero() => Held::Absent,
            Some(None) => match self.read(not_found_key(ruc), not_found, Duration::ZERO).await {
                Some(Some(cached)) if cached.ttl_ms > 0 => Held::NotFound(cached),
                Some(_) => Held::Absent,
                None => Held::Unavailable,
            },
            None => Held::Unavailable,
        }
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

    /// Stores a record, fresh then stale; false when Redis is down or did
    /// not answer.
    async fn put(&self, ruc: &Ruc, body: Bytes) -> bool {
        let Lifetimes { fresh, stale, .. } = self.lifetimes;
        self.set(redis_key(ruc), body, fresh + stale).await
    }

    /// Stores an answer as what the admission check found it to be.
    pub(crate) async fn keep(&self, ruc: &Ruc, admitted: Admitted, body: Bytes) -> bool {
        match admitted {
            Admitted::Record => self.put(ruc, body).await,
            Admitted::NotFound => self.put_not_found(ruc, body).await,
        }
    }

    /// Remembers SUNAT's "no such RUC" answer (when that is turned on).
    async fn put_not_found(&self, ruc: &Ruc, body: Bytes) -> bool {
        let ttl = self.lifetimes.not_found;
        !ttl.is_zero() && self.set(not_found_key(ruc), body, ttl).await
    }

    /// Deletes the record and the remembered "not found" (and this
    /// process's L1 copy); how many keys existed, `None` when Redis failed.
    pub(crate) async fn purge(&self, ruc: &Ruc) -> Option<u64> {
        if let Some(l1) = &self.l1 {
            l1.invalidate(ruc);
        }
        let keys = [redis_key(ruc), not_found_key(ruc)];
        self.redis
            .bounded(
                |mut connection| async move { redis::cmd("DEL").arg(&keys).query_async::<u64>(&mut connection).await },
            )
            .await
    }

    /// `SET key body EX ttl`.
    async fn set(&self, key: String, body: Bytes, ttl: Duration) -> bool {
        let ttl = ttl.as_secs();
        self.redis
            .call(|mut connection| async move {
                redis::cmd("SET")
                    .arg(&key)
                    .arg(body.as_ref())
                    .arg("EX")
                    .arg(ttl)
                    .query_async::<()>(&mut connection)
                    .await
            })
            .await
            .is_some()
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
