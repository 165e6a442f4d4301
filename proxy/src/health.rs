//! `GET /health` and the Redis health check.
//!
//! The answer keeps the original service's shape, `{"status": "healthy",
//! "redis": "connected" | "disconnected"}`, and adds how Redis is reached
//! (`redis_mode`), whether lookups are coordinated `fleet-wide` or
//! `per-process` (Redis unreachable) and the scraper's state.
//! It is always 200 while the proxy runs: without Redis it still answers
//! (uncached), and without the scraper it still serves what is cached.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use http_body_util::Empty;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::{json, Value};

use crate::config::Upstream;
use crate::redis_conn::RedisConn;

/// How often Redis is pinged in the background.
const REDIS_CHECK_EVERY: Duration = Duration::from_secs(1);
/// Bound on the scraper's `/health` probe.
const SCRAPER_PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// `GET /health`: Redis's last known state and a probe of the scraper.
pub(crate) struct Health {
    redis: Arc<RedisConn>,
    scraper_health: hyper::Uri,
    http: Client<HttpConnector, Empty<Bytes>>,
}

impl Health {
    pub(crate) fn new(redis: Arc<RedisConn>, scraper: &Upstream) -> Health {
        Health {
            redis,
            scraper_health: format!("http://{}/health", scraper.authority())
                .parse()
                .expect("validated in config"),
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    pub(crate) async fn report(&self) -> Value {
        let (redis, scraper) = tokio::join!(self.redis.check_health(), self.scraper_state());
        json!({
            "status": "healthy",
            "redis": if redis { "connected" } else { "disconnected" },
            "redis_mode": self.redis.mode(),
            "fleet": if redis { "fleet-wide" } else { "per-process" },
            "scraper": scraper,
        })
    }

    /// `reachable` (its `/health` is 200), `unhealthy` (it answers otherwise)
    /// or `unreachable`.
    async fn scraper_state(&self) -> &'static str {
        match tokio::time::timeout(SCRAPER_PROBE_TIMEOUT, self.http.get(self.scraper_health.clone())).await {
            Ok(Ok(response)) if response.status().is_success() => "reachable",
            Ok(Ok(_)) => "unhealthy",
            _ => "unreachable",
        }
    }
}

/// Pings Redis every second, so that the request path skips Redis while it
/// is down (instead of waiting out a timeout per request) and resumes
/// caching as soon as it is back.
pub(crate) struct RedisHealthCheck(pub(crate) Arc<RedisConn>);

#[async_trait]
impl BackgroundService for RedisHealthCheck {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut every = tokio::time::interval(REDIS_CHECK_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = every.tick() => { self.0.check_health().await; }
            }
        }
    }
}
