//! Start-up: settings, logs, and the Pingora server with its three services
//! (the proxy, the metrics and admin listener, the Redis health check). Pingora handles
//! the signals: SIGTERM stops accepting and drains for the grace period of
//! `conf/proxy.yaml`.

use std::process::ExitCode;
use std::sync::Arc;

use pingora::listeners::{L4BufferSettings, ListenerConfig};
use pingora::proxy::http_proxy_service;
use pingora::server::configuration::Opt;
use pingora::server::Server;
use pingora::services::background::background_service;
use pingora::services::listening::Service;
use tracing::{error, info};

use crate::admin::Admin;
use crate::cache::l1::L1;
use crate::cache::store::{Lifetimes, Store};
use crate::config::Config;
use crate::health::RedisHealthCheck;
use crate::metrics::Metrics;
use crate::service::RucProxy;

/// Large enough for the headers and a whole record in one `send()`
/// (Pingora's default of 1460 bytes splits every answer in two).
const WRITE_BUFFER_BYTES: usize = 8192;

/// The binary's entry point; arguments are Pingora's (`-c conf/proxy.yaml`).
pub fn main() -> ExitCode {
    let config = match startup::begin(Config::from_env) {
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
    let l1 = L1::new(config.l1_capacity, config.l1_ttl);
    let lifetimes = Lifetimes {
        fresh: config.cache_ttl,
        stale: config.stale_if_error,
        not_found: config.negative_ttl,
    };
    let store = match Store::new(&config.redis_url, config.redis_timeout, lifetimes, l1) {
        Ok(store) => Arc::new(store),
        Err(e) => {
            error!("invalid REDIS_URL: {e}");
            return ExitCode::from(2);
        }
    };
    Metrics::get();

    let ruc_proxy = RucProxy::new(config.clone(), store.clone());
    let (flights, direct) = ruc_proxy.shared();
    let admin = Admin::server(config.admin_token.clone(), store.clone(), flights, direct);
    let mut proxy = http_proxy_service(&server.configuration, ruc_proxy);
    proxy.add_listener(
        ListenerConfig::tcp(config.listen.to_string()).l4_buffer(L4BufferSettings::default().write(WRITE_BUFFER_BYTES)),
    );
    let mut metrics = Service::new("metrics and admin".to_string(), admin);
    metrics.add_tcp(&config.metrics_listen.to_string());
    let health_check = background_service("Redis health check", RedisHealthCheck(store));
    server.add_service(proxy);
    server.add_service(metrics);
    server.add_service(health_check);

    info!(
        addr = %config.listen,
        metrics = %config.metrics_listen,
        scraper = %config.scraper.authority(),
        redis = %config.redis_url,
        "proxy listening"
    );
    server.run_forever()
}
