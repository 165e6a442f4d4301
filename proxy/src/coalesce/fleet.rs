//! Following a lookup another replica leads: this process's leader of the
//! RUC found its lease held, so it waits for that replica's outcome (woken
//! by its message, polling as a safeguard) and lands it for this process's
//! own followers. When that leader vanishes (killed, or cut off from
//! Redis), its lease lapses and the wait ends without an outcome: the
//! waiting replicas look up again, and one of them takes the lease over.

use std::sync::Arc;
use std::time::Duration;

use crate::subject::Subject;
use startup::TraceParent;
use tokio::time::Instant;

use super::lease::{self, Found};
use super::local::{Followed, LocalFlight};
use crate::fleet::keys::landed_channel;
use crate::fleet::Fleet;

/// How often a replica waiting for another's lookup checks its outcome,
/// besides being woken by the leader's message.
const POLL: Duration = Duration::from_millis(250);

/// This process's leader of a RUC, waiting for another replica's lookup.
pub(crate) struct RemoteFollower {
    pub(crate) local: LocalFlight,
    pub(crate) subject: Subject,
    /// The trace of the other replica's request, if it is exported.
    pub(crate) leader: Option<TraceParent>,
    pub(crate) fleet: Arc<Fleet>,
}

impl RemoteFollower {
    /// Waits up to `wait` for the other replica's outcome.
    pub(crate) async fn follow(self, wait: Duration) -> Followed {
        let RemoteFollower {
            mut local,
            subject,
            fleet,
            ..
        } = self;
        let deadline = Instant::now() + wait;
        let watch = fleet.wakeups.watch(&landed_channel(&subject)).await;
        match watch.until(deadline, POLL, || lease::outcome(&fleet, &subject)).await {
            Some(Found::Landed(answer)) => {
                let answer = Arc::new(answer);
                local.land(answer.clone());
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
