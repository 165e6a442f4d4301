//! Coalescing within this process: the first miss of a RUC leads a
//! *flight*; the misses that arrive while it is in flight follow it and
//! get its outcome, whatever it is. A leader that vanishes without one (the
//! process is stopping, or the replica it waited for vanished) *abandons*
//! its flight: its followers start over, and one of them leads.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::subject::Subject;
use startup::TraceParent;
use tokio::sync::watch;

use crate::metrics::Metrics;
use crate::scrapers::answer::Answer;

/// The flights of this process, by RUC.
pub(crate) struct LocalFlights {
    table: Mutex<HashMap<Subject, InFlight>>,
    metrics: &'static Metrics,
}

/// A flight as the misses that join it find it.
struct InFlight {
    receiver: watch::Receiver<State>,
    /// The leader's trace, which its followers' spans link to.
    leader: Option<TraceParent>,
}

/// This process's part in the lookup of a RUC.
pub(crate) enum LocalRole {
    Leader(LocalFlight),
    Follower(LocalFollower),
}

/// The leader's side of a flight: lands the outcome for the followers;
/// dropped, it leaves the table (and abandons the flight if it never
/// landed).
pub(crate) struct LocalFlight {
    subject: Subject,
    flights: Arc<LocalFlights>,
    sender: watch::Sender<State>,
    landed: bool,
}

/// A follower of a flight of this process.
pub(crate) struct LocalFollower {
    receiver: watch::Receiver<State>,
    /// The leader's trace, if it is exported.
    pub(crate) leader: Option<TraceParent>,
}

/// What a follower got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Followed {
    /// The lookup's outcome.
    Answer(Arc<Answer>),
    /// The leader vanished: look up again.
    Abandoned,
    /// The leader took longer than the wait: should not happen, since the
    /// wait outlasts the leader's queue wait and upstream timeout.
    TimedOut,
}

/// Where a flight is, as its followers see it.
#[derive(Debug, Clone)]
enum State {
    Running,
    Done(Arc<Answer>),
    Abandoned,
}

impl LocalFlights {
    pub(crate) fn new(metrics: &'static Metrics) -> LocalFlights {
        LocalFlights {
            table: Mutex::default(),
            metrics,
        }
    }

    /// Leads the lookup of `subject` in this process, under the trace
    /// `trace`, or follows the one in flight.
    pub(crate) fn join(self: &Arc<Self>, subject: &Subject, trace: Option<TraceParent>) -> LocalRole {
        let mut table = self.table.lock().expect("flights lock");
        if let Some(in_flight) = table.get(subject) {
            return LocalRole::Follower(LocalFollower {
                receiver: in_flight.receiver.clone(),
                leader: in_flight.leader,
            });
        }
        let (sender, receiver) = watch::channel(State::Running);
        table.insert(
            *subject,
            InFlight {
                receiver,
                leader: trace,
            },
        );
        self.metrics.in_flight.set(table.len() as i64);
        drop(table);
        LocalRole::Leader(LocalFlight {
            subject: *subject,
            flights: self.clone(),
            sender,
            landed: false,
        })
    }
}

impl LocalFlight {
    /// Hands the outcome to this process's followers, present and future,
    /// until the flight is dropped.
    pub(crate) fn land(&mut self, answer: Arc<Answer>) {
        self.sender.send_replace(State::Done(answer));
        self.landed = true;
    }
}

impl Drop for LocalFlight {
    fn drop(&mut self) {
        let mut table = self.flights.table.lock().expect("flights lock");
        let ours = table
            .get(&self.subject)
            .is_some_and(|in_flight| in_flight.receiver.same_channel(&self.sender.subscribe()));
        if ours {
            table.remove(&self.subject);
        }
        self.flights.metrics.in_flight.set(table.len() as i64);
        drop(table);
        if !self.landed {
            self.sender.send_replace(State::Abandoned);
        }
    }
}

impl LocalFollower {
    /// Waits up to `wait` for the leader's outcome.
    pub(crate) async fn follow(self, wait: Duration) -> Followed {
        let mut receiver = self.receiver;
        let settled = async {
            match receiver.wait_for(|state| !matches!(state, State::Running)).await {
                Ok(state) => match &*state {
                    State::Done(answer) => Followed::Answer(answer.clone()),
                    _ => Followed::Abandoned,
                },
                // The sender is gone without a word: same as abandoned.
                Err(_) => Followed::Abandoned,
            }
        };
        tokio::time::timeout(wait, settled).await.unwrap_or(Followed::TimedOut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    const RUC: &str = "20131312955";

    fn answer(status: u16) -> Arc<Answer> {
        Arc::new(Answer {
            status,
            headers: Vec::new(),
            body: Bytes::from_static(b"{}"),
        })
    }

    fn subject(text: &str) -> Subject {
        Subject::record(ruc_contract::Ruc::parse(text).unwrap())
    }

    fn flights() -> Arc<LocalFlights> {
        Arc::new(LocalFlights::new(Metrics::get()))
    }

    fn leader(role: LocalRole) -> LocalFlight {
        match role {
            LocalRole::Leader(flight) => flight,
            LocalRole::Follower(_) => panic!("expected to lead"),
        }
    }

    fn follower(role: LocalRole) -> LocalFollower {
        match role {
            LocalRole::Follower(follower) => follower,
            LocalRole::Leader(_) => panic!("expected to follow"),
        }
    }

    #[tokio::test]
    async fn followers_get_the_leaders_outcome() {
        let flights = flights();
        let mut flight = leader(flights.join(&subject(RUC), None));
        let waiting = tokio::spawn(follower(flights.join(&subject(RUC), None)).follow(Duration::from_secs(5)));
        flight.land(answer(200));
        assert_eq!(waiting.await.unwrap(), Followed::Answer(answer(200)));
    }

    #[tokio::test]
    async fn followers_know_the_leaders_trace() {
        let flights = flights();
        let trace = TraceParent::parse(b"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        let _flight = leader(flights.join(&subject(RUC), trace));
        assert_eq!(follower(flights.join(&subject(RUC), None)).leader, trace);
    }

    #[tokio::test]
    async fn latecomers_get_the_outcome_until_the_flight_is_dropped() {
        let flights = flights();
        let mut flight = leader(flights.join(&subject(RUC), None));
        flight.land(answer(502));
        let late = follower(flights.join(&subject(RUC), None));
        assert_eq!(late.follow(Duration::from_secs(1)).await, Followed::Answer(answer(502)));
        drop(flight);
        assert!(
            matches!(flights.join(&subject(RUC), None), LocalRole::Leader(_)),
            "the next miss leads again"
        );
    }

    #[tokio::test]
    async fn a_vanished_leader_abandons_its_followers() {
        let flights = flights();
        let flight = leader(flights.join(&subject(RUC), None));
        let waiting = tokio::spawn(follower(flights.join(&subject(RUC), None)).follow(Duration::from_secs(5)));
        drop(flight);
        assert_eq!(waiting.await.unwrap(), Followed::Abandoned);
    }

    #[tokio::test]
    async fn different_rucs_fly_separately() {
        let flights = flights();
        let _a = leader(flights.join(&subject(RUC), None));
        let _b = leader(flights.join(&subject("20100070970"), None));
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_times_out() {
        let flights = flights();
        let _flight = leader(flights.join(&subject(RUC), None));
        let waiting = follower(flights.join(&subject(RUC), None));
        assert_eq!(waiting.follow(Duration::from_millis(10)).await, Followed::TimedOut);
    }
}
