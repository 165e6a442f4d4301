//! Which scrapers there are: every address each `SCRAPER_URL` host name
//! resolves to, resolved again every `SCRAPER_RESOLVE_INTERVAL_SECS`.
//! `pingora-load-balancing` ships only static discovery; a name with several
//! addresses is how Docker Compose (`--scale scraper=3`) and a Kubernetes
//! headless service present replicas, and those addresses change.

use std::collections::{BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::Arc;

use async_trait::async_trait;
use pingora::lb::discovery::ServiceDiscovery;
use pingora::lb::Backend;
use tracing::{info, warn};

use super::Scrapers;
use crate::config::Upstream;

/// Resolves `host:port` to addresses; the system's resolver, or a fixed
/// table in tests.
#[async_trait]
pub(crate) trait Resolve: Send + Sync {
    async fn resolve(&self, authority: &str) -> std::io::Result<Vec<SocketAddr>>;
}

/// The system's resolver (`getaddrinfo`, as every other program here).
pub(crate) struct SystemResolver;

#[async_trait]
impl Resolve for SystemResolver {
    async fn resolve(&self, authority: &str) -> std::io::Result<Vec<SocketAddr>> {
        Ok(tokio::net::lookup_host(authority).await?.collect())
    }
}

/// The configured scrapers, resolved on each discovery round.
pub(crate) struct Discovery {
    upstreams: Vec<Upstream>,
    resolver: Box<dyn Resolve>,
    scrapers: Arc<Scrapers>,
}

impl Discovery {
    pub(crate) fn new(upstreams: Vec<Upstream>, resolver: Box<dyn Resolve>, scrapers: Arc<Scrapers>) -> Discovery {
        Discovery {
            upstreams,
            resolver,
            scrapers,
        }
    }

    /// Every address of every name. A name that does not resolve now keeps
    /// no backends (its scrapers may be restarting); the others stay.
    pub(crate) async fn addresses(&self) -> BTreeSet<SocketAddr> {
        let mut addresses = BTreeSet::new();
        for upstream in &self.upstreams {
            let authority = upstream.authority();
            match self.resolver.resolve(&authority).await {
                Ok(resolved) => addresses.extend(resolved),
                Err(error) => warn!(scraper = %authority, %error, "cannot resolve a scraper"),
            }
        }
        addresses
    }
}

#[async_trait]
impl ServiceDiscovery for Discovery {
    async fn discover(&self) -> pingora::Result<(BTreeSet<Backend>, HashMap<u64, bool>)> {
        let addresses = self.addresses().await;
        if self.scrapers.known(&addresses) {
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
    use std::sync::Mutex;

    /// A resolver whose answers the test changes.
    struct Table(Arc<Mutex<HashMap<String, Vec<SocketAddr>>>>);

    #[async_trait]
    impl Resolve for Table {
        async fn resolve(&self, authority: &str) -> std::io::Result<Vec<SocketAddr>> {
            let table = self.0.lock().unwrap();
            table
                .get(authority)
                .cloned()
                .ok_or_else(|| std::io::Error::other("no such name"))
        }
    }

    fn address(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[tokio::test]
    async fn every_address_of_every_name_is_a_scraper_and_changes_are_picked_up() {
        let table = Arc::new(Mutex::new(HashMap::from([
            (
                "scraper:8001".to_string(),
                vec![address("10.0.0.1:8001"), address("10.0.0.2:8001")],
            ),
            ("other:9000".to_string(), vec![address("10.0.0.9:9000")]),
        ])));
        let upstreams = vec![
            Upstream {
                host: "scraper".into(),
                port: 8001,
            },
            Upstream {
                host: "other".into(),
                port: 9000,
            },
        ];
        let scrapers = Arc::new(Scrapers::new(crate::metrics::Metrics::get()));
        let discovery = Discovery::new(upstreams, Box::new(Table(table.clone())), scrapers);
        let (backends, _) = discovery.discover().await.unwrap();
        assert_eq!(backends.len(), 3);

        // Scaled to three; the other name stops resolving.
        table.lock().unwrap().insert(
            "scraper:8001".to_string(),
            vec![
                address("10.0.0.1:8001"),
                address("10.0.0.2:8001"),
                address("10.0.0.3:8001"),
            ],
        );
        table.lock().unwrap().remove("other:9000");
        assert_eq!(
            discovery.addresses().await,
            BTreeSet::from([
                address("10.0.0.1:8001"),
                address("10.0.0.2:8001"),
                address("10.0.0.3:8001")
            ])
        );
    }
}
