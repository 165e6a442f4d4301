//! `GET /health` and the Redis health check.
//!
//! The answer keeps the original service's shape, `{"status": "healthy",
//! "redis": "connected" | "disconnected"}`, and adds how Redis is reached
//! (`redis_mode`), whether lookups are coordinated `fleet-wide` or
//! `per-process` (Redis unreachable), whether any scraper is healthy
//! (`scraper`) and each scraper's state (`scrapers`). It is always 200
//! while the proxy runs: without Redis it still answers (uncached), and
//! without a scraper it still serves what is cached.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::{json, Value};

use crate::redis_conn::RedisConn;
use crate::scrapers::Scrapers;

/// How often Redis is pinged in the background.
const REDIS_CHECK_EVERY: Duration = Duration::from_secs(1);

/// `GET /health`: Redis's state and the scrapers' (their health checks).
pub(crate) struct Health {
    redis: Arc<RedisConn>,
    scrapers: Arc<Scrapers>,
}

impl Health {
    pub(crate) fn new(redis: Arc<RedisConn>, scrapers: Arc<Scrapers>) -> Health {
        Health { redis, scrapers }
    }

    pub(crate) async fn report(&self) -> Value {
        let redis = self.redis.check_health().await;
        let scrapers = self.scrapers.report();
        let any_healthy = scrapers.iter().any(|scraper| scraper["healthy"] == true);
        json!({
            "status": "healthy",
            "redis": if redis { "connected" } else { "disconnected" },
            "redis_mode": self.redis.mode(),
            "fleet": if redis { "fleet-wide" } else { "per-process" },
            "scraper": if any_healthy { "reachable" } else { "unreachable" },
            "scrapers": scrapers,
        })
    }
}

/// Pings Redis every second (and at once when a call's error asks for it),
/// so that the request path skips Redis while it is down (instead of
/// waiting out a timeout per request) and resumes caching as soon as it is
/// back.
pub(crate) struct RedisHealthCheck(pub(crate) Arc<RedisConn>);

#[async_trait]
impl BackgroundService for RedisHealthCheck {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut every = tokio::time::interval(REDIS_CHECK_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = every.tick() => { self.0.check_health().await; }
                _ = self.0.check_requested() => { self.0.check_health().await; }
            }
        }
    }
}
