//! The fleet-wide slots toward the scrapers: at most
//! `UPSTREAM_GLOBAL_MAX_INFLIGHT` lookups at once, whatever the number of
//! replicas. A sorted set holds the owner token of each slot scored by the
//! expiry of its lease, in Redis's own clock (`TIME`), so the replicas'
//! clocks do not matter, and the slot of a holder that died comes back by
//! itself. A lookup that finds every slot taken waits, woken when a slot
//! is given back, polling as a safeguard, within the queue wait.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::Script;
use tokio::time::Instant;

use crate::fleet::keys::{SLOTS_KEY, SLOT_FREED_CHANNEL};
use crate::fleet::{owner_token, Fleet, Renewal};
use crate::metrics::Counted;

/// How often a waiting lookup tries again, besides being woken.
const POLL: Duration = Duration::from_millis(200);

/// Drops lapsed holders, then takes (or, `ARGV[4]` = 1, only renews) the
/// caller's slot. KEYS: slots. ARGV: token, limit, lease ms, renew only.
/// Returns {taken (0/1), slots in use}.
static ACQUIRE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local time = redis.call('TIME')
        local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
        local expiry = now + tonumber(ARGV[3])
        redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
        local held = redis.call('ZSCORE', KEYS[1], ARGV[1])
        if held or (ARGV[4] == '0' and redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2])) then
            redis.call('ZADD', KEYS[1], expiry, ARGV[1])
            redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[3]))
            return {1, redis.call('ZCARD', KEYS[1])}
        end
        return {0, redis.call('ZCARD', KEYS[1])}",
    )
});

/// The fleet-wide semaphore.
pub(crate) struct FleetSlots {
    fleet: Arc<Fleet>,
    limit: usize,
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

impl FleetSlots {
    pub(crate) fn new(fleet: Arc<Fleet>, limit: usize) -> FleetSlots {
        FleetSlots { fleet, limit }
    }

    /// A slot, waiting for one until `deadline`.
    pub(crate) async fn acquire(&self, deadline: Instant) -> Acquired {
        let token = owner_token();
        let waiting = Counted::on(&self.fleet.metrics.fleet_slots_waiting);
        let ended = match self.try_take(&token).await {
            // Every slot is taken: wait for one to be given back.
            None => {
                let watch = self.fleet.wakeups.watch(SLOT_FREED_CHANNEL).await;
                watch.until(deadline, POLL, || self.try_take(&token)).await
            }
            ended => ended,
        };
        drop(waiting);
        match ended {
            Some(Ok(())) => {
                let renewal = {
                    let (fleet, limit, token) = (self.fleet.clone(), self.limit, token.clone());
                    Renewal::start(self.fleet.lease, move || {
                        let (fleet, token) = (fleet.clone(), token.clone());
                        async move { take(&fleet, limit, &token, true).await == Some(true) }
                    })
                };
                Acquired::Slot(FleetSlot {
                    token,
                    fleet: self.fleet.clone(),
                    _renewal: renewal,
                })
            }
            Some(Err(Unreachable)) => Acquired::Unreachable,
            None => Acquired::Full,
        }
    }

    /// One try: `None` while every slot is taken, so the wait goes on.
    async fn try_take(&self, token: &str) -> Option<Result<(), Unreachable>> {
        match take(&self.fleet, self.limit, token, false).await {
            Some(true) => Some(Ok(())),
            Some(false) => None,
            None => Some(Err(Unreachable)),
        }
    }
}

/// Redis could not be reached.
struct Unreachable;

/// Takes or renews `token`'s slot; `None` when Redis could not be reached.
async fn take(fleet: &Fleet, limit: usize, token: &str, renew: bool) -> Option<bool> {
    let lease_ms = fleet.lease_ms();
    let (taken, in_use) = fleet
        .redis
        .call(|mut connection| async move {
            ACQUIRE
                .key(SLOTS_KEY)
                .arg(token)
                .arg(limit)
                .arg(lease_ms)
                .arg(u8::from(renew))
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
