//! The scrapers, as a pool: several `SCRAPER_URL`s, or one name with several
//! addresses, each address a backend of `pingora-load-balancing`'s
//! balancer. Names are resolved again periodically ([`discovery`]); each
//! backend's `GET /health` is checked in the background, and a scraper
//! that fails it (down, its WebDriver gone, or draining on SIGTERM) gets
//! no lookups until it passes again.
//!
//! A scraper's capacity is its browser sessions and a lookup takes seconds,
//! so a lookup goes to the healthy scraper with the fewest lookups in
//! flight from this proxy, in turns among equals ([`Scrapers::pick`]).
//! [`client`] is the one way to ask them; [`answer`] what they answer.

pub(crate) mod answer;
pub(crate) mod client;
pub(crate) mod discovery;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use pingora::lb::health_check::{HealthObserve, HttpHealthCheck};
use pingora::lb::selection::RoundRobin;
use pingora::lb::{Backend, Backends, LoadBalancer};
use pingora::services::background::{background_service, GenBackgroundService};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::metrics::Metrics;
use discovery::{Discovery, Upstream};

/// How often the scrapers are checked and resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Intervals {
    /// `SCRAPER_HEALTH_INTERVAL_SECS`.
    pub(crate) health: Duration,
    /// `SCRAPER_RESOLVE_INTERVAL_SECS`.
    pub(crate) resolve: Duration,
}

/// Bound on connecting to a scraper, for lookups.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on one health check's connection and answer.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(2);

/// The scrapers, their health (the balancer's) and this proxy's lookups in
/// flight on each.
pub(crate) struct Scrapers {
    balancer: OnceLock<Arc<LoadBalancer<RoundRobin>>>,
    /// This proxy's lookups in flight on each scraper that has any.
    in_flight: Mutex<HashMap<SocketAddr, usize>>,
    turn: AtomicUsize,
    metrics: &'static Metrics,
}

/// A scraper chosen for one lookup; counted in flight until dropped.
pub(crate) struct Picked {
    address: SocketAddr,
    scrapers: Arc<Scrapers>,
}

/// Sets `ruc_proxy_scraper_backend_up` and logs when a scraper's health
/// changes.
struct Observer(&'static Metrics);

impl Scrapers {
    pub(crate) fn new(metrics: &'static Metrics) -> Scrapers {
        Scrapers {
            balancer: OnceLock::new(),
            in_flight: Mutex::default(),
            turn: AtomicUsize::new(0),
            metrics,
        }
    }

    /// Makes the balancer of `upstreams`, resolved once now; its background
    /// service (health checks, resolution) goes to the server.
    pub(crate) fn start(
        self: &Arc<Self>,
        upstreams: Vec<Upstream>,
        intervals: Intervals,
    ) -> GenBackgroundService<LoadBalancer<RoundRobin>> {
        let host = upstreams[0].authority();
        let discovery = Discovery::new(upstreams, self.metrics);
        let mut balancer = LoadBalancer::from_backends(Backends::new(Box::new(discovery)));
        balancer.set_health_check(Box::new(health_check(&host, self.metrics)));
        balancer.health_check_frequency = Some(intervals.health);
        balancer.update_frequency = Some(intervals.resolve);
        balancer.parallel_health_check = true;
        resolve_now(&balancer);
        let service = background_service("scraper pool", balancer);
        let _ = self.balancer.set(service.task());
        service
    }

    /// The healthy scraper with the fewest lookups in flight, other than
    /// `avoid` (one that just refused a connection); `None` when there is
    /// none.
    pub(crate) fn pick(self: &Arc<Self>, avoid: Option<SocketAddr>) -> Option<Picked> {
        let balancer = self.balancer.get()?;
        let healthy: Vec<SocketAddr> = balancer
            .backends()
            .get_backend()
            .iter()
            .filter(|backend| balancer.backends().ready(backend))
            .filter_map(|backend| backend.addr.as_inet().copied())
            .filter(|address| Some(*address) != avoid)
            .collect();
        if healthy.is_empty() {
            return None;
        }
        let turn = self.turn.fetch_add(1, Ordering::Relaxed);
        let mut in_flight = self.in_flight.lock().expect("scrapers lock");
        let address = (0..healthy.len())
            .map(|i| healthy[(turn + i) % healthy.len()])
            .min_by_key(|address| in_flight.get(address).copied().unwrap_or(0))?;
        *in_flight.entry(address).or_default() += 1;
        drop(in_flight);
        let label = address.to_string();
        self.metrics.scraper_lookups.with_label_values(&[&label]).inc();
        Some(Picked {
            address,
            scrapers: self.clone(),
        })
    }

    /// Each scraper with its health and lookups in flight, for `/health`.
    pub(crate) fn report(&self) -> Vec<Value> {
        let Some(balancer) = self.balancer.get() else {
            return Vec::new();
        };
        let in_flight = self.in_flight.lock().expect("scrapers lock");
        balancer
            .backends()
            .get_backend()
            .iter()
            .filter_map(|backend| {
                let address = backend.addr.as_inet()?;
                Some(json!({
                    "address": address.to_string(),
                    "healthy": balancer.backends().ready(backend),
                    "in_flight": in_flight.get(address).copied().unwrap_or(0),
                }))
            })
            .collect()
    }
}

impl Picked {
    pub(crate) fn address(&self) -> SocketAddr {
        self.address
    }

    /// Counts a lookup this scraper did not answer (or answered with a 5xx).
    pub(crate) fn failed(&self) {
        let label = self.address.to_string();
        self.scrapers
            .metrics
            .scraper_failures
            .with_label_values(&[&label])
            .inc();
    }
}

impl Drop for Picked {
    fn drop(&mut self) {
        let mut in_flight = self.scrapers.in_flight.lock().expect("scrapers lock");
        if let Some(count) = in_flight.get_mut(&self.address) {
            *count -= 1;
            if *count == 0 {
                in_flight.remove(&self.address);
            }
        }
    }
}

#[async_trait]
impl HealthObserve for Observer {
    async fn observe(&self, target: &Backend, healthy: bool) {
        let address = target.addr.to_string();
        self.0.scraper_up.with_label_values(&[&address]).set(i64::from(healthy));
        if healthy {
            info!(scraper = %address, "scraper healthy: it gets lookups again");
        } else {
            warn!(scraper = %address, "scraper unhealthy (down, no WebDriver, or draining): no lookups for it");
        }
    }
}

/// `GET /health` on each scraper; anything but a 200 is unhealthy.
fn health_check(host: &str, metrics: &'static Metrics) -> HttpHealthCheck {
    let mut check = HttpHealthCheck::new(host, false);
    check.req.set_uri(http::Uri::from_static("/health"));
    check.peer_template.options.connection_timeout = Some(HEALTH_TIMEOUT);
    check.peer_template.options.read_timeout = Some(HEALTH_TIMEOUT);
    check.health_changed_callback = Some(Box::new(Observer(metrics)));
    check
}

/// The first resolution, before the server starts, so that the first
/// lookups have scrapers; the background service keeps it current.
fn resolve_now(balancer: &LoadBalancer<RoundRobin>) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build();
    match runtime.map(|runtime| runtime.block_on(balancer.update())) {
        Ok(Ok(())) => {}
        Ok(Err(error)) => warn!(%error, "the scrapers could not be resolved yet"),
        Err(error) => warn!(%error, "the scrapers could not be resolved yet"),
    }
}
