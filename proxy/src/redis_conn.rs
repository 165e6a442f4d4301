//! The proxy's one way to Redis, shared by the cache ([`crate::cache`]) and
//! the fleet's coordination ([`crate::fleet`]).
//!
//! Redis must never make a lookup slow or fail: every call is bounded by
//! `REDIS_TIMEOUT_MS`, an error or timeout is counted and reported as
//! `None` (callers fail open), and while the health check finds Redis down
//! callers skip it altogether instead of waiting out a timeout each. The
//! connection is opened lazily and re-opened by the connection manager, so
//! the proxy starts without Redis and uses it as soon as it is there.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tracing::{debug, info, warn};

use crate::metrics::Metrics;

/// A lazily connected, self-healing Redis connection with bounded calls and
/// the last known health.
pub(crate) struct RedisConn {
    client: redis::Client,
    connection: OnceLock<ConnectionManager>,
    timeout: Duration,
    /// Last health-check result; optimistic at start.
    up: AtomicBool,
    metrics: &'static Metrics,
}

/// The client for `url`; over TLS (`rediss://`) the server's certificate
/// is verified against `ca` (PEM) when given, else the system's roots.
pub(crate) fn client(url: &str, ca: Option<&[u8]>) -> redis::RedisResult<redis::Client> {
    let Some(pem) = ca else {
        return redis::Client::open(url);
    };
    let certificates = redis::TlsCertificates {
        client_tls: None,
        root_cert: Some(pem.to_vec()),
    };
    redis::Client::build_with_tls(url, certificates)
}

impl RedisConn {
    pub(crate) fn new(client: redis::Client, timeout: Duration, metrics: &'static Metrics) -> RedisConn {
        RedisConn {
            client,
            connection: OnceLock::new(),
            timeout,
            up: AtomicBool::new(true),
            metrics,
        }
    }

    /// `REDIS_TIMEOUT_MS`: the bound on each call.
    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The client, for connections of another kind (pub/sub).
    pub(crate) fn client(&self) -> &redis::Client {
        &self.client
    }

    /// Where Redis is (`host:port`, never the password), for logs.
    pub(crate) fn address(&self) -> String {
        self.client.get_connection_info().addr().to_string()
    }

    /// How Redis is reached, for `/health`: `single` server, over `tls`, or
    /// through a `unix` socket.
    pub(crate) fn mode(&self) -> &'static str {
        match self.client.get_connection_info().addr() {
            redis::ConnectionAddr::TcpTls { .. } => "tls",
            redis::ConnectionAddr::Unix(_) => "unix",
            _ => "single",
        }
    }

    /// Whether the last health check reached Redis.
    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::SeqCst)
    }

    /// `PING`, recording whether Redis is up; logs when that changes.
    pub(crate) async fn check_health(&self) -> bool {
        let up = self
            .bounded(|mut connection| async move { redis::cmd("PING").query_async::<String>(&mut connection).await })
            .await
            .is_some();
        let was_up = self.up.swap(up, Ordering::SeqCst);
        self.metrics.redis_up.set(i64::from(up));
        match (was_up, up) {
            (true, false) => warn!("Redis is down: lookups go to the scraper uncached, coordinated per process"),
            (false, true) => info!("Redis is back: caching and fleet-wide coordination resume"),
            _ => {}
        }
        up
    }

    /// Runs one call within the timeout, unless Redis is known to be down;
    /// `None` (and a counted error) when it fails or runs out of time.
    pub(crate) async fn call<T, F, Fut>(&self, call: F) -> Option<T>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = redis::RedisResult<T>>,
    {
        if !self.is_up() {
            return None;
        }
        self.bounded(call).await
    }

    /// Runs one call within the timeout, whatever the last health check
    /// said (the health check itself, and operator's commands).
    pub(crate) async fn bounded<T, F, Fut>(&self, call: F) -> Option<T>
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
                self.metrics.redis_errors.inc();
                debug!(%error, "Redis call failed");
                None
            }
            Err(_) => {
                self.metrics.redis_errors.inc();
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
