//! What stands between the proxy and the scraper (and so SUNAT, which
//! blocks clients that ask too much): at most `UPSTREAM_MAX_INFLIGHT`
//! lookups at a time ([`limiter`]), and none at all for a while after
//! repeated failures ([`breaker`]). A lookup asks the [`Gate`] for a
//! [`Pass`] before it goes, and reports through it how it went.
//!
//! [`Gate`] is the seam: [`Guard`] guards this process;
//! [`crate::fleet::gate`] adds the fleet's slots and breaker in Redis.

pub(crate) mod breaker;
pub(crate) mod limiter;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use breaker::{Breaker, Verdict};
use limiter::Limiter;

use crate::metrics::Metrics;

/// May a lookup go to the scraper now.
#[async_trait]
pub(crate) trait Gate: Send + Sync {
    /// Leave to go, or why not; may wait for a slot (bounded).
    async fn admit(&self) -> Result<Box<dyn Pass>, Refusal>;
}

/// Leave to send one lookup to the scraper. Dropped unfinished (the client
/// left), it frees its slot and tells the breaker nothing.
#[async_trait]
pub(crate) trait Pass: Send + Sync {
    /// Reports the lookup's outcome. `ok`: the scraper answered, with
    /// anything but a 5xx.
    async fn finish(self: Box<Self>, ok: bool);

    /// Whether it was given by this process alone, although the fleet
    /// should have (Redis could not be reached).
    fn fell_back(&self) -> bool {
        false
    }
}

/// Why a lookup may not go to the scraper now.
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

/// The gate of this process: its slots and its breaker.
pub(crate) struct Guard {
    pub(crate) limiter: Limiter,
    pub(crate) breaker: Arc<Breaker>,
    metrics: &'static Metrics,
}

/// A pass of this process's guard.
pub(crate) struct GuardPass {
    _slot: limiter::Slot,
    breaker: Arc<Breaker>,
    probe: bool,
}

impl Guard {
    pub(crate) fn new(
        max_in_flight: usize,
        queue_timeout: Duration,
        breaker_failures: u32,
        open_for: Duration,
        metrics: &'static Metrics,
    ) -> Guard {
        Guard {
            limiter: Limiter::new(max_in_flight, queue_timeout, metrics),
            breaker: Arc::new(Breaker::new(breaker_failures, open_for, metrics)),
            metrics,
        }
    }

    /// Counts a refusal.
    pub(crate) fn refused(&self, refusal: Refusal) -> Refusal {
        self.metrics
            .upstream_refused
            .with_label_values(&[refusal.reason()])
            .inc();
        refusal
    }

    /// A pass of this process alone: its breaker and one of its slots.
    pub(crate) async fn admit_here(&self) -> Result<GuardPass, Refusal> {
        let probe = match self.breaker.verdict() {
            Verdict::Pass => false,
            Verdict::Probe => true,
            Verdict::Refuse(left) => return Err(self.refused(Refusal::BreakerOpen(left))),
        };
        match self.limiter.acquire().await {
            Some(slot) => Ok(GuardPass {
                _slot: slot,
                breaker: self.breaker.clone(),
                probe,
            }),
            None => {
                if probe {
                    self.breaker.probe_abandoned();
                }
                Err(self.refused(Refusal::QueueFull))
            }
        }
    }
}

#[async_trait]
impl Gate for Guard {
    async fn admit(&self) -> Result<Box<dyn Pass>, Refusal> {
        Ok(Box::new(self.admit_here().await?))
    }
}

#[async_trait]
impl Pass for GuardPass {
    async fn finish(mut self: Box<Self>, ok: bool) {
        self.breaker.record(ok);
        self.probe = false;
    }
}

impl Drop for GuardPass {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.probe_abandoned();
        }
    }
}
