//! Records in Redis: `sunat:ruc:<ruc>` holds exactly the JSON body, with the
//! cache TTL, so `redis-cli GET` shows the record and `TTL` the time left.
//!
//! Redis must never make a lookup slow or fail: every call is bounded by
//! `REDIS_TIMEOUT_MS`, errors count as misses (fail-open), and while the
//! health check finds Redis down the request path skips it altogether.
//! The connection is opened lazily and re-opened by the connection manager,
//! so the proxy starts without Redis and caching resumes when it is back.
//! Reads go through the [`L1`] first, a copy that is at most a second old.
//! SUNAT's "no such RUC" answers are kept apart, for `NEGATIVE_TTL_SECONDS`,
//! and read only when there is no record, so they never shadow one.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use bytes::Bytes;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ruc_contract::Ruc;
use tracing::{debug, info, warn};

use super::key::{not_found_key, redis_key};
use super::l1::L1;
use crate::metrics::Metrics;

/// A record found in Redis.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cached {
    pub body: Bytes,
    /// Time left before the key expires.
    pub ttl_left: Duration,
}

/// The result of a read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Hit(Cached),
    /// No record, but SUNAT recently said it has no such RUC: its 404 body.
    NotFound(Cached),
    Miss,
    /// Redis is down or did not answer in time: treat as a miss.
    Unavailable,
}

pub struct Store {
    client: redis::Client,
    connection: OnceLock<ConnectionManager>,
    timeout: Duration,
    ttl: Duration,
    /// Zero: "not found" answers are not kept.
    not_found_ttl: Duration,
    /// Last health-check result; optimistic at start.
    up: AtomicBool,
    l1: Option<L1>,
}

impl Store {
    pub fn new(
        redis_url: &str,
        timeout: Duration,
        ttl: Duration,
        not_found_ttl: Duration,
        l1: Option<L1>,
    ) -> redis::RedisResult<Store> {
        Ok(Store {
            client: redis::Client::open(redis_url)?,
            connection: OnceLock::new(),
            timeout,
            ttl,
            not_found_ttl,
            up: AtomicBool::new(true),
            l1,
        })
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn not_found_ttl(&self) -> Duration {
        self.not_found_ttl
    }

    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// From the L1, or `GET` and `PTTL` in one round trip; without a record,
    /// a second one for a remembered "not found".
    pub async fn get(&self, ruc: &Ruc) -> Lookup {
        if let Some(cached) = self.l1.as_ref().and_then(|l1| l1.get(ruc)) {
            Metrics::get().l1_hits.inc();
            return Lookup::Hit(cached);
        }
        if !self.is_up() {
            return Lookup::Unavailable;
        }
        let read_started = Instant::now();
        match self.read(redis_key(ruc), self.ttl).await {
            Some(Some(cached)) => {
                if let Some(l1) = &self.l1 {
                    l1.fill(ruc, &cached, read_started);
                }
                Lookup::Hit(cached)
            }
            Some(None) if self.not_found_ttl.is_zero() => Lookup::Miss,
            Some(None) => match self.read(not_found_key(ruc), self.not_found_ttl).await {
                Some(Some(cached)) => Lookup::NotFound(cached),
                Some(None) => Lookup::Miss,
                None => Lookup::Unavailable,
            },
            None => Lookup::Unavailable,
        }
    }

    /// `GET` and `PTTL` of one key; `None` when Redis failed.
    async fn read(&self, key: String, ttl: Duration) -> Option<Option<Cached>> {
        let (body, pttl) = self
            .bounded(|mut connection| async move {
                redis::pipe()
                    .get(&key)
                    .pttl(&key)
                    .query_async::<(Option<Vec<u8>>, i64)>(&mut connection)
                    .await
            })
            .await?;
        Some(body.map(|body| Cached {
            body: Bytes::from(body),
            ttl_left: ttl_left(pttl, ttl),
        }))
    }

    /// Stores a record; false when Redis is down or did not answer.
    pub async fn put(&self, ruc: &Ruc, body: Bytes) -> bool {
        self.set(redis_key(ruc), body, self.ttl).await
    }

    /// Remembers SUNAT's "no such RUC" answer (when that is turned on).
    pub async fn put_not_found(&self, ruc: &Ruc, body: Bytes) -> bool {
        !self.not_found_ttl.is_zero() && self.set(not_found_key(ruc), body, self.not_found_ttl).await
    }

    /// `SET key body EX ttl`.
    async fn set(&self, key: String, body: Bytes, ttl: Duration) -> bool {
        if !self.is_up() {
            return false;
        }
        let ttl = ttl.as_secs();
        self.bounded(|mut connection| async move {
            redis::cmd("SET")
                .arg(&key)
                .arg(body.as_ref())
                .arg("EX")
                .arg(ttl)
                .query_async::<()>(&mut connection)
                .await
        })
        .await
        .is_some()
    }

    /// `PING`, recording whether Redis is up; logs when that changes.
    pub async fn check_health(&self) -> bool {
        let up = self
            .bounded(|mut connection| async move { redis::cmd("PING").query_async::<String>(&mut connection).await })
            .await
            .is_some();
        let was_up = self.up.swap(up, Ordering::SeqCst);
        Metrics::get().redis_up.set(i64::from(up));
        match (was_up, up) {
            (true, false) => warn!("Redis is down: lookups go to the scraper uncached"),
            (false, true) => info!("Redis is back: caching resumes"),
            _ => {}
        }
        up
    }

    /// Runs one Redis call within the timeout; `None` (and a counted error)
    /// when it fails or runs out of time.
    async fn bounded<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        let outcome = match self.connection() {
            Ok(connection) => tokio::time::timeout(self.timeout, call(connection)).await,
            Err(e) => Ok(Err(e)),
        };
        match outcome {
            Ok(Ok(value)) => Some(value),
            Ok(Err(error)) => {
                Metrics::get().redis_errors.inc();
                debug!(%error, "Redis call failed");
                None
            }
            Err(_) => {
                Metrics::get().redis_errors.inc();
                debug!(timeout = ?self.timeout, "Redis call timed out");
                None
            }
        }
    }

    /// The shared connection, created on first use inside the runtime. It
    /// connects lazily and reconnects by itself.
    fn connection(&self) -> redis::RedisResult<ConnectionManager> {
        if let Some(connection) = self.connection.get() {
            return Ok(connection.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1));
        let connection = ConnectionManager::new_lazy_with_config(self.client.clone(), config)?;
        Ok(self.connection.get_or_init(|| connection).clone())
    }
}

/// The time left from a `PTTL` reply. A key without expiry (-1, e.g. set
/// by hand) counts as just stored, with the full `ttl`.
fn ttl_left(pttl: i64, ttl: Duration) -> Duration {
    match pttl {
        -1 => ttl,
        pttl => Duration::from_millis(pttl.max(0) as u64),
    }
}
