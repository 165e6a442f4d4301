//! One lookup of a RUC, from the miss to its end, whoever asked for it: a
//! GET proxied through Pingora, a HEAD, a stale-while-revalidate refresh or
//! an operator's refresh. A miss either leads the lookup ([`Lead`]) or
//! follows the one in flight; a lead ends only through [`Lead::finish`],
//! which takes the same steps in the same order every time:
//!
//! 1. gives the slot back and tells the breaker how the scraper did;
//! 2. decides what may be stored ([`outcome`]), and stores it (awaited,
//!    bounded by `REDIS_TIMEOUT_MS`);
//! 3. hands the answer to the followers;
//! 4. picks what this client gets: the answer, or the stale record;
//! 5. counts it.
//!
//! [`fetch`] asks the scraper directly when the answer is needed whole.

pub(crate) mod fetch;
pub(crate) mod outcome;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ruc_contract::Ruc;
use tracing::{debug, info, warn};

use crate::cache::cached::Cached;
use crate::cache::coalesce::{Coalescing, Flight, Follower, Role};
use crate::cache::store::Store;
use crate::metrics::Metrics;
use crate::responses::Reply;
use crate::scrapers::Picked;
use crate::upstream::{Gate, Pass};
use fetch::Fetcher;
use outcome::{Decision, Fetched};

/// What every lookup needs, built once at start-up (`app`).
pub(crate) struct Lookups {
    pub(crate) store: Arc<Store>,
    /// Who leads a RUC's lookup: this process's flights, or the fleet's.
    pub(crate) coalescing: Arc<dyn Coalescing>,
    /// Whether a lookup may go to the scraper now.
    pub(crate) gate: Arc<dyn Gate>,
    pub(crate) fetcher: Fetcher,
    pub(crate) max_body_bytes: usize,
    /// How long a follower waits for its leader: longer than the leader's
    /// queue wait and upstream timeout together.
    pub(crate) follow_wait: Duration,
    pub(crate) metrics: &'static Metrics,
}

/// What a miss does: lead the lookup, or wait for the one in flight.
pub(crate) enum Miss {
    Lead(Lead),
    Follow(Box<dyn Follower>),
}

/// A lookup this request leads. It owns the flight the followers wait on
/// and, once admitted, the gate's pass. Dropped unfinished (its client
/// left), the flight is abandoned, so its followers start over, and the
/// slot is freed without a word to the breaker.
pub(crate) struct Lead {
    ruc: Ruc,
    flight: Box<dyn Flight>,
    pass: Option<Box<dyn Pass>>,
    /// The scraper asked, counted in flight on it until the lead ends.
    scraper: Option<Picked>,
    /// A scraper that refused the connection, not to be asked again.
    refused: Option<SocketAddr>,
    lookups: Arc<Lookups>,
}

/// How a lookup ended, for the request that led it.
#[derive(Debug)]
pub(crate) struct Finished {
    /// What its client gets (unless the scraper's answer was already passed
    /// on as it arrived).
    pub(crate) reply: Reply,
    /// The `cache` label: `miss`, `stale` or `none`.
    pub(crate) cache: &'static str,
    /// The `outcome` label, had it been a background refresh.
    pub(crate) refresh_outcome: &'static str,
}

impl Lookups {
    /// A miss of `ruc`: leads a new lookup, or follows the one in flight.
    pub(crate) async fn miss(self: &Arc<Self>, ruc: Ruc) -> Miss {
        match self.coalescing.clone().join(&ruc).await {
            Role::Leader(flight) => Miss::Lead(Lead {
                ruc,
                flight,
                pass: None,
                scraper: None,
                refused: None,
                lookups: self.clone(),
            }),
            Role::Follower(follower) => Miss::Follow(follower),
        }
    }

    /// Waits for the lookup in flight; its answer (or `stale`) with the
    /// `cache` label, or `None` when it was abandoned: look up again.
    pub(crate) async fn follow(
        &self,
        follower: Box<dyn Follower>,
        stale: Option<&Cached>,
        ruc: &Ruc,
    ) -> Option<(Reply, &'static str)> {
        let followed = follower.follow(self.follow_wait).await;
        let answer = outcome::for_follower(followed, stale, ruc)?;
        self.count(answer.1);
        Some(answer)
    }

    /// Refreshes `ruc` in the background unless a lookup of it is already
    /// in flight (then `false`); the current record is served meanwhile.
    pub(crate) async fn refresh_in_background(self: &Arc<Self>, ruc: Ruc) -> bool {
        let Miss::Lead(lead) = self.miss(ruc).await else {
            return false;
        };
        let metrics = self.metrics;
        tokio::spawn(async move {
            let finished = match lead.admit(None).await {
                Ok(lead) => lead.fetch(None).await,
                Err(refused) => refused,
            };
            let outcome = finished.refresh_outcome;
            metrics.refreshes.with_label_values(&[outcome]).inc();
            info!(%ruc, outcome, status = finished.reply.status, "background refresh");
        });
        true
    }

    /// Counts what a request that missed was answered with.
    fn count(&self, cache: &str) {
        match cache {
            "stale" => self.metrics.stale.inc(),
            "coalesced" => self.metrics.coalesced.inc(),
            _ => {}
        }
    }
}

impl Lead {
    pub(crate) fn ruc(&self) -> Ruc {
        self.ruc
    }

    /// The scraper being asked, if any.
    pub(crate) fn scraper(&self) -> Option<SocketAddr> {
        self.scraper.as_ref().map(Picked::address)
    }

    /// The scraper that refused the connection, if one did.
    pub(crate) fn refused_scraper(&self) -> Option<SocketAddr> {
        self.refused
    }

    /// Asks `picked`.
    pub(crate) fn use_scraper(&mut self, picked: Picked) {
        self.scraper = Some(picked);
    }

    /// The scraper asked refused the connection: counted against it, and no
    /// longer in flight there.
    pub(crate) fn scraper_refused(&mut self) {
        if let Some(picked) = self.scraper.take() {
            picked.failed();
            self.refused = Some(picked.address());
        }
    }

    /// Whether this lookup is coordinated by this process alone, although
    /// the fleet should have (Redis could not be reached).
    pub(crate) fn fell_back(&self) -> bool {
        self.flight.fell_back() || self.pass.as_ref().is_some_and(|pass| pass.fell_back())
    }

    /// Asks the gate for leave to go to the scraper. Refused, the lookup
    /// ends here: the followers and this client get the refusal (or this
    /// client the `stale` record).
    pub(crate) async fn admit(mut self, stale: Option<&Cached>) -> Result<Lead, Finished> {
        match self.lookups.gate.admit().await {
            Ok(pass) => {
                self.pass = Some(pass);
                self.lookups.metrics.misses.inc();
                Ok(self)
            }
            Err(refusal) => {
                warn!(ruc = %self.ruc, reason = refusal.reason(), "lookup not sent to the scraper");
                Err(self.finish(Fetched::Refused(refusal), stale).await)
            }
        }
    }

    /// Asks a scraper directly, then finishes.
    pub(crate) async fn fetch(mut self, stale: Option<&Cached>) -> Finished {
        let (fetched, picked) = self.lookups.fetcher.fetch(&self.ruc).await;
        self.scraper = picked;
        self.finish(fetched, stale).await
    }

    /// Ends the lookup with what the scraper did (see the module's steps).
    pub(crate) async fn finish(mut self, fetched: Fetched, stale: Option<&Cached>) -> Finished {
        let lookups = self.lookups.clone();
        let decision = outcome::decide(&self.ruc, fetched, stale, lookups.max_body_bytes);
        if let (Some(pass), Some(ok)) = (self.pass.take(), decision.breaker) {
            pass.finish(ok).await;
        }
        if let (Some(picked), Some(false)) = (&self.scraper, decision.breaker) {
            picked.failed();
        }
        if decision.upstream_error {
            lookups.metrics.upstream_errors.inc();
        }
        let stored = self.store(&decision).await;
        self.flight.land(decision.followers.clone()).await;
        lookups.count(decision.cache);
        Finished {
            refresh_outcome: outcome::refresh_outcome(&decision, stored),
            reply: decision.client,
            cache: decision.cache,
        }
    }

    async fn store(&self, decision: &Decision) -> bool {
        let Some(admitted) = decision.store else {
            debug!(ruc = %self.ruc, status = decision.followers.status, "answer not stored");
            return false;
        };
        let body = decision.followers.body.clone();
        let stored = self.lookups.store.keep(&self.ruc, admitted, body).await;
        debug!(ruc = %self.ruc, ?admitted, stored, "answer stored");
        stored
    }
}
