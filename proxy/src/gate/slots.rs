//! This process's slots toward the scrapers: at most
//! `UPSTREAM_MAX_INFLIGHT` lookups at once from this proxy; the others
//! wait, in order, up to `UPSTREAM_QUEUE_TIMEOUT_SECS`.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use crate::metrics::{Counted, Metrics};

/// The slots of this process.
pub(crate) struct Slots {
    slots: Arc<Semaphore>,
    metrics: &'static Metrics,
}

/// A taken slot, given back when dropped.
pub(crate) struct Slot {
    _permit: OwnedSemaphorePermit,
}

impl Slots {
    pub(crate) fn new(max_in_flight: usize, metrics: &'static Metrics) -> Slots {
        Slots {
            slots: Arc::new(Semaphore::new(max_in_flight)),
            metrics,
        }
    }

    /// A slot, or `None` when none became free by `deadline` (the queue
    /// wait's end).
    pub(crate) async fn acquire(&self, deadline: Instant) -> Option<Slot> {
        let waiting = Counted::on(&self.metrics.upstream_waiting);
        let permit = tokio::time::timeout_at(deadline, self.slots.clone().acquire_owned()).await;
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
    use std::time::Duration;

    #[tokio::test]
    async fn full_slots_refuse_after_the_queue_wait_and_come_back_on_drop() {
        let slots = Slots::new(1, Metrics::get());
        let soon = || Instant::now() + Duration::from_millis(20);
        let slot = slots.acquire(soon()).await.expect("a free slot");
        assert!(slots.acquire(soon()).await.is_none(), "full");
        drop(slot);
        assert!(slots.acquire(soon()).await.is_some(), "freed");
    }
}
