//! At most `UPSTREAM_MAX_INFLIGHT` lookups go to the scraper at once from
//! this proxy; the others wait, in order, up to `UPSTREAM_QUEUE_TIMEOUT_SECS`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::{Counted, Metrics};

/// The slots toward the scraper, and how long a lookup may wait for one.
pub(crate) struct Limiter {
    slots: Arc<Semaphore>,
    queue_timeout: Duration,
    metrics: &'static Metrics,
}

/// A taken slot, given back when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Limiter {
    /// `UPSTREAM_QUEUE_TIMEOUT_SECS`.
    pub(crate) fn queue_timeout(&self) -> Duration {
        self.queue_timeout
    }

    pub(crate) fn new(max_in_flight: usize, queue_timeout: Duration, metrics: &'static Metrics) -> Limiter {
        Limiter {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            queue_timeout,
            metrics,
        }
    }

    /// A slot, or `None` when none became free within the queue wait.
    pub(crate) async fn acquire(&self) -> Option<Slot> {
        let waiting = Counted::on(&self.metrics.upstream_waiting);
        let permit = tokio::time::timeout(self.queue_timeout, self.slots.clone().acquire_owned()).await;
        drop(waiting);
        match permit {
            Ok(Ok(permit)) => Some(Slot { _permit: permit }),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_full_limiter_refuses_after_the_queue_wait_and_frees_slots_on_drop() {
        let limiter = Limiter::new(1, Duration::from_millis(20), Metrics::get());
        let slot = limiter.acquire().await.expect("a free slot");
        assert!(limiter.acquire().await.is_none(), "full");
        drop(slot);
        assert!(limiter.acquire().await.is_some(), "freed");
    }
}
