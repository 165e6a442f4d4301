//! Who a lookup is for: a person waiting on one record, or an item of a
//! batch. It decides a lookup's place in the queues for slots
//! ([`super::slots`], [`super::fleet_slots`]) and how long it may wait.

use tokio::time::Instant;

/// Who a lookup is for, which decides its place in the queues for slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asker {
    /// A request for one record: someone waits for it.
    Single,
    /// An item of a batch request.
    Batch(BatchItem),
}

/// The batch an item belongs to, and how long it may wait for slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchItem {
    /// Names the batch within this process: batches take turns.
    pub(crate) batch: u64,
    /// The batch's deadline.
    pub(crate) until: Instant,
}
