//! One scraper lookup per RUC at a time, in this process and across the
//! fleet. A miss joins the RUC's *flight*: the first miss leads it (goes to
//! a scraper, then lands the outcome); the misses that arrive meanwhile
//! follow it and get that outcome, whatever it is. A failed lookup
//! therefore costs SUNAT one visit too: the followers receive the same
//! error, and only a later request tries again.
//!
//! Within a process, misses follow its local flight ([`local`]). The local
//! leader then takes the RUC's lease in Redis ([`lease`]): holding it, it
//! leads for the whole fleet; finding it held, it follows the replica that
//! holds it ([`fleet`]) and hands that outcome to its own followers. When
//! Redis cannot be reached, the local flight alone coalesces (counted in
//! `ruc_proxy_fleet_fallbacks_total{part="coalescing"}`).

pub(crate) mod fleet;
pub(crate) mod lease;
pub(crate) mod local;

use std::sync::Arc;
use std::time::Duration;

use crate::subject::Subject;
use startup::TraceParent;

use crate::fleet::Fleet;
use crate::scrapers::answer::Answer;
use fleet::RemoteFollower;
use lease::{Lease, Taken};
use local::{Followed, LocalFlight, LocalFlights, LocalFollower, LocalRole};

/// The flights of this process, coordinated with the fleet's through
/// leases.
pub(crate) struct Flights {
    local: Arc<LocalFlights>,
    fleet: Arc<Fleet>,
}

/// What a miss does.
pub(crate) enum Joined {
    /// Go to a scraper, then [`Flight::land`].
    Lead(Flight),
    /// Wait for the leader with [`Follower::follow`].
    Follow(Follower),
}

/// A lookup this replica leads: for the fleet, or (Redis unreachable) for
/// this process alone, without a lease. Dropped before it lands, the
/// flight is abandoned: its followers start over.
pub(crate) struct Flight {
    local: LocalFlight,
    /// Until the flight lands, when this replica leads for the fleet.
    lease: Option<Lease>,
    fell_back: bool,
}

/// A miss waiting for the lookup in flight, here or on another replica.
pub(crate) enum Follower {
    Local(LocalFollower),
    Remote(RemoteFollower),
}

impl Flights {
    pub(crate) fn new(local: LocalFlights, fleet: Arc<Fleet>) -> Flights {
        Flights {
            local: Arc::new(local),
            fleet,
        }
    }

    /// Joins the lookup of `subject`: leads it, under the trace `trace`
    /// (the leading request's, if exported), or follows the one in flight.
    pub(crate) async fn join(&self, subject: &Subject, trace: Option<TraceParent>) -> Joined {
        let local = match self.local.join(subject, trace) {
            LocalRole::Follower(follower) => return Joined::Follow(Follower::Local(follower)),
            LocalRole::Leader(flight) => flight,
        };
        let lease = match Lease::take(&self.fleet, subject, trace).await {
            Some(Taken::Here(lease)) => {
                self.fleet.coordinated();
                Some(lease)
            }
            Some(Taken::Elsewhere { leader }) => {
                self.fleet.coordinated();
                self.fleet.metrics.fleet_followed.inc();
                let fleet = self.fleet.clone();
                return Joined::Follow(Follower::Remote(RemoteFollower {
                    local,
                    subject: *subject,
                    leader,
                    fleet,
                }));
            }
            None => {
                self.fleet.fell_back("coalescing");
                None
            }
        };
        let fell_back = lease.is_none();
        Joined::Lead(Flight {
            local,
            lease,
            fell_back,
        })
    }
}

impl Flight {
    /// Hands the outcome to every follower: this process's at once (and
    /// those that join until the flight is dropped), the other replicas'
    /// through Redis. Land after storing the record, so that nobody misses
    /// both the flight and the cache in between.
    pub(crate) async fn land(&mut self, answer: Answer) {
        let answer = Arc::new(answer);
        self.local.land(answer.clone());
        if let Some(lease) = self.lease.take() {
            lease.land(&answer).await;
        }
    }

    /// Whether this flight coalesces within this process only, although it
    /// should have across the fleet (Redis could not be reached).
    pub(crate) fn fell_back(&self) -> bool {
        self.fell_back
    }
}

impl Follower {
    /// The trace of the request that leads the lookup, here or on another
    /// replica, if it is exported.
    pub(crate) fn leader(&self) -> Option<TraceParent> {
        match self {
            Follower::Local(follower) => follower.leader,
            Follower::Remote(follower) => follower.leader,
        }
    }

    /// Waits up to `wait` for the leader's outcome.
    pub(crate) async fn follow(self, wait: Duration) -> Followed {
        match self {
            Follower::Local(follower) => follower.follow(wait).await,
            Follower::Remote(follower) => follower.follow(wait).await,
        }
    }
}
