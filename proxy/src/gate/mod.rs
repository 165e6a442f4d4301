//! What stands between a lookup and the scrapers (and so SUNAT, which
//! blocks clients that ask too much): a circuit breaker that leaves them
//! alone for a while after repeated failures, and slots that bound how
//! many lookups go at once. Each exists twice, side by side: the fleet's,
//! shared by the replicas through Redis ([`fleet_breaker`],
//! [`fleet_slots`]), and this process's own ([`breaker`], [`slots`]).
//!
//! A lookup asks the [`Gate`] for a [`Pass`] before it goes: the fleet's
//! breaker, then one of this process's slots (`UPSTREAM_MAX_INFLIGHT`),
//! then one of the fleet's (`UPSTREAM_GLOBAL_MAX_INFLIGHT`), all within
//! `UPSTREAM_QUEUE_TIMEOUT_SECS`; it reports through the pass how the
//! scraper did. Single lookups are people waiting: they take slots before
//! batch items, here and fleet-wide, and batch items hold at most
//! `UPSTREAM_BATCH_MAX_INFLIGHT` of them. A batch item waits for its slots
//! until its batch's deadline, then hears the breaker (its verdict is then
//! the current one). When Redis cannot be reached, this process's breaker
//! decides and its slots alone bound the lookups (counted in
//! `ruc_proxy_fleet_fallbacks_total`), until Redis answers again.

pub(crate) mod asker;
pub(crate) mod breaker;
pub(crate) mod fleet_breaker;
pub(crate) mod fleet_slots;
pub(crate) mod slots;

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;

pub(crate) use asker::{Asker, BatchItem};

use crate::fleet::Fleet;
use crate::metrics::Metrics;
use breaker::{Breaker, Verdict};
use fleet_breaker::FleetBreaker;
use fleet_slots::{Acquired, FleetSlot, FleetSlots};
use slots::{Slot, Slots};

/// The breakers and slots, this process's and the fleet's.
pub(crate) struct Gate {
    slots: Slots,
    fleet_slots: FleetSlots,
    breaker: Arc<Breaker>,
    fleet_breaker: Arc<FleetBreaker>,
    /// `UPSTREAM_QUEUE_TIMEOUT_SECS`: the longest a lookup waits for its
    /// slots.
    queue_timeout: Duration,
    fleet: Arc<Fleet>,
}

/// The settings of the gate.
pub(crate) struct GateSettings {
    /// `UPSTREAM_MAX_INFLIGHT`.
    pub(crate) max_in_flight: usize,
    /// `UPSTREAM_GLOBAL_MAX_INFLIGHT`.
    pub(crate) fleet_max_in_flight: usize,
    /// `UPSTREAM_BATCH_MAX_INFLIGHT`: of those, what batch items may hold.
    pub(crate) batch_max_in_flight: usize,
    pub(crate) queue_timeout: Duration,
    /// `BREAKER_FAILURES` (0: no breaker).
    pub(crate) breaker_failures: u32,
    /// `BREAKER_OPEN_SECS`.
    pub(crate) breaker_open: Duration,
    /// How long the fleet's probe may take before another replica probes.
    pub(crate) probe_lease: Duration,
}

/// Leave to send one lookup to the scrapers. Dropped without a report (the
/// lookup was abandoned), it frees its slots and tells the breaker nothing.
pub(crate) struct Pass {
    _slot: Slot,
    /// `None` when the fleet's slots could not be reached.
    fleet_slot: Option<FleetSlot>,
    judge: Judge,
}

/// The breaker that let a lookup go, which hears how it went. Dropped
/// without a report, it gives up the probe if the lookup was one, so that
/// another lookup probes.
struct Judge {
    judged: Option<Judged>,
    breaker: Arc<Breaker>,
    fleet_breaker: Arc<FleetBreaker>,
    fleet: Arc<Fleet>,
}

/// Which breaker let the lookup go, and whether as its probe.
enum Judged {
    /// The fleet's; `probe`: the token of the fleet's probe.
    Fleet { probe: Option<String> },
    /// This process's, Redis being unreachable.
    Local { probe: bool },
}

/// Why a lookup may not go to the scrapers now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The breaker is open: ask again after this long.
    BreakerOpen(Duration),
    /// No slot became free within the queue wait.
    QueueFull,
}

impl Refusal {
    /// The `Retry-After` to give the client, in seconds.
    pub(crate) fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::BreakerOpen(left) => left.as_secs().max(1),
            Refusal::QueueFull => 5,
        }
    }

    /// The `reason` label and the `Cache-Status` detail.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::BreakerOpen(_) => "breaker-open",
            Refusal::QueueFull => "upstream-queue-full",
        }
    }
}

impl Gate {
    pub(crate) fn new(settings: GateSettings, fleet: Arc<Fleet>, metrics: &'static Metrics) -> Gate {
        let GateSettings {
            max_in_flight,
            fleet_max_in_flight,
            batch_max_in_flight,
            queue_timeout,
            breaker_failures,
            breaker_open,
            probe_lease,
        } = settings;
        Gate {
            slots: Slots::new(max_in_flight, batch_max_in_flight, metrics),
            fleet_slots: FleetSlots::new(fleet.clone(), fleet_max_in_flight, batch_max_in_flight),
            breaker: Arc::new(Breaker::new(breaker_failures, breaker_open, metrics)),
            fleet_breaker: Arc::new(FleetBreaker::new(
                fleet.clone(),
                breaker_failures,
                breaker_open,
                probe_lease,
            )),
            queue_timeout,
            fleet,
        }
    }

    /// Leave to go, or why not. A single lookup hears the breaker first,
    /// then waits for slots up to the queue wait; a batch item waits for
    /// this process's slot up to its batch's deadline, then hears the
    /// breaker, then waits for the fleet's slot.
    pub(crate) async fn admit(&self, asker: Asker) -> Result<Pass, Refusal> {
        let (judge, slot, deadline) = match asker {
            Asker::Single => {
                let judge = self.judge().await?;
                let deadline = Instant::now() + self.queue_timeout;
                (judge, self.slot(asker, deadline).await?, deadline)
            }
            Asker::Batch(item) => {
                let slot = self.slot(asker, item.until).await?;
                (self.judge().await?, slot, item.until)
            }
        };
        let fleet_slot = match judge.judged {
            Some(Judged::Fleet { .. }) => self.fleet_slot(asker, deadline).await?,
            _ => None,
        };
        Ok(Pass {
            _slot: slot,
            fleet_slot,
            judge,
        })
    }

    /// One of this process's slots.
    async fn slot(&self, asker: Asker, deadline: Instant) -> Result<Slot, Refusal> {
        self.slots
            .acquire(asker, deadline)
            .await
            .ok_or_else(|| self.refused(Refusal::QueueFull))
    }

    /// A fleet-wide slot; `None` when Redis cannot be reached.
    async fn fleet_slot(&self, asker: Asker, deadline: Instant) -> Result<Option<FleetSlot>, Refusal> {
        match self.fleet_slots.acquire(asker, deadline).await {
            Acquired::Slot(slot) => Ok(Some(slot)),
            Acquired::Full => Err(self.refused(Refusal::QueueFull)),
            Acquired::Unreachable => {
                self.fleet.fell_back("limit");
                Ok(None)
            }
        }
    }

    /// The fleet's breaker's verdict, or this process's when Redis cannot
    /// be reached.
    async fn judge(&self) -> Result<Judge, Refusal> {
        let judged = match self.fleet_breaker.verdict().await {
            Some(said) => {
                self.fleet.coordinated();
                match said.verdict {
                    Verdict::Refuse(left) => return Err(self.refused(Refusal::BreakerOpen(left))),
                    _ => Judged::Fleet { probe: said.probe },
                }
            }
            None => {
                self.fleet.fell_back("breaker");
                match self.breaker.verdict() {
                    Verdict::Refuse(left) => return Err(self.refused(Refusal::BreakerOpen(left))),
                    verdict => Judged::Local {
                        probe: verdict == Verdict::Probe,
                    },
                }
            }
        };
        Ok(Judge {
            judged: Some(judged),
            breaker: self.breaker.clone(),
            fleet_breaker: self.fleet_breaker.clone(),
            fleet: self.fleet.clone(),
        })
    }

    /// Counts a refusal.
    fn refused(&self, refusal: Refusal) -> Refusal {
        self.fleet
            .metrics
            .upstream_refused
            .with_label_values(&[refusal.reason()])
            .inc();
        refusal
    }
}

impl Pass {
    /// Reports the lookup's outcome. `ok`: the scraper answered, with
    /// anything but a 5xx.
    pub(crate) async fn finish(mut self, ok: bool) {
        match self.judge.judged.take() {
            Some(Judged::Fleet { probe }) => {
                let judge = &self.judge;
                if judge.fleet_breaker.record(ok, probe.as_deref()).await.is_none() {
                    judge.fleet.fell_back("breaker");
                    judge.breaker.record(ok);
                }
            }
            Some(Judged::Local { .. }) => self.judge.breaker.record(ok),
            None => {}
        }
    }

    /// Whether it was given by this process alone, although the fleet
    /// should have (Redis could not be reached).
    pub(crate) fn fell_back(&self) -> bool {
        self.fleet_slot.is_none()
    }
}

impl Drop for Judge {
    fn drop(&mut self) {
        match self.judged.take() {
            Some(Judged::Fleet { probe: Some(token) }) => {
                let breaker = self.fleet_breaker.clone();
                tokio::spawn(async move { breaker.abandon_probe(&token).await });
            }
            Some(Judged::Local { probe: true }) => self.breaker.probe_abandoned(),
            _ => {}
        }
    }
}
