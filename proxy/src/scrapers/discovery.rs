//! Which scrapers there are: every address each `SCRAPER_URL` host name
//! resolves to, resolved again every `SCRAPER_RESOLVE_INTERVAL_SECS`.
//! `pingora-load-balancing` ships only static discovery; a name with several
//! addresses is how Docker Compose (`--scale scraper=3`) and a Kubernetes
//! headless service present replicas, and those addresses change.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Mutex;

use async_trait::async_trait;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::Backend;
use tracing::{info, warn};

use crate::metrics::Metrics;

/// One `SCRAPER_URL`: host and port of an `http://` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Upstream {
    pub(crate) host: String,
    pub(crate) port: u16,
}

impl Upstream {
    /// `host:port` (`[v6]:port`), for resolving.
    pub(crate) fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The configured scrapers, resolved on each discovery round, and the
/// addresses the last round found (for the per-scraper metrics).
pub(crate) struct Discovery {
    upstreams: Vec<Upstream>,
    known: Mutex<BTreeSet<SocketAddr>>,
    metrics: &'static Metrics,
}

impl Discovery {
    pub(crate) fn new(upstreams: Vec<Upstream>, metrics: &'static Metrics) -> Discovery {
        Discovery {
            upstreams,
            known: Mutex::default(),
            metrics,
        }
    }

    /// Every address of every name, through the system's resolver. A name
    /// that does not resolve now keeps no backends (its scrapers may be
    /// restarting); the others stay.
    async fn addresses(&self) -> BTreeSet<SocketAddr> {
        let mut addresses = BTreeSet::new();
        for upstream in &self.upstreams {
            let authority = upstream.authority();
            let resolved = tokio::net::lookup_host(authority.as_str()).await;
            match resolved {
                Ok(resolved) => addresses.extend(resolved),
                Err(error) => warn!(scraper = %authority, %error, "cannot resolve a scraper"),
            }
        }
        addresses
    }

    /// Records the addresses found; true when they changed. New ones start
    /// healthy (as the balancer has them) with their counters at zero, so
    /// that rates and dashboards see them; gone ones leave the metrics.
    fn note(&self, addresses: &BTreeSet<SocketAddr>) -> bool {
        let mut known = self.known.lock().expect("discovery lock");
        if *known == *addresses {
            return false;
        }
        for gone in known.difference(addresses) {
            let _ = self.metrics.scraper_up.remove_label_values(&[&gone.to_string()]);
        }
        for new in addresses.difference(&known) {
            let label = new.to_string();
            self.metrics.scraper_up.with_label_values(&[&label]).set(1);
            self.metrics.scraper_lookups.with_label_values(&[&label]);
            self.metrics.scraper_failures.with_label_values(&[&label]);
        }
        *known = addresses.clone();
        true
    }
}

#[async_trait]
impl ServiceDiscovery for Discovery {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let addresses = self.addresses().await;
        if self.note(&addresses) {
            info!(scrapers = ?addresses, "scraper addresses changed");
        }
        let backends = addresses
            .into_iter()
            .map(|address| Backend {
                addr: pingora::protocols::l4::socket::SocketAddr::Inet(address),
                weight: 1,
                ext: Default::default(),
            })
            .collect();
        Ok((backends, HashMap::new()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(host: &str, port: u16) -> Upstream {
        Upstream {
            host: host.into(),
            port,
        }
    }

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn every_address_of_every_name_is_a_scraper() {
        let upstreams = vec![
            upstream("127.0.0.1", 8001),
            upstream("localhost", 9000),
            upstream("::1", 9001),
        ];
        let discovery = Discovery::new(upstreams, Metrics::get());
        let (backends, _) = discovery.discover().await.unwrap();
        let found: BTreeSet<String> = backends.iter().map(|b| b.addr.to_string()).collect();
        for expected in ["127.0.0.1:8001", "127.0.0.1:9000", "[::1]:9001"] {
            assert!(found.contains(expected), "{expected} in {found:?}");
        }
    }

    #[tokio::test]
    async fn a_name_that_does_not_resolve_keeps_no_backends() {
        let upstreams = vec![upstream("127.0.0.1", 8001), upstream("no-such-scraper.invalid", 8001)];
        let discovery = Discovery::new(upstreams, Metrics::get());
        assert_eq!(discovery.addresses().await, BTreeSet::from([address("127.0.0.1:8001")]));
    }

    #[test]
    fn changes_are_noted_and_gone_scrapers_leave_the_metrics() {
        let metrics = Metrics::get();
        let discovery = Discovery::new(Vec::new(), metrics);
        let two = BTreeSet::from([address("10.9.0.1:8001"), address("10.9.0.2:8001")]);
        assert!(discovery.note(&two));
        assert!(!discovery.note(&two), "unchanged");
        assert_eq!(metrics.scraper_up.with_label_values(&["10.9.0.2:8001"]).get(), 1);
        assert!(discovery.note(&BTreeSet::from([address("10.9.0.1:8001")])));
        let labels: Vec<String> = prometheus_labels(metrics);
        assert!(labels.contains(&"10.9.0.1:8001".to_string()), "{labels:?}");
        assert!(!labels.contains(&"10.9.0.2:8001".to_string()), "{labels:?}");
    }

    /// The `backend` labels of `ruc_proxy_scraper_backend_up`.
    fn prometheus_labels(metrics: &Metrics) -> Vec<String> {
        use pingora_prometheus::prometheus::core::Collector;
        metrics.scraper_up.collect()[0]
            .get_metric()
            .iter()
            .map(|m| m.get_label()[0].value().to_string())
            .collect()
    }
}
