//! Lookups at a time. `SCRAPER_SESSIONS` bounds them in every mode, so that
//! switching between the browser and direct HTTP never raises the load on
//! SUNAT; lookups beyond it wait in a queue with a timeout.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::metrics::Metrics;

/// The lookup slots; cheap to clone.
#[derive(Clone)]
pub(crate) struct Slots {
    permits: Arc<Semaphore>,
    size: usize,
    waiting: Arc<AtomicI64>,
    metrics: Metrics,
}

/// One lookup's slot, given back when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
}

/// The counts `/health` reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SlotStatus {
    pub(crate) busy: usize,
    pub(crate) waiting: usize,
}

impl Slots {
    pub(crate) fn new(size: usize, metrics: Metrics) -> Slots {
        Slots {
            permits: Arc::new(Semaphore::new(size)),
            size,
            waiting: Arc::new(AtomicI64::new(0)),
            metrics,
        }
    }

    /// Waits up to `wait` for a slot; `None` when the wait ran out.
    pub(crate) async fn acquire(&self, wait: Duration) -> Option<Slot> {
        self.queue(1);
        let permit = tokio::time::timeout(wait, self.permits.clone().acquire_owned()).await;
        self.queue(-1);
        Some(Slot {
            _permit: permit.ok()?.ok()?,
        })
    }

    pub(crate) fn status(&self) -> SlotStatus {
        SlotStatus {
            busy: self.size - self.permits.available_permits(),
            waiting: self.waiting.load(Ordering::SeqCst).max(0) as usize,
        }
    }

    fn queue(&self, change: i64) {
        let waiting = self.waiting.fetch_add(change, Ordering::SeqCst) + change;
        self.metrics.queue_depth.set(waiting.max(0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn slots_bound_lookups_and_come_back_when_dropped() {
        let slots = Slots::new(2, Metrics::new());
        let first = slots.acquire(Duration::ZERO).await.expect("free");
        let _second = slots.acquire(Duration::ZERO).await.expect("free");
        assert!(slots.acquire(Duration::from_millis(10)).await.is_none());
        assert_eq!(slots.status(), SlotStatus { busy: 2, waiting: 0 });
        drop(first);
        assert!(slots.acquire(Duration::ZERO).await.is_some());
    }
}
