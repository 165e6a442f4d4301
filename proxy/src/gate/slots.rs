//! This process's slots toward the scrapers: at most
//! `UPSTREAM_MAX_INFLIGHT` lookups at once from this proxy. The others
//! wait: single lookups first, in order; then batch items, at most
//! `UPSTREAM_BATCH_MAX_INFLIGHT` of them holding slots, the waiting
//! batches taking turns one item each, so that a long batch does not stop
//! a short one. A slot is handed to its next holder when given back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::asker::Asker;
#[cfg(test)]
use super::asker::BatchItem;
use crate::metrics::{Counted, Metrics};

/// The slots of this process.
pub(crate) struct Slots {
    shared: Arc<Shared>,
    metrics: &'static Metrics,
}

/// What the slots and their holders share.
struct Shared {
    /// `UPSTREAM_MAX_INFLIGHT`.
    max: usize,
    /// How many of those batch items may hold.
    batch_max: usize,
    state: Mutex<State>,
}

/// Who holds and who waits.
#[derive(Default)]
struct State {
    in_use: usize,
    batch_in_use: usize,
    /// Single lookups waiting, in order.
    singles: VecDeque<oneshot::Sender<Slot>>,
    /// Batches with items waiting, in turn order, each with its items in
    /// order.
    batches: VecDeque<(u64, VecDeque<oneshot::Sender<Slot>>)>,
}

/// A taken slot, given back (and handed on) when dropped.
pub(crate) struct Slot {
    /// `None` once given back.
    shared: Option<Arc<Shared>>,
    batch: bool,
}

impl Slots {
    /// `max` slots, of which batch items hold at most `batch_max`.
    pub(crate) fn new(max: usize, batch_max: usize, metrics: &'static Metrics) -> Slots {
        let shared = Shared {
            max,
            batch_max: batch_max.clamp(1, max),
            state: Mutex::default(),
        };
        Slots {
            shared: Arc::new(shared),
            metrics,
        }
    }

    /// A slot for `asker`, or `None` when none became free by `deadline`.
    pub(crate) async fn acquire(&self, asker: Asker, deadline: Instant) -> Option<Slot> {
        let waiting = {
            let mut state = self.shared.state.lock().expect("slots lock");
            if let Some(slot) = self.shared.take_now(&mut state, asker) {
                return Some(slot);
            }
            let (sender, receiver) = oneshot::channel();
            match asker {
                Asker::Single => state.singles.push_back(sender),
                Asker::Batch(item) => match state.batches.iter_mut().find(|(id, _)| *id == item.batch) {
                    Some((_, items)) => items.push_back(sender),
                    None => state.batches.push_back((item.batch, VecDeque::from([sender]))),
                },
            }
            receiver
        };
        let _counted = Counted::on(&self.metrics.upstream_waiting);
        // A waiter that gives up leaves a closed sender behind, skipped
        // when slots are handed on; a slot sent to it as it gave up is
        // dropped with the channel, and so given back.
        tokio::time::timeout_at(deadline, waiting).await.ok()?.ok()
    }
}

impl Shared {
    /// A slot at once for `asker`, if one is free and nobody it must let
    /// go first waits.
    fn take_now(self: &Arc<Self>, state: &mut State, asker: Asker) -> Option<Slot> {
        state.forget_who_gave_up();
        let batch = matches!(asker, Asker::Batch(_));
        let free = state.in_use < self.max && state.singles.is_empty();
        let allowed = !batch || (state.batch_in_use < self.batch_max && state.batches.is_empty());
        (free && allowed).then(|| self.hold(state, batch))
    }

    fn hold(self: &Arc<Self>, state: &mut State, batch: bool) -> Slot {
        state.in_use += 1;
        state.batch_in_use += usize::from(batch);
        Slot {
            shared: Some(self.clone()),
            batch,
        }
    }

    /// Hands the free slots on: to single lookups first, then to the
    /// batches in turn while they may hold more.
    fn hand_on(self: &Arc<Self>, state: &mut State) {
        while state.in_use < self.max {
            if let Some(sender) = state.singles.pop_front() {
                self.send(state, sender, false);
                continue;
            }
            if state.batch_in_use >= self.batch_max {
                return;
            }
            let Some((batch, mut items)) = state.batches.pop_front() else {
                return;
            };
            if let Some(sender) = items.pop_front() {
                self.send(state, sender, true);
            }
            if !items.is_empty() {
                state.batches.push_back((batch, items));
            }
        }
    }

    /// Sends a slot to a waiter; one that gave up gives it back at once.
    fn send(self: &Arc<Self>, state: &mut State, sender: oneshot::Sender<Slot>, batch: bool) {
        if let Err(mut slot) = sender.send(self.hold(state, batch)) {
            slot.shared = None;
            state.in_use -= 1;
            state.batch_in_use -= usize::from(batch);
        }
    }
}

impl State {
    /// Drops the waiters that gave up.
    fn forget_who_gave_up(&mut self) {
        self.singles.retain(|sender| !sender.is_closed());
        for (_, items) in &mut self.batches {
            items.retain(|sender| !sender.is_closed());
        }
        self.batches.retain(|(_, items)| !items.is_empty());
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        let mut state = shared.state.lock().expect("slots lock");
        state.in_use -= 1;
        state.batch_in_use -= usize::from(self.batch);
        shared.hand_on(&mut state);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn item(batch: u64) -> Asker {
        Asker::Batch(BatchItem {
            batch,
            until: Instant::now() + Duration::from_secs(60),
        })
    }

    fn soon() -> Instant {
        Instant::now() + Duration::from_millis(20)
    }

    #[tokio::test]
    async fn full_slots_refuse_after_the_queue_wait_and_come_back_on_drop() {
        let slots = Slots::new(1, 1, Metrics::get());
        let slot = slots.acquire(Asker::Single, soon()).await.expect("a free slot");
        assert!(slots.acquire(Asker::Single, soon()).await.is_none(), "full");
        drop(slot);
        assert!(slots.acquire(Asker::Single, soon()).await.is_some(), "freed");
    }

    #[tokio::test]
    async fn batch_items_hold_at_most_their_share_and_let_singles_go_first() {
        let slots = Arc::new(Slots::new(2, 1, Metrics::get()));
        let later = || Instant::now() + Duration::from_secs(5);
        let batch_slot = slots.acquire(item(1), later()).await.expect("a batch slot");
        assert!(
            slots.acquire(item(2), soon()).await.is_none(),
            "batch items hold one slot of two"
        );
        let single = slots
            .acquire(Asker::Single, soon())
            .await
            .expect("the other slot is a single's");
        let waiting_item = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire(item(1), later()).await.is_some() }
        });
        tokio::task::yield_now().await;
        let waiting_single = tokio::spawn({
            let slots = slots.clone();
            async move { slots.acquire(Asker::Single, later()).await }
        });
        tokio::task::yield_now().await;
        drop(batch_slot);
        let second_single = waiting_single.await.unwrap().expect("the single came before the item");
        assert!(!waiting_item.is_finished(), "the item still waits");
        drop((single, second_single));
        assert!(waiting_item.await.unwrap(), "then the item");
    }

    #[tokio::test]
    async fn batches_take_turns() {
        let slots = Arc::new(Slots::new(1, 1, Metrics::get()));
        let later = || Instant::now() + Duration::from_secs(5);
        let first = slots.acquire(item(1), later()).await.expect("free");
        let (order_tx, mut order) = tokio::sync::mpsc::unbounded_channel();
        for (batch, name) in [(1, "1a"), (1, "1b"), (1, "1c"), (2, "2a"), (2, "2b")] {
            let (slots, order_tx) = (slots.clone(), order_tx.clone());
            tokio::spawn(async move {
                let slot = slots.acquire(item(batch), later()).await;
                order_tx.send(name).unwrap();
                drop(slot);
            });
            tokio::task::yield_now().await;
        }
        drop((first, order_tx));
        let mut seen = Vec::new();
        while let Some(item) = order.recv().await {
            seen.push(item);
        }
        assert_eq!(seen, ["1a", "2a", "1b", "2b", "1c"]);
    }

    #[tokio::test]
    async fn a_waiter_that_gave_up_does_not_keep_a_slot() {
        let slots = Slots::new(1, 1, Metrics::get());
        let slot = slots.acquire(Asker::Single, soon()).await.expect("free");
        assert!(slots.acquire(Asker::Single, soon()).await.is_none());
        drop(slot);
        assert!(slots.acquire(item(3), soon()).await.is_some(), "nobody waits now");
    }
}
