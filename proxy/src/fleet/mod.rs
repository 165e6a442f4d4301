//! What the replicas of the proxy share to act as one fleet through Redis:
//! the connection and the lease length ([`Fleet`]), owner tokens, leases
//! renewed while their holder works ([`Renewal`]), pub/sub wake-ups
//! ([`wakeups`]) and the fleet's keys ([`keys`]). The fleet-wide forms of
//! each concept live beside their local forms: coalescing in
//! [`crate::coalesce`], slots and breaker in [`crate::gate`].
//!
//! Everything the fleet keeps in Redis is an efficiency device, never a
//! source of truth: a lease that lapses costs at most one extra lookup, and
//! a stored record is always a whole value. So every coordination key is a
//! *lease* that expires by itself (a replica killed mid-lookup gives
//! everything back within `FLEET_LEASE_SECS`), renewed while its holder
//! works, released by a script that checks the owner's token. When Redis
//! cannot be reached, each part falls back to this process's own flights,
//! slots and breaker ([`Fleet::fell_back`]: counted in
//! `ruc_proxy_fleet_fallbacks_total`, marked `detail=fleet-unavailable` in
//! `Cache-Status`), and coordinates fleet-wide again as soon as Redis
//! answers.

pub(crate) mod keys;
pub(crate) mod wakeups;

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use crate::redis_conn::RedisConn;
use wakeups::Wakeups;

/// What every part of the fleet's coordination shares.
pub(crate) struct Fleet {
    pub(crate) redis: Arc<RedisConn>,
    pub(crate) wakeups: Wakeups,
    /// `FLEET_LEASE_SECS`: how long a lease outlives a holder that stopped
    /// renewing it.
    pub(crate) lease: Duration,
    pub(crate) metrics: &'static Metrics,
    /// Whether the last part to try coordinated within this process only.
    alone: AtomicBool,
}

impl Fleet {
    pub(crate) fn new(redis: Arc<RedisConn>, lease: Duration, metrics: &'static Metrics) -> Fleet {
        Fleet {
            wakeups: Wakeups::new(redis.clone()),
            redis,
            lease,
            metrics,
            alone: AtomicBool::new(false),
        }
    }

    /// The lease in milliseconds, as `PX` wants it.
    pub(crate) fn lease_ms(&self) -> u64 {
        self.lease.as_millis() as u64
    }

    /// Counts that `part` coordinated within this process only; logs when
    /// the fleet stops being coordinated.
    pub(crate) fn fell_back(&self, part: &'static str) {
        self.metrics.fleet_fallbacks.with_label_values(&[part]).inc();
        if !self.alone.swap(true, Ordering::Relaxed) {
            warn!(part, "Redis unreachable: lookups coordinated within this process only");
        }
    }

    /// Notes that a part coordinated through Redis; logs when the fleet is
    /// coordinated again.
    pub(crate) fn coordinated(&self) {
        if self.alone.swap(false, Ordering::Relaxed) {
            info!("Redis reachable: lookups coordinated fleet-wide again");
        }
    }
}

/// A token that names one holder of a lease, unique across the fleet: the
/// host, the process, the time it started and a counter.
pub(crate) fn owner_token() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    static PROCESS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let process = PROCESS.get_or_init(|| {
        let host = std::env::var("HOSTNAME").unwrap_or_default();
        let started = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        format!("{host}:{}:{}", std::process::id(), started.as_nanos())
    });
    format!("{process}:{}", NEXT.fetch_add(1, Ordering::Relaxed))
}

/// Renews a lease every third of its length while its holder works;
/// stops when dropped.
pub(crate) struct Renewal(JoinHandle<()>);

impl Renewal {
    /// Calls `renew` every `lease / 3`; a failed renewal is retried at the
    /// next turn (Redis may be back by then).
    pub(crate) fn start<F, Fut>(lease: Duration, mut renew: F) -> Renewal
    where
        F: FnMut() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        Renewal(tokio::spawn(async move {
            let mut every = tokio::time::interval(lease / 3);
            every.tick().await;
            loop {
                every.tick().await;
                if !renew().await {
                    debug!("a lease could not be renewed");
                }
            }
        }))
    }
}

impl Drop for Renewal {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_tokens_differ() {
        assert_ne!(owner_token(), owner_token());
    }
}
