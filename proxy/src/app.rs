//! Start-up: settings, logs, the wiring (the store, the lookup lifecycle,
//! the health check, each built once and handed to what uses it), and the
//! Pingora server with its services (the API listener, the metrics and
//! admin listener, the Redis health check, the scraper pool's checks, the
//! L1's tracking). The signals are heard by [`crate::drain`], which lets
//! the work in flight finish before Pingora stops.

use std::process::ExitCode;
use std::sync::Arc;

use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::server::configuration::Opt;
use pingora::server::{RunArgs, Server};
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use startup::healthcheck;
use tracing::{error, info};

use crate::admin::Admin;
use crate::api::Api;
use crate::batch::Batches;
use crate::cache::l1::{Limits, L1};
use crate::cache::store::{Lifetimes, Store};
use crate::cache::tracking::Tracking;
use crate::coalesce::local::LocalFlights;
use crate::coalesce::Flights;
use crate::config::{Config, DEFAULT_LISTEN};
use crate::drain::{Drain, Signals};
use crate::fleet::Fleet;
use crate::front::Front;
use crate::gate::{Gate, GateSettings};
use crate::health::{Health, RedisHealthCheck};
use crate::lookup::{LookupSettings, Lookups};
use crate::metrics::Metrics;
use crate::redis_conn::deployment::Deployment;
use crate::redis_conn::RedisConn;
use crate::scrapers::client::ScraperClient;
use crate::scrapers::discovery::Upstream;
use crate::scrapers::Scrapers;

/// The binary's entry point; arguments are Pingora's (`-c conf/proxy.yaml`),
/// or [`healthcheck::ARG`] alone: then a health check of the proxy of this
/// container.
pub fn main() -> ExitCode {
    if std::env::args_os().nth(1).is_some_and(|arg| arg == healthcheck::ARG) {
        return healthcheck::run("PROXY_LISTEN", DEFAULT_LISTEN);
    }
    let config = match startup::begin("ruc-proxy", Config::from_env) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let mut server = match Server::new(Some(Opt::parse_args())) {
        Ok(server) => server,
        Err(e) => {
            error!("cannot load the Pingora configuration (-c): {e}");
            return ExitCode::from(2);
        }
    };
    server.bootstrap();
    let metrics = Metrics::get();
    let redis = match Deployment::new(&config.redis, config.redis_timeout) {
        Ok(deployment) => Arc::new(RedisConn::new(deployment, config.redis_timeout, metrics)),
        Err(e) => {
            error!("invalid REDIS_URL: {e}");
            return ExitCode::from(2);
        }
    };
    let l1_limits = Limits {
        entries: config.l1_capacity,
        bytes: config.l1_max_bytes,
    };
    let l1 = L1::new(l1_limits, config.l1_ttl).map(Arc::new);
    let store = build_store(&config, redis.clone(), l1.clone(), metrics);
    let fleet = Arc::new(Fleet::new(redis.clone(), config.fleet_lease, metrics));
    let scrapers = Arc::new(Scrapers::new(metrics));
    let scraper_pool = scrapers.start(config.scrapers.clone(), config.scraper_intervals);
    let drain = Drain::new();
    let health = Health {
        redis: redis.clone(),
        scrapers: scrapers.clone(),
        l1: l1.clone(),
        drain: drain.clone(),
    };
    let lookups = Arc::new(build_lookups(&config, store.clone(), fleet, scrapers, &drain, metrics));
    let admin = Admin::server(config.admin_token.clone(), store.clone(), lookups.clone(), metrics);
    let batches = Batches::new(lookups.clone(), config.batch_max_rucs, config.batch_timeout, metrics);
    let front = Front::new(
        Api::new(lookups, batches, health),
        config.client_timeouts,
        drain.clone(),
        metrics,
    );
    let mut proxy = Service::new("proxy".to_string(), front);
    // The front keeps its own read and write buffers, bounded by its rules:
    // Pingora's (64 KiB for reads) would only copy them once more.
    proxy.add_listener(ListenerConfig::tcp(config.listen.to_string()).l4_buffer(L4BufferSettings::unbuffered()));
    let mut metrics_service = Service::new("metrics and admin".to_string(), admin);
    metrics_service.add_tcp(&config.metrics_listen.to_string());
    let redis_check = RedisHealthCheck {
        redis: redis.clone(),
        store: store.clone(),
    };
    let health_check = background_service("Redis health check", redis_check);
    server.add_service(proxy);
    server.add_service(metrics_service);
    server.add_service(health_check);
    server.add_service(scraper_pool);
    if let Some(l1) = l1 {
        let tracking = Tracking {
            redis: redis.clone(),
            l1,
            metrics,
        };
        server.add_service(background_service("L1 tracking", tracking));
    }

    info!(
        addr = %config.listen,
        metrics = %config.metrics_listen,
        scrapers = ?config.scrapers.iter().map(Upstream::authority).collect::<Vec<_>>(),
        redis = %redis.address(),
        redis_mode = redis.mode(),
        "proxy listening"
    );
    let signals = Signals {
        drain,
        delay: config.drain_delay,
        longest_lookup: config.follow_wait(),
    };
    server.run(RunArgs {
        shutdown_signal: Box::new(signals),
    });
    startup::finish();
    ExitCode::SUCCESS
}

/// The Redis store, with the in-process copy in front of it.
fn build_store(config: &Config, redis: Arc<RedisConn>, l1: Option<Arc<L1>>, metrics: &'static Metrics) -> Arc<Store> {
    let lifetimes = Lifetimes {
        fresh: config.cache_ttl,
        fresh_pages: config.cache_ttl_pages,
        stale: config.stale_if_error,
        not_found: config.negative_ttl,
    };
    Arc::new(Store::new(redis, lifetimes, l1, metrics))
}

/// The lookup lifecycle and what it is made of: coalescing and the gate
/// toward the scrapers, this process's with the fleet's, and the one
/// client to the scrapers.
fn build_lookups(
    config: &Config,
    store: Arc<Store>,
    fleet: Arc<Fleet>,
    scrapers: Arc<Scrapers>,
    drain: &Drain,
    metrics: &'static Metrics,
) -> Lookups {
    let follow_wait = config.follow_wait();
    let gate = GateSettings {
        max_in_flight: config.upstream_max_in_flight,
        fleet_max_in_flight: config.upstream_global_max_in_flight,
        batch_max_in_flight: config.upstream_batch_max_in_flight,
        queue_timeout: config.upstream_queue_timeout,
        breaker_failures: config.breaker_failures,
        breaker_open: config.breaker_open,
        probe_lease: follow_wait,
    };
    let settings = LookupSettings {
        stale_while_revalidate: config.stale_while_revalidate,
        max_body_bytes: config.max_body_bytes,
        follow_wait,
    };
    Lookups {
        store,
        flights: Flights::new(LocalFlights::new(metrics), fleet.clone()),
        gate: Gate::new(gate, fleet, metrics),
        scrapers: ScraperClient::new(scrapers, config.upstream_timeout, config.max_body_bytes),
        settings,
        background: drain.tasks().clone(),
        metrics,
    }
}
