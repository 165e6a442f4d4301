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
//! [`crate::fleet::coalesce`] adds a lease in Redis on top, so that the
//! replicas of a fleet coalesce too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{BufMut, Bytes, BytesMut};
use ruc_contract::Ruc;
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

    /// The answer as bytes for another replica: the status line, the
    /// headers as in HTTP/1.1, an empty line, the body.
    pub(crate) fn encode(&self) -> Bytes {
        let mut wire = BytesMut::with_capacity(self.body.len() + 64);
        wire.put_slice(format!("{}\r\n", self.status).as_bytes());
        for (name, value) in &self.headers {
            wire.put_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        wire.put_slice(b"\r\n");
        wire.put_slice(&self.body);
        wire.freeze()
    }

    /// An answer from [`Answer::encode`]; `None` when it is not one.
    pub(crate) fn decode(wire: &[u8]) -> Option<Answer> {
        let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&wire[..head_end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.parse().ok().filter(|s| (100..600).contains(s))?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(": ")?;
            let name = SHARED_HEADERS
                .into_iter()
                .find(|known| known.eq_ignore_ascii_case(name))?;
            headers.push((name, value.to_string()));
        }
        let body = Bytes::copy_from_slice(&wire[head_end + 4..]);
        Some(Answer { status, headers, body })
    }
}

/// Who leads the lookup of a RUC, and how the others wait for its answer.
#[async_trait]
pub(crate) trait Coalescing: Send + Sync {
    /// Joins the lookup of `ruc`: leads it, or follows the one in flight.
    async fn join(self: Arc<Self>, ruc: &Ruc) -> Role;
}

/// What a miss does.
pub(crate) enum Role {
    /// Go to the scraper, then [`Flight::land`].
    Leader(Box<dyn Flight>),
    /// Wait for the leader with [`Follower::follow`].
    Follower(Box<dyn Follower>),
}

/// The leader's side of a flight. Dropping it without landing abandons it.
#[async_trait]
pub(crate) trait Flight: Send + Sync {
    /// Hands the answer to every follower, present and future, until the
    /// flight is dropped (land after the record is stored, so that nobody
    /// misses both the flight and Redis in between).
    async fn land(&mut self, answer: Answer);

    /// Whether this flight coalesces within this process only, although it
    /// should have across the fleet (Redis could not be reached).
    fn fell_back(&self) -> bool {
        false
    }
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
    table: Mutex<HashMap<Ruc, watch::Receiver<State>>>,
    metrics: &'static Metrics,
}

/// The leader's side of a flight of this process.
pub(crate) struct LocalFlight {
    ruc: Ruc,
    flights: Arc<Flights>,
    sender: watch::Sender<State>,
    landed: bool,
}

/// A follower of a flight of this process.
pub(crate) struct LocalFollower(watch::Receiver<State>);

impl Flights {
    pub(crate) fn new(metrics: &'static Metrics) -> Flights {
        Flights {
            table: Mutex::default(),
            metrics,
        }
    }
}

/// This process's part in the lookup of a RUC.
pub(crate) enum LocalRole {
    Leader(LocalFlight),
    Follower(LocalFollower),
}

impl Flights {
    /// Leads the lookup of `ruc` in this process, or follows the one in
    /// flight.
    pub(crate) fn join_here(self: Arc<Self>, ruc: &Ruc) -> LocalRole {
        let mut table = self.table.lock().expect("flights lock");
        if let Some(receiver) = table.get(ruc) {
            return LocalRole::Follower(LocalFollower(receiver.clone()));
        }
        let (sender, receiver) = watch::channel(State::Running);
        table.insert(*ruc, receiver);
        self.metrics.in_flight.set(table.len() as i64);
        drop(table);
        LocalRole::Leader(LocalFlight {
            ruc: *ruc,
            flights: self,
            sender,
            landed: false,
        })
    }
}

#[async_trait]
impl Coalescing for Flights {
    async fn join(self: Arc<Self>, ruc: &Ruc) -> Role {
        match self.join_here(ruc) {
            LocalRole::Leader(flight) => Role::Leader(Box::new(flight)),
            LocalRole::Follower(follower) => Role::Follower(Box::new(follower)),
        }
    }
}

impl LocalFlight {
    /// Hands the answer to this process's followers.
    pub(crate) fn land_here(&mut self, answer: Arc<Answer>) {
        self.sender.send_replace(State::Done(answer));
        self.landed = true;
    }
}

#[async_trait]
impl Flight for LocalFlight {
    async fn land(&mut self, answer: Answer) {
        self.land_here(Arc::new(answer));
    }
}

impl Drop for LocalFlight {
    fn drop(&mut self) {
        let mut table = self.flights.table.lock().expect("flights lock");
        let ours = table
            .get(&self.ruc)
            .is_some_and(|r| r.same_channel(&self.sender.subscribe()));
        if ours {
            table.remove(&self.ruc);
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

    const RUC: &str = "20131312955";

    fn answer(status: u16) -> Answer {
        Answer::json(status, Bytes::from_static(b"{}"))
    }

    fn ruc(text: &str) -> Ruc {
        Ruc::parse(text).unwrap()
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
        let mut flight = leader(flights.clone().join(&ruc(RUC)).await);
        let waiting = follower(flights.join(&ruc(RUC)).await);
        let waiting = tokio::spawn(waiting.follow(Duration::from_secs(5)));
        flight.land(answer(200)).await;
        assert_eq!(waiting.await.unwrap(), Followed::Answer(Arc::new(answer(200))));
    }

    #[tokio::test]
    async fn latecomers_get_the_answer_until_the_flight_is_dropped() {
        let flights = flights();
        let mut flight = leader(flights.clone().join(&ruc(RUC)).await);
        flight.land(answer(502)).await;
        let late = follower(flights.clone().join(&ruc(RUC)).await);
        assert_eq!(
            late.follow(Duration::from_secs(1)).await,
            Followed::Answer(Arc::new(answer(502)))
        );
        drop(flight);
        assert!(
            matches!(flights.join(&ruc(RUC)).await, Role::Leader(_)),
            "the next miss leads again"
        );
    }

    #[tokio::test]
    async fn a_vanished_leader_abandons_its_followers() {
        let flights = flights();
        let flight = leader(flights.clone().join(&ruc(RUC)).await);
        let waiting = tokio::spawn(follower(flights.join(&ruc(RUC)).await).follow(Duration::from_secs(5)));
        drop(flight);
        assert_eq!(waiting.await.unwrap(), Followed::Abandoned);
    }

    #[tokio::test]
    async fn different_rucs_fly_separately() {
        let flights = flights();
        let _a = leader(flights.clone().join(&ruc(RUC)).await);
        let _b = leader(flights.join(&ruc("20100070970")).await);
    }

    #[test]
    fn an_answer_crosses_to_another_replica_unchanged() {
        let mut answer = answer(503);
        answer.headers.push(("Retry-After", "5".to_string()));
        answer.body = Bytes::from_static(b"{\"message\":\"x\r\n\r\ny\"}");
        assert_eq!(Answer::decode(&answer.encode()), Some(answer));
        assert_eq!(Answer::decode(b"200 OK\r\n\r\n{}"), None);
        assert_eq!(Answer::decode(b"200\r\nSet-Cookie: a\r\n\r\n{}"), None);
    }

    #[tokio::test]
    async fn a_wait_that_runs_out_times_out() {
        let flights = flights();
        let _flight = leader(flights.clone().join(&ruc(RUC)).await);
        let waiting = follower(flights.join(&ruc(RUC)).await);
        assert_eq!(waiting.follow(Duration::from_millis(10)).await, Followed::TimedOut);
    }
}
