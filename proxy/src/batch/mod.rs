//! Batch requests: `POST /obtener-ruc` with `{"rucs": [...]}`, one item
//! per distinct RUC. Every RUC goes through the same lookup as a single
//! `GET` ([`crate::lookup`]): the cache, the coalescing across replicas,
//! the gate with its fleet-wide limit and breaker, the stored records. Its
//! misses are batch items there: they let single lookups go first and
//! take turns with the other batches' items ([`crate::gate`]).
//!
//! A batch is answered by its deadline (`BATCH_TIMEOUT_SECS`): what is
//! missing then is a 504 item, and its lookup carries on in the background
//! (what waits for a slot waits up to [`CARRY_ON`] more) and is stored for
//! the next time. A client that hangs up before cancels what
//! only waited for a slot ([`Run`] dropped), and so does a process that
//! begins to stop (its items missing then are 504s too); lookups already
//! sent always carry on and are stored.

pub(crate) mod ask;
pub(crate) mod item;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{self, BoxFuture};
use futures_util::stream::{FuturesUnordered, StreamExt};
use startup::TraceParent;
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::gate::{Asker, BatchItem};
use crate::lookup::outcome::Answered;
use crate::lookup::Lookups;
use crate::metrics::{CacheResult, Metrics};
use crate::responses::{self, OwnError, Reply};
use crate::subject::Subject;
use ask::Asked;
use item::ItemOutcome;

/// How much longer than its batch's deadline an item may wait for a slot
/// when it carries on in the background.
const CARRY_ON: Duration = Duration::from_secs(3600);

/// What every batch needs, built once at start-up.
pub(crate) struct Batches {
    lookups: Arc<Lookups>,
    /// `BATCH_MAX_RUCS`.
    max_rucs: usize,
    /// `BATCH_TIMEOUT_SECS`.
    timeout: Duration,
    /// Names each batch, so that batches take turns.
    next_id: AtomicU64,
    metrics: &'static Metrics,
}

/// The items of a batch not answered yet.
type Pending = FuturesUnordered<BoxFuture<'static, (usize, Answered)>>;

/// A batch being answered: its RUCs in request order and the items not
/// out yet. Dropped, it cancels what only waited for a slot.
pub(crate) struct Run {
    asked: Vec<Asked>,
    pending: Pending,
    out: Vec<bool>,
    deadline: Instant,
    /// Turns true when the process begins to stop.
    closing: watch::Receiver<bool>,
    /// Once the deadline (or the stop) has come: the next item to look at
    /// for a 504.
    late_from: Option<usize>,
    /// Some items were not answered by the deadline (or the stop).
    cut_short: bool,
    /// Where what is missing at the deadline carries on.
    background: TaskTracker,
    metrics: &'static Metrics,
}

impl Batches {
    pub(crate) fn new(lookups: Arc<Lookups>, max_rucs: usize, timeout: Duration, metrics: &'static Metrics) -> Batches {
        Batches {
            lookups,
            max_rucs,
            timeout,
            next_id: AtomicU64::new(0),
            metrics,
        }
    }

    /// Counts a batch request refused as a whole.
    pub(crate) fn refused(&self) {
        self.metrics.batch_request("refused");
    }

    /// Starts the batch a whole `body` asks for, or the whole request's
    /// error (400, 413). `closing` turns true when the process stops;
    /// `trace` is the request's trace context, passed on by every lookup.
    pub(crate) fn start(
        &self,
        body: &[u8],
        closing: watch::Receiver<bool>,
        trace: Option<TraceParent>,
    ) -> Result<Run, Reply> {
        let asked = ask::read(body, self.max_rucs).inspect_err(|_| self.refused())?;
        let deadline = Instant::now() + self.timeout;
        let batch = self.next_id.fetch_add(1, Ordering::Relaxed);
        // An item waits for slots through the batch, then through the
        // time it may carry on after the deadline.
        let until = deadline + CARRY_ON;
        let asker = Asker::Batch(BatchItem { batch, until });
        let pending = asked
            .iter()
            .enumerate()
            .map(|(index, asked)| -> BoxFuture<'static, (usize, Answered)> {
                match asked {
                    Asked::Valid(ruc) => {
                        let (lookups, ruc) = (self.lookups.clone(), *ruc);
                        let answer = async move { (index, lookups.answer(Subject::record(ruc), asker, trace).await) };
                        Box::pin(answer.in_current_span())
                    }
                    Asked::Invalid { text, why } => {
                        let reply = responses::own_error(OwnError::InvalidRuc, text, Some(why.detail()));
                        Box::pin(future::ready((index, answered(reply))))
                    }
                }
            })
            .collect();
        Ok(Run {
            out: vec![false; asked.len()],
            asked,
            pending,
            deadline,
            closing,
            late_from: None,
            cut_short: false,
            background: self.lookups.background.clone(),
            metrics: self.metrics,
        })
    }
}

impl Run {
    /// How many items the answer has.
    pub(crate) fn len(&self) -> usize {
        self.asked.len()
    }

    /// The next item out, with its place in request order: the first to
    /// finish; after the deadline, every one not out yet as a 504, in
    /// request order; `None` once all are out. Cancel-safe.
    pub(crate) async fn next(&mut self) -> Option<(usize, Vec<u8>)> {
        if self.late_from.is_none() {
            let finished = tokio::select! {
                biased;
                finished = self.pending.next() => finished,
                () = tokio::time::sleep_until(self.deadline) => {
                    self.carry_on();
                    None
                }
                () = stopping(&mut self.closing) => None,
            };
            if let Some((index, answered)) = finished {
                return Some(self.item(index, &answered, None));
            }
            // All done, late or stopping: what is still pending was
            // handed on, or only waits and is dropped (a lookup sent
            // carries on in a task of its own).
            self.pending.clear();
            self.late_from = Some(0);
            self.cut_short = self.out.contains(&false);
        }
        let from = self.late_from.unwrap_or_default();
        let index = (from..self.out.len()).find(|&index| !self.out[index])?;
        self.late_from = Some(index + 1);
        let text = self.asked[index].text().to_string();
        let late = responses::own_error(OwnError::BatchTimeout, &text, None);
        Some(self.item(index, &answered(late), Some(ItemOutcome::TimedOut)))
    }

    /// Hands what is missing at the deadline to a background task, which
    /// sees it through unless the process begins to stop.
    fn carry_on(&mut self) {
        let mut pending = std::mem::take(&mut self.pending);
        let mut closing = self.closing.clone();
        self.background.spawn(async move {
            tokio::select! {
                () = async { while pending.next().await.is_some() {} } => {}
                () = stopping(&mut closing) => {}
            }
        });
    }

    /// Encodes and counts the item of `index`.
    fn item(&mut self, index: usize, answered: &Answered, outcome: Option<ItemOutcome>) -> (usize, Vec<u8>) {
        self.out[index] = true;
        let (item, encoded_outcome) = item::encode(self.asked[index].text(), answered);
        self.metrics.batch_item(outcome.unwrap_or(encoded_outcome).label());
        (index, item)
    }
}

impl Drop for Run {
    /// Counts the batch by how it ended: every item out (some as 504s when
    /// `cut_short`), or not (the client hung up).
    fn drop(&mut self) {
        let outcome = match (self.out.contains(&false), self.cut_short) {
            (true, _) => "cancelled",
            (false, true) => "timed_out",
            (false, false) => "complete",
        };
        self.metrics.batch_request(outcome);
    }
}

/// Resolves once the process begins to stop (never if it cannot tell).
async fn stopping(closing: &mut watch::Receiver<bool>) {
    if closing.wait_for(|closing| *closing).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn answered(reply: Reply) -> Answered {
    Answered {
        reply,
        cache: CacheResult::None,
    }
}
