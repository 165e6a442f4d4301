//! One lookup of a RUC: what a request for its record gets, from the cache
//! read to the answer ([`Lookups::answer`]), whoever asks: a GET or a HEAD,
//! an item of a batch ([`crate::batch`]), a stale-while-revalidate refresh
//! or an operator's refresh ([`Lookups::refresh_in_background`]).
//!
//! 1. The cache is read (the in-process copy, then Redis): a fresh record
//!    or a remembered "no such RUC" is the answer, and so is a record stale
//!    for less than `STALE_WHILE_REVALIDATE_SECONDS` (refreshed in the
//!    background), and, while Redis cannot be read, what this replica
//!    still holds of the RUC.
//! 2. Otherwise the request joins the RUC's flight ([`crate::coalesce`]):
//!    it follows the lookup in flight, here or on another replica, and
//!    answers with its outcome; or it leads a new one.
//! 3. The leader asks the gate ([`crate::gate`]) for leave, then a scraper
//!    ([`crate::scrapers::client`]). A batch item asks the gate before it
//!    joins the flight instead (its wait, behind single lookups and other
//!    batches, is cancelled with its batch), reads the cache again once
//!    let go, and goes on in a task of its own: a lookup sent carries on
//!    whatever becomes of its batch, and a single request never follows a
//!    lead that waits behind batches.
//! 4. [`Lead::finish`] ends every lead the same way, in this order: the
//!    breaker and the scraper's health hear how it went, what may be
//!    stored is stored (awaited, bounded by `REDIS_TIMEOUT_MS`), the
//!    followers get the outcome (those of other replicas through Redis),
//!    and only then does the client get its answer, or the stale record.
//!    A lookup repeated right after its answer is therefore a hit, on
//!    every replica.
//!
//! What each end means is decided in [`outcome`], without I/O.

pub(crate) mod outcome;

use std::sync::Arc;
use std::time::Duration;

use crate::subject::Subject;
use startup::{telemetry, TraceParent};
use tokio_util::task::TaskTracker;
use tracing::{debug, info, info_span, warn, Instrument, Span};

use crate::cache::cached::Cached;
use crate::cache::store::Store;
use crate::coalesce::{Flight, Flights, Joined};
use crate::gate::{Asker, Gate, Pass, Refusal};
use crate::metrics::{CacheResult, Metrics};
use crate::scrapers::client::ScraperClient;
use crate::scrapers::Picked;
use outcome::{AfterRead, Answered, Decision, Ended};

/// What every lookup needs, built once at start-up (`app`).
pub(crate) struct Lookups {
    pub(crate) store: Arc<Store>,
    pub(crate) flights: Flights,
    pub(crate) gate: Gate,
    pub(crate) scrapers: ScraperClient,
    pub(crate) settings: LookupSettings,
    /// Where background refreshes run: the process finishes them before
    /// it exits ([`crate::drain`]).
    pub(crate) background: TaskTracker,
    pub(crate) metrics: &'static Metrics,
}

/// The settings a lookup reads.
pub(crate) struct LookupSettings {
    /// `STALE_WHILE_REVALIDATE_SECONDS`.
    pub(crate) stale_while_revalidate: Duration,
    /// `CACHE_MAX_BODY_BYTES`: larger answers are passed on, never stored.
    pub(crate) max_body_bytes: usize,
    /// How long a follower waits for its leader: longer than the leader's
    /// queue wait and upstream timeout together.
    pub(crate) follow_wait: Duration,
}

/// A lookup this request leads. It owns the flight its followers wait on;
/// dropped before it finishes (the process stops), the flight is
/// abandoned and its followers start over.
struct Lead {
    subject: Subject,
    flight: Flight,
    /// A record past its freshness, served if the scraper fails.
    stale: Option<Cached>,
    /// Redis could not be read for this request.
    store_down: bool,
    /// The request's trace context, passed on to the scraper.
    trace: Option<TraceParent>,
    lookups: Arc<Lookups>,
}

/// How a lead ended: its client's answer, and the `outcome` label it would
/// have as a background refresh.
struct Finished {
    answered: Answered,
    refresh_outcome: &'static str,
}

impl Lookups {
    /// The answer to a request for `subject` (a record or a page behind it): from the cache, from
    /// the lookup in flight, or from a new lookup this request leads. `trace` is the request's
    /// trace context (`startup::telemetry::root`), which the scraper gets.
    pub(crate) async fn answer(
        self: &Arc<Self>,
        subject: Subject,
        asker: Asker,
        trace: Option<TraceParent>,
    ) -> Answered {
        // A batch item's leave to go, taken before it joins the flight.
        let mut pass = None;
        loop {
            let read = self.store.get(&subject);
            let held = read.instrument(telemetry::span(|| info_span!("cache.read"))).await;
            let (stale, store_down) = match outcome::after_read(held, self.settings.stale_while_revalidate) {
                AfterRead::Hit { reply, not_found } => {
                    self.metrics.hit(not_found);
                    return Answered {
                        reply,
                        cache: CacheResult::Hit,
                    };
                }
                AfterRead::Stale { reply, refresh } => {
                    if refresh {
                        let lookups = self.clone();
                        let refresh = async move { lookups.refresh_in_background(subject, trace).await };
                        self.background.spawn(refresh.in_current_span());
                    }
                    self.metrics.stale.inc();
                    return Answered {
                        reply,
                        cache: CacheResult::Stale,
                    };
                }
                AfterRead::Fetch { stale, store_down } => (stale, store_down),
            };
            let missed = match (asker, pass.take()) {
                (Asker::Single, _) => {
                    // Boxed: the wait for a lookup is long and its future
                    // large, and every connection's task would otherwise
                    // carry it.
                    Box::pin(self.miss(subject, stale, store_down, None, trace)).await
                }
                (Asker::Batch(_), None) => {
                    match self.gate.admit(asker).instrument(admit_span()).await {
                        // Read again: the record may have come meanwhile.
                        Ok(admitted) => pass = Some(admitted),
                        Err(refusal) => return self.refused(subject, refusal, stale, store_down),
                    }
                    continue;
                }
                (Asker::Batch(_), Some(admitted)) => {
                    let lookups = self.clone();
                    let task = async move { lookups.miss(subject, stale, store_down, Some(admitted), trace).await };
                    self.background.spawn(task.in_current_span()).await.ok().flatten()
                }
            };
            if let Some(answered) = missed {
                return answered;
            }
        }
    }

    /// A request that missed: follows the lookup in flight, or leads a new
    /// one, with `pass` if it has its leave already; `None` when the lookup
    /// it followed was abandoned (read again).
    async fn miss(
        self: &Arc<Self>,
        subject: Subject,
        stale: Option<Cached>,
        store_down: bool,
        pass: Option<Pass>,
        trace: Option<TraceParent>,
    ) -> Option<Answered> {
        let joining = self.flights.join(&subject, TraceParent::of_span(&Span::current()));
        match joining.instrument(telemetry::span(|| info_span!("lease.join"))).await {
            Joined::Follow(follower) => {
                drop(pass);
                let span = telemetry::span(|| info_span!("lease.follow"));
                if let Some(leader) = follower.leader() {
                    leader.link(&span);
                }
                let following = follower.follow(self.settings.follow_wait);
                let followed = following.instrument(span).await;
                let answered = outcome::for_follower(followed, stale.as_ref(), &subject)?;
                self.count(answered.cache);
                Some(answered)
            }
            // Redis unreadable and a lookup of this RUC just ended here:
            // its held answer is read again rather than fetched twice.
            Joined::Lead(_) if store_down && self.store.holds(&subject) => None,
            Joined::Lead(flight) => {
                let lead = Lead {
                    subject,
                    flight,
                    stale,
                    store_down,
                    trace,
                    lookups: self.clone(),
                };
                Some(lead.run(pass).await.answered)
            }
        }
    }

    /// The answer to a batch item the gate did not let go; it led no
    /// flight, so nobody else waited for it.
    fn refused(&self, subject: Subject, refusal: Refusal, stale: Option<Cached>, store_down: bool) -> Answered {
        let detail = redis_detail(store_down, false);
        let max_body_bytes = self.settings.max_body_bytes;
        let decision = outcome::decide(
            &subject,
            Ended::NotSent(refusal),
            stale.as_ref(),
            detail,
            max_body_bytes,
        );
        self.count(decision.client.cache);
        decision.client
    }

    /// Refreshes `subject` in the background unless a lookup of it is already
    /// in flight (then `false`); the current record is served meanwhile.
    /// `trace`: the trace context of the request that asked for it, if any;
    /// the refresh's span is a child of the current one, or of `trace`.
    pub(crate) async fn refresh_in_background(self: &Arc<Self>, subject: Subject, trace: Option<TraceParent>) -> bool {
        let current = TraceParent::of_span(&Span::current());
        let Joined::Lead(flight) = self.flights.join(&subject, current).await else {
            return false;
        };
        let parent = current.or(trace);
        let (span, trace) = telemetry::root(parent, || info_span!("refresh"));
        let lead = Lead {
            subject,
            flight,
            stale: None,
            store_down: false,
            trace,
            lookups: self.clone(),
        };
        let metrics = self.metrics;
        let refresh = async move {
            let finished = lead.run(None).await;
            let outcome = finished.refresh_outcome;
            metrics.refreshes.with_label_values(&[outcome]).inc();
            let status = finished.answered.reply.status;
            info!(%subject, outcome, status, "background refresh");
        };
        self.background.spawn(refresh.instrument(span));
        true
    }

    /// Counts what a request that missed was answered with.
    fn count(&self, cache: CacheResult) {
        match cache {
            CacheResult::Stale => self.metrics.stale.inc(),
            CacheResult::Coalesced => self.metrics.coalesced.inc(),
            _ => {}
        }
    }
}

impl Lead {
    /// Asks the gate (unless let go already: `pass`), then a scraper, and
    /// finishes.
    async fn run(self, pass: Option<Pass>) -> Finished {
        let lookups = self.lookups.clone();
        let admitted = match pass {
            Some(pass) => Ok(pass),
            None => lookups.gate.admit(Asker::Single).instrument(admit_span()).await,
        };
        match admitted {
            Ok(pass) => {
                lookups.metrics.misses.inc();
                let fetching = lookups.scrapers.fetch(&self.subject, self.trace);
                let fetch = fetching
                    .instrument(telemetry::span(|| info_span!("scraper.fetch")))
                    .await;
                self.finish(Ended::Fetched(fetch.fetched), Some((pass, fetch.scraper)))
                    .await
            }
            Err(refusal) => {
                warn!(subject = %self.subject, reason = refusal.reason(), "lookup not sent to the scraper");
                self.finish(Ended::NotSent(refusal), None).await
            }
        }
    }

    /// Ends the lookup (see the module's steps): `asked` is the gate's
    /// pass and the scraper asked, when the gate let it go.
    async fn finish(mut self, ended: Ended, asked: Option<(Pass, Option<Picked>)>) -> Finished {
        let lookups = self.lookups.clone();
        let fell_back = self.flight.fell_back() || asked.as_ref().is_some_and(|(pass, _)| pass.fell_back());
        let detail = redis_detail(self.store_down, fell_back);
        let max_body_bytes = lookups.settings.max_body_bytes;
        let decision = outcome::decide(&self.subject, ended, self.stale.as_ref(), detail, max_body_bytes);
        if let (Some((pass, scraper)), Some(ok)) = (asked, decision.breaker) {
            pass.finish(ok).await;
            if let (true, Some(scraper)) = (decision.scraper_failed, &scraper) {
                scraper.failed();
            }
        }
        if decision.upstream_error {
            lookups.metrics.upstream_errors.inc();
            warn!(subject = %self.subject, status = decision.followers.status, "scraper gave no answer");
        }
        let stored = self.store(&decision).await;
        self.flight.land(decision.followers.clone()).await;
        lookups.count(decision.client.cache);
        Finished {
            refresh_outcome: outcome::refresh_outcome(&decision, stored),
            answered: decision.client,
        }
    }

    async fn store(&self, decision: &Decision) -> bool {
        let admitted = match decision.store {
            Ok(admitted) => admitted,
            Err(why) => {
                debug!(subject = %self.subject, status = decision.followers.status, ?why, "answer not stored");
                return false;
            }
        };
        let body = decision.followers.body.clone();
        let keeping = self.lookups.store.keep(&self.subject, admitted, body);
        let stored = keeping.instrument(telemetry::span(|| info_span!("cache.store"))).await;
        debug!(subject = %self.subject, ?admitted, stored, "answer stored");
        stored
    }
}

/// The span of the wait for leave to ask the scrapers (a slot toward
/// SUNAT, here and fleet-wide), when traces are exported.
fn admit_span() -> tracing::Span {
    telemetry::span(|| info_span!("gate.admit"))
}

/// Why Redis was not used for a lookup, if it was not: not read
/// (`redis-unavailable`), or not reached to coordinate the lookup with the
/// fleet (`fleet-unavailable`).
fn redis_detail(store_down: bool, fell_back: bool) -> Option<&'static str> {
    match (store_down, fell_back) {
        (true, _) => Some("redis-unavailable"),
        (false, true) => Some("fleet-unavailable"),
        (false, false) => None,
    }
}
