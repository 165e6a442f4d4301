//! Coalescing across the fleet. Within a process, misses of a RUC still
//! follow its local flight ([`Flights`]); the local leader then takes the
//! RUC's [`lease`](super::lease). Holding it, it leads the lookup for the
//! whole fleet. Finding it held, it waits for the other replica's outcome
//! instead, and hands that to its own followers. When that leader vanishes
//! (killed, or cut off from Redis), its lease lapses and the waiting
//! replicas look up again: one of them takes the lease over.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ruc_contract::Ruc;
use tokio::time::Instant;

use super::lease::{Found, Lease, Taken};
use super::Fleet;
use crate::cache::coalesce::{Answer, Coalescing, Flight, Flights, Followed, Follower, LocalFlight, LocalRole, Role};
use crate::cache::key::landed_channel;

/// How often a replica waiting for another's lookup checks its outcome,
/// besides being woken by the leader's message.
const POLL: Duration = Duration::from_millis(250);

/// This process's flights, coordinated with the fleet's through leases.
pub(crate) struct FleetFlights {
    local: Arc<Flights>,
    fleet: Arc<Fleet>,
}

/// A lookup this replica leads for the fleet (or, Redis unreachable, for
/// itself: `lease` is `None`).
struct FleetFlight {
    local: LocalFlight,
    lease: Option<Lease>,
}

/// This process's leader of a RUC, waiting for another replica's lookup.
struct RemoteFollower {
    local: LocalFlight,
    ruc: Ruc,
    fleet: Arc<Fleet>,
}

impl FleetFlights {
    pub(crate) fn new(local: Arc<Flights>, fleet: Arc<Fleet>) -> FleetFlights {
        FleetFlights { local, fleet }
    }
}

#[async_trait]
impl Coalescing for FleetFlights {
    async fn join(self: Arc<Self>, ruc: &Ruc) -> Role {
        let local = match self.local.clone().join_here(ruc) {
            LocalRole::Follower(follower) => return Role::Follower(Box::new(follower)),
            LocalRole::Leader(flight) => flight,
        };
        let lease = match self.fleet.take_lease(ruc).await {
            Some(Taken::Here(lease)) => {
                self.fleet.coordinated();
                Some(lease)
            }
            Some(Taken::Elsewhere) => {
                self.fleet.coordinated();
                self.fleet.metrics.fleet_followed.inc();
                let fleet = self.fleet.clone();
                return Role::Follower(Box::new(RemoteFollower {
                    local,
                    ruc: *ruc,
                    fleet,
                }));
            }
            None => {
                self.fleet.fell_back("coalescing");
                None
            }
        };
        Role::Leader(Box::new(FleetFlight { local, lease }))
    }
}

#[async_trait]
impl Flight for FleetFlight {
    async fn land(&mut self, answer: Answer) {
        let answer = Arc::new(answer);
        self.local.land_here(answer.clone());
        if let Some(lease) = self.lease.take() {
            lease.land(&answer).await;
        }
    }

    fn fell_back(&self) -> bool {
        self.lease.is_none()
    }
}

#[async_trait]
impl Follower for RemoteFollower {
    async fn follow(self: Box<Self>, wait: Duration) -> Followed {
        let RemoteFollower { mut local, ruc, fleet } = *self;
        let deadline = Instant::now() + wait;
        let watch = fleet.wakeups.watch(&landed_channel(&ruc)).await;
        match watch.until(deadline, POLL, || fleet.outcome(&ruc)).await {
            Some(Found::Landed(answer)) => {
                let answer = Arc::new(answer);
                local.land_here(answer.clone());
                Followed::Answer(answer)
            }
            // Dropping the local flight unlanded sends this process's
            // followers back too: one of them leads, or follows the new
            // leader elsewhere.
            Some(Found::Vanished) => {
                fleet.metrics.fleet_takeovers.inc();
                Followed::Abandoned
            }
            Some(Found::Unreachable) => {
                fleet.fell_back("coalescing");
                Followed::Abandoned
            }
            None => Followed::TimedOut,
        }
    }
}
