//! Keeps the in-process copy ([`L1`]) coherent with Redis: one RESP3
//! connection per process asks Redis to track every record key
//! (`CLIENT TRACKING ON BCAST PREFIX sunat:ruc:`), and each invalidation
//! Redis pushes (a record purged, overwritten or expired, on any replica)
//! removes that record from the copy. While the connection is up, the L1
//! may keep entries until they are invalidated; when it drops, stops
//! answering `PING`, or Sentinel names another master, the copy is dropped
//! whole and entries live `L1_TTL_MS` at most again until tracking is back.
//! In a Cluster (each master tracks only its own keys) nothing is tracked.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use redis::aio::MultiplexedConnection;
use redis::{PushInfo, PushKind, Value};
use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tracing::{info, warn};

use super::key::{subject_of_key, RECORD_PREFIX};
use super::l1::L1;
use crate::metrics::Metrics;
use crate::redis_conn::RedisConn;

/// How often the tracking connection is checked (`PING`, the master).
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The pause before tracking is tried again after it stopped.
const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The connection's name in `CLIENT LIST`, for operators.
const CONNECTION_NAME: &str = "ruc-proxy-l1-tracking";

/// The background service that listens to Redis's invalidations.
pub(crate) struct Tracking {
    pub(crate) redis: Arc<RedisConn>,
    pub(crate) l1: Arc<L1>,
    pub(crate) metrics: &'static Metrics,
}

#[async_trait]
impl BackgroundService for Tracking {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        if self.redis.mode() == "cluster" {
            info!("Redis Cluster: the in-process copy is not tracked; entries live L1_TTL_MS at most");
            return;
        }
        let mut last_why = String::new();
        loop {
            let why = tokio::select! {
                _ = shutdown.changed() => return,
                why = self.track() => why,
            };
            if self.l1.is_tracked() {
                warn!(%why, "Redis no longer tracks the in-process copy: entries live L1_TTL_MS at most, older ones only serve while Redis cannot be read");
                self.l1.tracking_lost();
                self.metrics.l1_tracked.set(0);
                self.metrics.l1_tracking_losses.inc();
            } else if why != last_why {
                // Said once per reason, not every second (e.g. an ACL that
                // forbids CLIENT TRACKING, or Redis down at start).
                info!(%why, "Redis does not track the in-process copy yet; entries live L1_TTL_MS at most");
            }
            last_why = why;
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = tokio::time::sleep(RETRY_AFTER) => {}
            }
        }
    }
}

impl Tracking {
    /// Tracks until the connection fails; returns why it stopped.
    async fn track(&self) -> String {
        let (pushes, mut received) = unbounded_channel();
        let master = self.redis.address();
        let mut connection = match self.redis.tracking_connection(pushes).await {
            Some(Ok(connection)) => connection,
            Some(Err(error)) => return format!("cannot connect: {error}"),
            None => return "no tracking in this deployment".into(),
        };
        let turned_on = redis::pipe()
            .cmd("CLIENT")
            .arg(&["SETNAME", CONNECTION_NAME])
            .cmd("CLIENT")
            .arg(&["TRACKING", "ON", "BCAST", "PREFIX", RECORD_PREFIX])
            .query_async::<()>(&mut connection)
            .await;
        if let Err(error) = turned_on {
            return format!("CLIENT TRACKING refused: {error}");
        }
        self.l1.tracking_started();
        self.metrics.l1_tracked.set(1);
        info!("Redis tracks the in-process copy: entries live until invalidated");
        self.listen(&mut connection, &mut received, &master).await
    }

    /// Applies invalidations and checks the connection until it fails.
    async fn listen(
        &self,
        connection: &mut MultiplexedConnection,
        received: &mut UnboundedReceiver<PushInfo>,
        master: &str,
    ) -> String {
        let mut check = tokio::time::interval(CHECK_EVERY);
        loop {
            tokio::select! {
                push = received.recv() => match push {
                    Some(push) if push.kind == PushKind::Disconnection => return "connection lost".into(),
                    Some(push) => self.apply(push),
                    None => return "connection closed".into(),
                },
                _ = check.tick() => {
                    if self.redis.address() != master {
                        return "Sentinel names another master".into();
                    }
                    if let Err(error) = redis::cmd("PING").query_async::<()>(connection).await {
                        return format!("PING failed: {error}");
                    }
                }
            }
        }
    }

    /// `invalidate` with the keys that changed, or with nil when every key
    /// did (`FLUSHALL`).
    fn apply(&self, push: PushInfo) {
        if push.kind != PushKind::Invalidate {
            return;
        }
        self.metrics.l1_invalidations.inc();
        match push.data.first() {
            Some(Value::Array(keys)) => {
                for key in keys {
                    if let Some(subject) = bulk(key).and_then(subject_of_key) {
                        self.l1.invalidate(&subject);
                    }
                }
            }
            _ => self.l1.invalidate_all(),
        }
    }
}

fn bulk(value: &Value) -> Option<&[u8]> {
    match value {
        Value::BulkString(bytes) => Some(bytes),
        _ => None,
    }
}
