//! `GET /health` and the Redis health check.
//!
//! The answer keeps the original service's shape, `{"status": "healthy",
//! "redis": "connected" | "disconnected"}`, and adds how Redis is reached
//! (`redis_mode`), whether lookups are coordinated `fleet-wide` or
//! `per-process` (Redis unreachable), whether any scraper is healthy
//! (`scraper`), each scraper's state (`scrapers`), and whether Redis keeps
//! the in-process copy coherent (`l1`: `tracked`, `bounded` to `L1_TTL_MS`,
//! or `off`). It is 200 while the proxy serves, whatever Redis and the
//! scrapers do: without Redis it still answers (uncached), and without a
//! scraper it still serves what is cached. From SIGTERM on it is 503 with
//! `"status": "stopping"`, so that readiness probes take the replica out
//! while it finishes its work ([`crate::drain`]).

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use pingora::server::ShutdownWatch;
use pingora::services::background::BackgroundService;
use serde_json::{json, Value};

use crate::cache::l1::L1;
use crate::cache::store::Store;
use crate::drain::Drain;
use crate::redis_conn::RedisConn;
use crate::scrapers::Scrapers;

/// How often Redis is pinged in the background.
const REDIS_CHECK_EVERY: Duration = Duration::from_secs(1);

/// `GET /health`: whether the proxy is stopping, Redis's state and the
/// scrapers' (their health checks).
pub(crate) struct Health {
    pub(crate) redis: Arc<RedisConn>,
    pub(crate) scrapers: Arc<Scrapers>,
    pub(crate) l1: Option<Arc<L1>>,
    pub(crate) drain: Arc<Drain>,
}

impl Health {
    /// The report's status code and body.
    pub(crate) async fn report(&self) -> (u16, Value) {
        let redis = self.redis.check_health().await;
        let scrapers = self.scrapers.report();
        let any_healthy = scrapers.iter().any(|scraper| scraper["healthy"] == true);
        let stopping = self.drain.is_stopping();
        let report = json!({
            "status": if stopping { "stopping" } else { "healthy" },
            "redis": if redis { "connected" } else { "disconnected" },
            "redis_mode": self.redis.mode(),
            "fleet": if redis { "fleet-wide" } else { "per-process" },
            "scraper": if any_healthy { "reachable" } else { "unreachable" },
            "scrapers": scrapers,
            "l1": match &self.l1 {
                Some(l1) if l1.is_tracked() => "tracked",
                Some(_) => "bounded",
                None => "off",
            },
        });
        (if stopping { 503 } else { 200 }, report)
    }
}

/// Pings Redis every second (and at once when a call's error asks for it),
/// so that the request path skips Redis while it is down (instead of
/// waiting out a timeout per request) and resumes caching as soon as it is
/// back, starting with the answers fetched while it was not.
pub(crate) struct RedisHealthCheck {
    pub(crate) redis: Arc<RedisConn>,
    pub(crate) store: Arc<Store>,
}

#[async_trait]
impl BackgroundService for RedisHealthCheck {
    async fn start(&self, mut shutdown: ShutdownWatch) {
        let mut every = tokio::time::interval(REDIS_CHECK_EVERY);
        loop {
            tokio::select! {
                _ = shutdown.changed() => return,
                _ = every.tick() => {}
                _ = self.redis.check_requested() => {}
            }
            if self.redis.check_health().await {
                self.store.flush_unstored().await;
            }
        }
    }
}
