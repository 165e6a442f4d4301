//! The proxy's one way to Redis, shared by the cache ([`crate::cache`]) and
//! the fleet's coordination ([`crate::fleet`]), whatever the deployment
//! ([`deployment`]: one server, TLS, Cluster, Sentinel).
//!
//! Redis must never make a lookup slow or fail: every call is bounded by
//! `REDIS_TIMEOUT_MS`, an error or timeout is counted and reported as
//! `None` (callers fail open), and while the health check finds Redis down
//! callers skip it altogether instead of waiting out a timeout each. The
//! connection is opened lazily and re-opened by itself, so the proxy starts
//! without Redis and uses it as soon as it is there. With Sentinel, the
//! health check also asks the sentinels where the master is, and moves the
//! connections there after a failover; a `READONLY` answer or a lost
//! connection runs it at once rather than at the next second.

pub(crate) mod deployment;
pub(crate) mod sentinel;
pub(crate) mod settings;

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use arc_swap::{ArcSwap, ArcSwapOption};
use redis::aio::MultiplexedConnection;
use redis::PushInfo;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Notify;
use tracing::{debug, info, warn};

use crate::metrics::Metrics;
use deployment::{Connection, Deployment, PushHandler, Subscriber};

/// Lazily made, self-healing connections to Redis, bounded calls, and the
/// last known health.
pub(crate) struct RedisConn {
    /// Replaced when Sentinel names another master.
    deployment: ArcSwap<Deployment>,
    connection: ArcSwapOption<Connection>,
    subscriber: ArcSwapOption<Subscriber>,
    /// Where the subscriber's messages go ([`crate::fleet::wakeups`]).
    push_handler: OnceLock<PushHandler>,
    timeout: Duration,
    /// Last health-check result; optimistic at start.
    up: AtomicBool,
    /// Wakes the health check early (Sentinel: the master may have moved).
    check_now: Notify,
    metrics: &'static Metrics,
}

impl RedisConn {
    pub(crate) fn new(deployment: Deployment, timeout: Duration, metrics: &'static Metrics) -> RedisConn {
        RedisConn {
            deployment: ArcSwap::from_pointee(deployment),
            connection: ArcSwapOption::empty(),
            subscriber: ArcSwapOption::empty(),
            push_handler: OnceLock::new(),
            timeout,
            up: AtomicBool::new(true),
            check_now: Notify::new(),
            metrics,
        }
    }

    /// Where Redis is (never the password), for logs.
    pub(crate) fn address(&self) -> String {
        self.deployment.load().address()
    }

    /// How Redis is reached, for `/health`: `single`, `tls`, `cluster`,
    /// `sentinel`.
    pub(crate) fn mode(&self) -> &'static str {
        self.deployment.load().mode()
    }

    /// `PUBLISH`, or in a cluster `SPUBLISH` (the channel's shard).
    pub(crate) fn publish_command(&self) -> &'static str {
        self.deployment.load().publish_command()
    }

    /// A RESP3 connection of its own for `CLIENT TRACKING`, to the current
    /// master; `None` in a cluster (see [`Deployment::tracking_connection`]).
    pub(crate) async fn tracking_connection(
        &self,
        pushes: UnboundedSender<PushInfo>,
    ) -> Option<redis::RedisResult<MultiplexedConnection>> {
        let deployment = self.deployment.load_full();
        deployment.tracking_connection(self.timeout, pushes).await
    }

    /// Whether the last health check reached Redis.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// Where the messages of subscribed channels go; set once, before the
    /// first subscription.
    pub(crate) fn set_push_handler(&self, handler: PushHandler) {
        let _ = self.push_handler.set(handler);
    }

    /// `PING` (after asking Sentinel where the master is), recording
    /// whether Redis is up; logs when that changes.
    pub(crate) async fn check_health(&self) -> bool {
        self.follow_sentinel().await;
        let up = self
            .bounded(|mut connection| async move { connection.ping().await })
            .await
            .is_some();
        let was_up = self.up.swap(up, Ordering::SeqCst);
        self.metrics.redis_up.set(i64::from(up));
        match (was_up, up) {
            (true, false) => warn!("Redis is down: records held in memory are served, other lookups go to the scraper, held until Redis is back, coordinated per process"),
            (false, true) => info!("Redis is back: caching and fleet-wide coordination resume"),
            _ => {}
        }
        up
    }

    /// With Sentinel: moves to the master the sentinels name, if it moved.
    async fn follow_sentinel(&self) {
        let Deployment::Sentinel(master, sentinels) = &**self.deployment.load() else {
            return;
        };
        let Some(moved) = sentinels.master_if_moved(master).await else {
            return;
        };
        match moved {
            Ok(client) => {
                let deployment = Deployment::Sentinel(client, sentinels.clone());
                info!(master = %deployment.address(), "Sentinel names a new master: reconnecting");
                self.deployment.store(Arc::new(deployment));
                self.connection.store(None);
                self.subscriber.store(None);
            }
            Err(error) => warn!(%error, "the master Sentinel names cannot be used"),
        }
    }

    /// Runs one call within the timeout, unless Redis is known to be down;
    /// `None` (and a counted error) when it fails or runs out of time.
    pub(crate) async fn call<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            return None;
        }
        self.run(call, true).await
    }

    /// Runs one call within the timeout, whatever the last health check
    /// said (the health check itself, and operators' commands).
    pub(crate) async fn bounded<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        self.run(call, false).await
    }

    /// One bounded call; a failure counted and logged, and with `wake`, a
    /// failure that says the master moved wakes the health check.
    async fn run<T, F, Fut>(&self, call: F, wake: bool) -> Option<T>
    where
        F: FnOnce(Connection) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let outcome = match self.connection() {
            Ok(connection) => tokio::time::timeout(self.timeout, call(connection)).await,
            Err(e) => Ok(Err(e)),
        };
        match outcome {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                self.metrics.redis_errors.inc();
                debug!(%error, "Redis call failed");
                if wake && self.master_may_have_moved(&error) {
                    self.check_now.notify_one();
                }
                None
            }
            Err(_) => {
                self.metrics.redis_errors.inc();
                debug!(timeout = ?self.timeout, "Redis call timed out");
                None
            }
        }
    }

    /// Waits until a call's error suggests checking at once.
    pub(crate) async fn check_requested(&self) {
        self.check_now.notified().await;
    }

    /// With Sentinel, whether `error` says the master is no longer where the
    /// connection points: a demoted master refuses writes, a dead one the
    /// connection.
    fn master_may_have_moved(&self, error: &redis::RedisError) -> bool {
        let moved = error.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::ReadOnly)
            || error.is_connection_dropped()
            || error.is_connection_refusal();
        moved && matches!(**self.deployment.load(), Deployment::Sentinel(..))
    }

    /// `SUBSCRIBE` (or `UNSUBSCRIBE`) on the subscribing connection,
    /// bounded; false when it failed.
    pub(crate) async fn subscription(&self, channel: &str, subscribe: bool) -> bool {
        let Some(mut subscriber) = self.subscriber() else {
            return false;
        };
        match tokio::time::timeout(self.timeout, subscriber.subscription(channel, subscribe)).await {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                debug!(%error, channel, subscribe, "pub/sub call failed");
                false
            }
            Err(_) => {
                debug!(channel, subscribe, "pub/sub call timed out");
                false
            }
        }
    }

    /// The command connection, made on first use (inside the runtime).
    fn connection(&self) -> redis::RedisResult<Connection> {
        if let Some(connection) = &*self.connection.load() {
            return Ok(Connection::clone(connection));
        }
        let connection = self.deployment.load().connect(self.timeout)?;
        self.connection.store(Some(Arc::new(connection.clone())));
        Ok(connection)
    }

    /// The subscribing connection, made on first use.
    fn subscriber(&self) -> Option<Subscriber> {
        if let Some(subscriber) = &*self.subscriber.load() {
            return Some(Subscriber::clone(subscriber));
        }
        let handler = self.push_handler.get()?.clone();
        match self.deployment.load().subscriber(self.timeout, handler) {
            Ok(subscriber) => {
                self.subscriber.store(Some(Arc::new(subscriber.clone())));
                Some(subscriber)
            }
            Err(error) => {
                debug!(%error, "no pub/sub connection");
                None
            }
        }
    }
}
