//! What stands between the proxy and the scraper (and so SUNAT, which
//! blocks clients that ask too much): at most `UPSTREAM_MAX_INFLIGHT`
//! lookups at a time ([`limiter`]), and none at all for a while after
//! repeated failures ([`breaker`]). A lookup asks the [`Guard`] for a
//! [`Pass`] before it goes, and reports through it how it went.

pub mod breaker;
pub mod limiter;

use std::sync::Arc;
use std::time::Duration;

use breaker::{Breaker, Verdict};
use limiter::Limiter;

use crate::metrics::Metrics;

pub struct Guard {
    limiter: Limiter,
    breaker: Arc<Breaker>,
}

/// Why a lookup may not go to the scraper now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The breaker is open: ask again after this long.
    BreakerOpen(Duration),
    /// No slot became free within the queue wait.
    QueueFull,
}

impl Refusal {
    /// The `Retry-After` to give the client, in seconds.
    pub fn retry_after_secs(self) -> u64 {
        match self {
            Refusal::BreakerOpen(left) => left.as_secs().max(1),
            Refusal::QueueFull => 5,
        }
    }

    /// The `reason` label and the `Cache-Status` detail.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::BreakerOpen(_) => "breaker-open",
            Refusal::QueueFull => "upstream-queue-full",
        }
    }
}

/// Leave to send one lookup to the scraper; report its outcome with
/// [`Pass::finish`]. Dropped unfinished (the client left), it frees its
/// slot and tells the breaker nothing.
pub struct Pass {
    _slot: limiter::Slot,
    breaker: Arc<Breaker>,
    probe: bool,
}

impl Guard {
    pub fn new(max_in_flight: usize, queue_timeout: Duration, breaker_failures: u32, open_for: Duration) -> Guard {
        Guard {
            limiter: Limiter::new(max_in_flight, queue_timeout),
            breaker: Arc::new(Breaker::new(breaker_failures, open_for)),
        }
    }

    pub async fn admit(&self) -> Result<Pass, Refusal> {
        let probe = match self.breaker.verdict() {
            Verdict::Pass => false,
            Verdict::Probe => true,
            Verdict::Refuse(left) => return Err(self.refused(Refusal::BreakerOpen(left))),
        };
        match self.limiter.acquire().await {
            Some(slot) => Ok(Pass {
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

    fn refused(&self, refusal: Refusal) -> Refusal {
        Metrics::get()
            .upstream_refused
            .with_label_values(&[refusal.reason()])
            .inc();
        refusal
    }
}

impl Pass {
    /// `ok`: the scraper answered, with anything but a 5xx.
    pub fn finish(mut self, ok: bool) {
        self.breaker.record(ok);
        self.probe = false;
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if self.probe {
            self.breaker.probe_abandoned();
        }
    }
}
