//! The fleet-wide slots toward the scrapers: at most
//! `UPSTREAM_GLOBAL_MAX_INFLIGHT` lookups at once, whatever the number of
//! replicas, of which batch items hold at most
//! `UPSTREAM_BATCH_MAX_INFLIGHT`. A sorted set holds the owner token of
//! each slot scored by the expiry of its lease, in Redis's own clock
//! (`TIME`), so the replicas' clocks do not matter, and the slot of a
//! holder that died comes back by itself; a second one, the batch items'
//! among them. A single lookup that finds every slot taken enters a third
//! set, of waiting singles (its entry a lease too, renewed at each try):
//! while it is not empty no batch item takes a slot, fleet-wide. A lookup
//! that finds no slot waits, woken when a slot is given back, polling as a
//! safeguard, within its deadline.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use tokio::time::Instant;

use super::asker::Asker;
use crate::fleet::keys::{BATCH_SLOTS_KEY, SINGLES_WAITING_KEY, SLOTS_KEY, SLOT_FREED_CHANNEL};
use crate::fleet::{owner_token, Fleet, Renewal};
use crate::metrics::Counted;

/// How often a waiting lookup tries again, besides being woken.
const POLL: Duration = Duration::from_millis(200);

/// Drops lapsed holders and waiters, then takes (or, `ARGV[4]` = 1, only
/// renews) the caller's slot. KEYS: slots, batch slots, waiting singles.
/// ARGV: token, limit, lease ms, renew only, batch item (0/1), batch limit.
/// A single that finds no slot is entered among the waiting singles; one
/// that takes a slot leaves them. Returns {taken (0/1), slots in use}.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        local lease = tonumber(ARGV[3])
        local expiry = now + lease
        local batch = ARGV[5] == '1'
        for i = 1, 3 do redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now) end
        local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
        local free = ARGV[4] == '0' and redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2])
        if free and batch then
            free = redis.call('ZCARD', KEYS[3]) == 0 and redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[6])
        end
        if held or free then
            redis.call('ZADD', KEYS[1], expiry, ARGV[1])
            redis.call('PEXPIRE', KEYS[1], 2 * lease)
            if batch then
                redis.call('ZADD', KEYS[2], expiry, ARGV[1])
                redis.call('PEXPIRE', KEYS[2], 2 * lease)
            else
                redis.call('ZREM', KEYS[3], ARGV[1])
            end
            return {1, redis.call('ZCARD', KEYS[1])}
        end
        if not batch and ARGV[4] == '0' then
            redis.call('ZADD', KEYS[3], expiry, ARGV[1])
            redis.call('PEXPIRE', KEYS[3], 2 * lease)
        end
        return {0, redis.call('ZCARD', KEYS[1])}",
    )
});

/// The fleet-wide semaphore.
pub(crate) struct FleetSlots {
    fleet: Arc<Fleet>,
    limits: Limits,
}

/// `UPSTREAM_GLOBAL_MAX_INFLIGHT` and `UPSTREAM_BATCH_MAX_INFLIGHT`.
#[derive(Clone, Copy)]
struct Limits {
    all: usize,
    batch: usize,
}

/// A fleet-wide slot, renewed while held, given back when dropped.
pub(crate) struct FleetSlot {
    token: String,
    fleet: Arc<Fleet>,
    _renewal: Renewal,
}

/// What a wait for a fleet-wide slot gave.
pub(crate) enum Acquired {
    Slot(FleetSlot),
    /// Every slot stayed taken until the deadline.
    Full,
    /// Redis could not be reached.
    Unreachable,
}

/// One try for a slot.
#[derive(Clone, Copy)]
struct Try<'a> {
    token: &'a str,
    batch: bool,
    renew: bool,
}

impl FleetSlots {
    /// `limit` slots, of which batch items hold at most `batch_limit`.
    pub(crate) fn new(fleet: Arc<Fleet>, limit: usize, batch_limit: usize) -> FleetSlots {
        let limits = Limits {
            all: limit,
            batch: batch_limit.clamp(1, limit),
        };
        FleetSlots { fleet, limits }
    }

    /// A slot for `asker`, waiting for one until `deadline`.
    pub(crate) async fn acquire(&self, asker: Asker, deadline: Instant) -> Acquired {
        let token = owner_token();
        let batch = matches!(asker, Asker::Batch(_));
        let attempt = Try {
            token: &token,
            batch,
            renew: false,
        };
        let waiting = Counted::on(&self.fleet.metrics.fleet_slots_waiting);
        let ended = match self.try_take(attempt).await {
            // Every slot is taken: wait for one to be given back.
            None => {
                let watch = self.fleet.wakeups.watch(SLOT_FREED_CHANNEL).await;
                let ended = watch.until(deadline, POLL, || self.try_take(attempt)).await;
                if ended.is_none() && !batch {
                    self.stop_waiting(&token);
                }
                ended
            }
            ended => ended,
        };
        drop(waiting);
        match ended {
            Some(Ok(())) => Acquired::Slot(self.hold(token, batch)),
            Some(Err(Unreachable)) => Acquired::Unreachable,
            None => Acquired::Full,
        }
    }

    /// A taken slot, renewed while held.
    fn hold(&self, token: String, batch: bool) -> FleetSlot {
        let renewal = {
            let (fleet, limits, token) = (self.fleet.clone(), self.limits, token.clone());
            Renewal::start(self.fleet.lease, move || {
                let (fleet, token) = (fleet.clone(), token.clone());
                async move {
                    let renew = Try {
                        token: &token,
                        batch,
                        renew: true,
                    };
                    take(&fleet, limits, renew).await == Some(true)
                }
            })
        };
        FleetSlot {
            token,
            fleet: self.fleet.clone(),
            _renewal: renewal,
        }
    }

    /// One try: `None` while every slot is taken, so the wait goes on.
    async fn try_take(&self, attempt: Try<'_>) -> Option<Result<(), Unreachable>> {
        match take(&self.fleet, self.limits, attempt).await {
            Some(true) => Some(Ok(())),
            Some(false) => None,
            None => Some(Err(Unreachable)),
        }
    }

    /// A single that gave up leaves the waiting singles at once, rather
    /// than holding batch items back until its entry lapses.
    fn stop_waiting(&self, token: &str) {
        let (fleet, token) = (self.fleet.clone(), token.to_string());
        tokio::spawn(async move {
            fleet
                .redis
                .call(|mut connection| async move {
                    redis::cmd("ZREM")
                        .arg(SINGLES_WAITING_KEY)
                        .arg(&token)
                        .query_async::<()>(&mut connection)
                        .await
                })
                .await
        });
    }
}

/// Redis could not be reached.
struct Unreachable;

/// Takes or renews a slot; `None` when Redis could not be reached.
async fn take(fleet: &Fleet, limits: Limits, attempt: Try<'_>) -> Option<bool> {
    let lease_ms = fleet.lease_ms();
    let (taken, in_use) = fleet
        .redis
        .call(|mut connection| async move {
            ACQUIRE
                .key(SLOTS_KEY)
                .key(BATCH_SLOTS_KEY)
                .key(SINGLES_WAITING_KEY)
                .arg(attempt.token)
                .arg(limits.all)
                .arg(lease_ms)
                .arg(u8::from(attempt.renew))
                .arg(u8::from(attempt.batch))
                .arg(limits.batch)
                .invoke_async::<(bool, i64)>(&mut connection)
                .await
        })
        .await?;
    fleet.metrics.fleet_slots_in_use.set(in_use);
    Some(taken)
}

impl Drop for FleetSlot {
    fn drop(&mut self) {
        let (fleet, token) = (self.fleet.clone(), std::mem::take(&mut self.token));
        tokio::spawn(async move {
            let publish = fleet.redis.publish_command();
            fleet
                .redis
                .call(|mut connection| async move {
                    redis::pipe()
                        .zrem(SLOTS_KEY, &token)
                        .zrem(BATCH_SLOTS_KEY, &token)
                        .cmd(publish)
                        .arg(SLOT_FREED_CHANNEL)
                        .arg("freed")
                        .query_async::<()>(&mut connection)
                        .await
                })
                .await
        });
    }
}
