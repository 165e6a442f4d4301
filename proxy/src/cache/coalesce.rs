//! One scraper lookup per RUC at a time. The first miss for a RUC becomes
//! the leader of a *flight* and goes to the scraper; misses for the same RUC
//! that arrive while it is in flight follow it and get its answer, whatever
//! it is. A failed lookup therefore costs SUNAT one visit too: the followers
//! receive the same error, and only a later request tries again.
//!
//! A flight whose leader vanishes without an answer (its client hung up and
//! the proxy dropped the upstream request) is *abandoned*: its followers
//! start over, and one of them becomes the new leader.
//!
//! [`Coalescing`] is the seam: [`Flights`] coalesces within this process;
//! an implementation shared through Redis can stand beside it, chosen at
//! start-up, and the lookup lifecycle does not change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use tokio::sync::watch;

use crate::metrics::Metrics;

/// The leader's answer, as its client received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The headers that matter to a client: see [`SHARED_HEADERS`].
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

/// Headers of the scraper's answer that followers receive as well.
const SHARED_HEADERS: [&str; 2] = ["Content-Type", "Retry-After"];

/// The [`SHARED_HEADERS`] of a scraper answer, however it was received.
pub(crate) fn shared_headers(headers: &http::HeaderMap) -> Vec<(&'static str, String)> {
    SHARED_HEADERS
        .iter()
        .filter_map(|&name| Some((name, headers.get(name)?.to_str().ok()?.to_string())))
        .collect()
}

impl Answer {
    /// A JSON answer the proxy made itself (an upstream failure).
    pub(crate) fn json(status: u16, body: Bytes) -> Answer {
        Answer {
            status,
            headers: vec![("Content-Type", "application/json".to_string())],
            body,
        }
    }
}

/// Who leads the lookup of a RUC, and how the others wait for its answer.
pub(crate) trait Coalescing: Send + Sync {
    /// Joins the lookup of `key`: leads it, or follows the one in flight.
    fn join(self: Arc<Self>, key: &str) -> Role;
}

/// What a miss does.
pub(crate) enum Role {
    /// Go to the scraper, then [`Flight::land`].
    Leader(Box<dyn Flight>),
    /// Wait for the leader with [`Follower::follow`].
    Follower(Box<dyn Follower>),
}

/// The leader's side of a flight. Dropping it without landing abandons it.
pub(crate) trait Flight: Send + Sync {
    /// Hands the answer to every follower, present and future, until the
    /// flight is dropped (keep it while the record is being stored, so that
    /// nobody misses both the flight and Redis in between).
    fn land(&mut self, answer: Answer);
}

/// A follower's side of a flight.
#[async_trait]
pub(crate) trait Follower: Send + Sync {
    /// Waits up to `wait` for the leader's answer.
    async fn follow(self: Box<Self>, wait: Duration) -> Followed;
}

/// What a follower got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Followed {
    Answer(Arc<Answer>),
    /// The leader vanished: look up again.
    Abandoned,
    /// The leader took longer than the wait: should not happen, since the
    /// wait outlasts the upstream timeout.
    TimedOut,
}

/// Where a flight is, as its followers see it.
#[derive(Debug, Clone)]
enum State {
    Running,
    Done(Arc<Answer>),
    Abandoned,
}

/// The flights of this process, by RUC.
pub(crate) struct Flights {
    table: Mutex<HashMap<String, watch::Receiver<State>>>,
    metrics: &'static Metrics,
}

/// The leader's side of a flight of this process.
struct LocalFlight {
    key: String,
    flights: Arc<Flights>,
    sender: watch::Sender<State>,
    landed: bool,
}

/// A follower of a flight of this process.
struct LocalFollower(watch::Receiver<State>);

impl Flights {
    pub(crate) fn new(metrics: &'static Metrics) -> Flights {
        Flights {
            table: Mutex::default(),
            metrics,
        }
    }
}

impl Coalescing for Flights {
    fn join(self: Arc<Self>, key: &str) -> Role {
        let mut table = self.table.lock().expect("flights lock");
        if let Some(receiver) = table.get(key) {
            return Role::Follower(Box::new(LocalFollower(receiver.clone())));
        }
        let (sender, receiver) = watch::channel(State::Running);
        table.insert(key.to_string(), receiver);
        self.metrics.in_flight.set(table.len() as i64);
        drop(table);
        Role::Leader(Box::new(LocalFlight {
            key: key.to_string(),
            flights: self,
            sender,
            landed: false,
        }))
    }
}

impl Flight for LocalFlight {
    fn land(&mut self, answer: Answer) {
        self.sender.send_replace(State::Done(Arc::new(answer)));
        self.landed = true;
    }
}

impl Drop for LocalFlight {
    fn drop(&mut self) {
        let mut table = self.flights.table.lock().expect("flights lock");
        let ours = table
            .get(&self.key)
            .is_some_and(|r| r.same_channel(&self.sender.subscribe()));
        if ours {
            table.remove(&self.key);
        }
        self.flights.metrics.in_flight.set(table.len() as i64);
        drop(table);
        if !self.landed {
            self.sender.send_replace(State::Abandoned);
        }
    }
}

#[async_trait]
impl Follower for LocalFollower {
    async fn follow(self: Box<Self>, wait: Duration) -> Followed {
        let LocalFollower(mut receiver) = *self;
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

    fn answer(status: u16) -> Answer {
        Answer::json(status, Bytes::from_static(b"{}"))
    }

    fn flights() -> Arc<Flights> {
        Arc::new(Flights::new(Metrics::get()))
    }

    fn leader(role: Role) -> Box<dyn Flight> {
        match role {
            Role::Leader(flight) => flight,
            Role::Follower(_) => panic!("expected to lead"),
        }
    }

    fn follower(role: Role) -> Box<dyn Follower> {
        match role {
            Role::Follower(follower) => follower,
            Role::Leader(_) => panic!("expected to follow"),
        }
    }

    #[tokio::test]
    async fn followers_get_the_leaders_answer() {
        let flights = flights();
        let mut flight = leader(flights.clone().join("20131312955"));
        let waiting = follower(flights.join("20131312955"));
        let waiting = tokio::spawn(waiting.follow(Duration::from_secs(5)));
        flight.land(answer(200));
        assert_eq!(waiting.await.unwrap(), Followed::Answer(Arc::new(answer(200))));
    }

    #[tokio::test]
    async fn latecomers_get_the_answer_until_the_flight_is_dropped() {
        let flights = flights();
        let mut flight = leader(flights.clone().join("20131312955"));
        flight.land(answer(502));
        let late = follower(flights.clone().join("20131312955"));
        assert_eq!(
            late.follow(Duration::from_secs(1)).await,
            Followed::Answer(Arc::new(answer(502)))
        );
        drop(flight);
        assert!(
            matches!(flights.join("20131312955"), Role::Leader(_)),
            "the next miss leads again"
        );
    }

    #[tokio::test]
    async fn a_vanished_leader_abandons_its_followers() {
        let flights = flights();
        let flight = leader(flights.clone().join("20131312955"));
        let waiting = tokio::spawn(follower(flights.join("20131312955")).follow(Duration::from_secs(5)));
        drop(flight);
        assert_eq!(waiting.await.unwrap(), Followed::Abandoned);
    }

    #[tokio::test]
    async fn different_rucs_fly_separately() {
        let flights = flights();
        let _a = leader(flights.clone().join("20131312955"));
        let _b = leader(flights.join("20100070970"));
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_times_out() {
        let flights = flights();
        let _flight = leader(flights.clone().join("20131312955"));
        let waiting = follower(flights.join("20131312955"));
        assert_eq!(waiting.follow(Duration::from_millis(10)).await, Followed::TimedOut);
    }
}
