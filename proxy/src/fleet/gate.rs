//! The fleet's gate toward the scrapers: the fleet's breaker, then one of
//! this process's slots (`UPSTREAM_MAX_INFLIGHT`, a local bound), then one
//! of the fleet's (`UPSTREAM_GLOBAL_MAX_INFLIGHT`), all within
//! `UPSTREAM_QUEUE_TIMEOUT_SECS`. When Redis cannot be reached, the
//! process's own breaker and slots decide alone.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::time::Instant;

use super::breaker::SharedBreaker;
use super::slots::{Acquired, FleetSlot, Slots};
use super::Fleet;
use crate::upstream::breaker::{Breaker, Verdict};
use crate::upstream::limiter::Slot;
use crate::upstream::{Gate, Guard, GuardPass, Pass, Refusal};

/// The process's guard, with the fleet's slots and breaker in front.
pub(crate) struct FleetGate {
    local: Guard,
    slots: Slots,
    breaker: Arc<SharedBreaker>,
    fleet: Arc<Fleet>,
}

/// Leave from the fleet: a local slot, the fleet's slot (none when Redis
/// was unreachable), and the probe's token when it is the fleet's probe.
struct FleetPass {
    _local_slot: Slot,
    fleet_slot: Option<FleetSlot>,
    probe: ProbeToken,
    breaker: Arc<SharedBreaker>,
    local_breaker: Arc<Breaker>,
    fleet: Arc<Fleet>,
}

/// Leave from this process alone, Redis being unreachable.
struct LocalPass(GuardPass);

impl FleetGate {
    pub(crate) fn new(local: Guard, slots: Slots, breaker: SharedBreaker, fleet: Arc<Fleet>) -> FleetGate {
        FleetGate {
            local,
            slots,
            breaker: Arc::new(breaker),
            fleet,
        }
    }
}

#[async_trait]
impl Gate for FleetGate {
    async fn admit(&self) -> Result<Box<dyn Pass>, Refusal> {
        let started = Instant::now();
        let Some(said) = self.breaker.verdict().await else {
            self.fleet.fell_back("breaker");
            return Ok(Box::new(LocalPass(self.local.admit_here().await?)));
        };
        self.fleet.coordinated();
        if let Verdict::Refuse(left) = said.verdict {
            return Err(self.local.refused(Refusal::BreakerOpen(left)));
        }
        // From here on, a refusal drops the probe's token: another may probe.
        let probe = ProbeToken(said.probe, self.breaker.clone());
        let Some(local_slot) = self.local.limiter.acquire().await else {
            return Err(self.local.refused(Refusal::QueueFull));
        };
        let fleet_slot = match self.slots.acquire(started + self.local.limiter.queue_timeout()).await {
            Acquired::Slot(slot) => Some(slot),
            Acquired::Full => return Err(self.local.refused(Refusal::QueueFull)),
            Acquired::Unreachable => {
                self.fleet.fell_back("limit");
                None
            }
        };
        Ok(Box::new(FleetPass {
            _local_slot: local_slot,
            fleet_slot,
            probe,
            breaker: self.breaker.clone(),
            local_breaker: self.local.breaker.clone(),
            fleet: self.fleet.clone(),
        }))
    }
}

#[async_trait]
impl Pass for FleetPass {
    async fn finish(mut self: Box<Self>, ok: bool) {
        let probe = self.probe.take();
        if self.breaker.record(ok, probe.as_deref()).await.is_none() {
            self.fleet.fell_back("breaker");
            self.local_breaker.record(ok);
        }
    }

    fn fell_back(&self) -> bool {
        self.fleet_slot.is_none()
    }
}

#[async_trait]
impl Pass for LocalPass {
    async fn finish(self: Box<Self>, ok: bool) {
        Box::new(self.0).finish(ok).await;
    }

    fn fell_back(&self) -> bool {
        true
    }
}

/// The token of the fleet's probe, given up when dropped unused.
struct ProbeToken(Option<String>, Arc<SharedBreaker>);

impl ProbeToken {
    /// The token, for the probe's report; nothing is given up then.
    fn take(&mut self) -> Option<String> {
        self.0.take()
    }
}

impl Drop for ProbeToken {
    fn drop(&mut self) {
        if let Some(token) = self.0.take() {
            let breaker = self.1.clone();
            tokio::spawn(async move { breaker.abandon_probe(&token).await });
        }
    }
}
