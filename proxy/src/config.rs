//! The proxy's settings, from environment variables with documented defaults
//! (README, "Configuration"). Pingora's own server settings come from the
//! YAML file given with `-c` (`conf/proxy.yaml`). A bad value stops the
//! program at start with a message that names the variable.

use std::net::SocketAddr;
use std::time::Duration;

use startup::{AdminToken, ConfigError, Env};

use crate::front::connection::ClientTimeouts;
use crate::redis_conn::deployment::Deployment;
use crate::redis_conn::settings::{Mode, RedisSettings};
use crate::scrapers::discovery::Upstream;
use crate::scrapers::Intervals;

/// How much longer than its leader's queue wait and upstream timeout a
/// follower waits.
const FOLLOW_MARGIN: Duration = Duration::from_secs(5);

/// `PROXY_LISTEN` when unset: also where `proxy --healthcheck` asks.
pub(crate) const DEFAULT_LISTEN: &str = "0.0.0.0:8000";

/// Every setting of the proxy, checked at start.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// `PROXY_LISTEN`, default `0.0.0.0:8000`.
    pub(crate) listen: SocketAddr,
    /// `METRICS_LISTEN`, default `0.0.0.0:9091` (Prometheus, any path).
    pub(crate) metrics_listen: SocketAddr,
    /// `REDIS_MODE` (`single`, `cluster`, `sentinel`; default `single`),
    /// `REDIS_URL` (default `redis://127.0.0.1:6379`; `rediss://` for TLS;
    /// in a cluster the seed nodes, comma-separated; with Sentinel the
    /// master's name as host), `REDIS_CA_FILE` (unset: the system's roots;
    /// the PEM certificates a TLS server must chain to) and
    /// `REDIS_SENTINELS` (`host:port` of each sentinel, comma-separated).
    pub(crate) redis: RedisSettings,
    /// `SCRAPER_URL`, default `http://127.0.0.1:8001`; several,
    /// comma-separated. Each name's addresses are scrapers.
    pub(crate) scrapers: Vec<Upstream>,
    /// `SCRAPER_HEALTH_INTERVAL_SECS` (default 2) and
    /// `SCRAPER_RESOLVE_INTERVAL_SECS` (default 10).
    pub(crate) scraper_intervals: Intervals,
    /// `CACHE_TTL_SECONDS`, default 604800 (7 days).
    pub(crate) cache_ttl: Duration,
    /// `CACHE_TTL_SECONDS_REPRESENTANTES`, `_TRABAJADORES`,
    /// `_ESTABLECIMIENTOS` (default 7 days each) and `_DEUDA_COACTIVA`
    /// (default 1 day): how long each page behind a record is fresh, in the
    /// order of `Kind::ALL`.
    pub(crate) cache_ttl_pages: [Duration; 4],
    /// `REDIS_TIMEOUT_MS`, default 100: bound on every Redis call.
    pub(crate) redis_timeout: Duration,
    /// `UPSTREAM_TIMEOUT_SECS`, default 50: how long the scraper may take to
    /// answer; longer than the scraper's own 45 s lookup deadline.
    pub(crate) upstream_timeout: Duration,
    /// `CACHE_MAX_BODY_BYTES`, default 65536: larger answers are passed
    /// through but never stored.
    pub(crate) max_body_bytes: usize,
    /// `UPSTREAM_MAX_INFLIGHT`, default 2: lookups sent to the scraper at
    /// once by this proxy.
    pub(crate) upstream_max_in_flight: usize,
    /// `UPSTREAM_GLOBAL_MAX_INFLIGHT`, default 2: lookups sent to the
    /// scrapers at once by all the replicas on this Redis together.
    pub(crate) upstream_global_max_in_flight: usize,
    /// `UPSTREAM_BATCH_MAX_INFLIGHT`, default one less than
    /// `UPSTREAM_GLOBAL_MAX_INFLIGHT` but at least 1, at most that: of the
    /// fleet's lookups at once (and this proxy's), how many batch items may
    /// hold, so that single lookups find a slot.
    pub(crate) upstream_batch_max_in_flight: usize,
    /// `UPSTREAM_QUEUE_TIMEOUT_SECS`, default 10: how long a lookup waits
    /// for one of those slots before a 503 (or the stale record).
    pub(crate) upstream_queue_timeout: Duration,
    /// `BREAKER_FAILURES`, default 5, 0 turns the breaker off: failed
    /// lookups in a row that open the circuit breaker.
    pub(crate) breaker_failures: u32,
    /// `BREAKER_OPEN_SECS`, default 30: how long it stays open.
    pub(crate) breaker_open: Duration,
    /// `STALE_IF_ERROR_SECONDS`, default 604800 (7 days): how long a record
    /// stays in Redis after `CACHE_TTL_SECONDS`, stale, to be served when
    /// the scraper fails.
    pub(crate) stale_if_error: Duration,
    /// `STALE_WHILE_REVALIDATE_SECONDS`, default 0, at most
    /// `STALE_IF_ERROR_SECONDS`: for this long after going stale a record
    /// is served at once and refreshed in the background.
    pub(crate) stale_while_revalidate: Duration,
    /// `NEGATIVE_TTL_SECONDS`, default 3600, 0 turns it off: how long
    /// SUNAT's "no such RUC" (a 404 from the scraper) is remembered.
    pub(crate) negative_ttl: Duration,
    /// `ADMIN_TOKEN`, unset by default: the bearer token of the cache
    /// operations on the admin listener, which do not exist without it. A
    /// token that could be guessed stops the start (`admin::token`).
    pub(crate) admin_token: Option<AdminToken>,
    /// `FLEET_LEASE_SECS`, default 5: how long the replicas wait for a
    /// replica that stopped renewing its leases (killed, cut off from
    /// Redis) before taking over its lookup or slot.
    pub(crate) fleet_lease: Duration,
    /// `CLIENT_HEADER_TIMEOUT_SECS` (default 60) and `KEEPALIVE_TIMEOUT_SECS`
    /// (default 60): how long a request head may take to arrive whole, and
    /// how long a connection may sit idle between requests.
    pub(crate) client_timeouts: ClientTimeouts,
    /// `PROXY_DRAIN_DELAY_SECS`, default 5: after SIGTERM, how long new
    /// connections are still served (with `/health` at 503) while
    /// balancers and Kubernetes endpoints drop this replica.
    pub(crate) drain_delay: Duration,
    /// `BATCH_MAX_RUCS`, default 1000: the most RUCs a batch request may
    /// list, duplicates included.
    pub(crate) batch_max_rucs: usize,
    /// `BATCH_TIMEOUT_SECS`, default 120: how long a batch request is
    /// answered within; what is missing then is a 504 item.
    pub(crate) batch_timeout: Duration,
    /// `L1_TTL_MS`, default 1000 (the most allowed), 0 turns the L1 off: how
    /// long a record read from Redis is served from memory.
    pub(crate) l1_ttl: Duration,
    /// `L1_CAPACITY`, default 10000: records kept in memory (about 2 KB each)…
    pub(crate) l1_capacity: usize,
    /// …`L1_MAX_BYTES`, default 32 MiB: …and their bytes at most.
    pub(crate) l1_max_bytes: usize,
}

impl Config {
    pub(crate) fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// How long a follower waits for its leader: the longest wait a lookup
    /// can have (65 s with the defaults).
    pub(crate) fn follow_wait(&self) -> Duration {
        self.upstream_queue_timeout + self.upstream_timeout + FOLLOW_MARGIN
    }

    /// The longest a SIGTERM takes to end the proxy before Pingora's own
    /// grace period: the drain delay, then the longest lookup's wait
    /// ([`crate::drain`]).
    pub fn stop_within(&self) -> Duration {
        self.drain_delay + self.follow_wait()
    }

    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let env = Env::new(&var);
        let redis_timeout = env.millis("REDIS_TIMEOUT_MS", 100, 1..=10_000)?;
        let redis = redis_settings(&env, redis_timeout)?;
        let stale_if_error = env.seconds("STALE_IF_ERROR_SECONDS", 604_800, 0..=31_536_000)?;
        let global_max_in_flight = env.number("UPSTREAM_GLOBAL_MAX_INFLIGHT", 2, 1..=1000)?;
        let batch_max_in_flight = global_max_in_flight.saturating_sub(1).max(1);
        Ok(Config {
            listen: env.parse("PROXY_LISTEN", DEFAULT_LISTEN, "an address such as 0.0.0.0:8000")?,
            metrics_listen: env.parse("METRICS_LISTEN", "0.0.0.0:9091", "an address such as 0.0.0.0:9091")?,
            redis,
            scrapers: env
                .text_or("SCRAPER_URL", "http://127.0.0.1:8001")
                .split(',')
                .map(|url| upstream(url.trim()))
                .collect::<Result<_, _>>()?,
            scraper_intervals: Intervals {
                health: env.seconds("SCRAPER_HEALTH_INTERVAL_SECS", 2, 1..=60)?,
                resolve: env.seconds("SCRAPER_RESOLVE_INTERVAL_SECS", 10, 1..=3600)?,
            },
            cache_ttl: env.seconds("CACHE_TTL_SECONDS", 604_800, 1..=31_536_000)?,
            cache_ttl_pages: [
                env.seconds("CACHE_TTL_SECONDS_REPRESENTANTES", 604_800, 1..=31_536_000)?,
                env.seconds("CACHE_TTL_SECONDS_TRABAJADORES", 604_800, 1..=31_536_000)?,
                env.seconds("CACHE_TTL_SECONDS_ESTABLECIMIENTOS", 604_800, 1..=31_536_000)?,
                env.seconds("CACHE_TTL_SECONDS_DEUDA_COACTIVA", 86_400, 1..=31_536_000)?,
            ],
            redis_timeout,
            upstream_timeout: env.seconds("UPSTREAM_TIMEOUT_SECS", 50, 1..=600)?,
            max_body_bytes: env.number("CACHE_MAX_BODY_BYTES", 65_536, 256..=16_777_216)? as usize,
            upstream_max_in_flight: env.number("UPSTREAM_MAX_INFLIGHT", 2, 1..=1000)? as usize,
            upstream_global_max_in_flight: global_max_in_flight as usize,
            upstream_batch_max_in_flight: env.number(
                "UPSTREAM_BATCH_MAX_INFLIGHT",
                batch_max_in_flight,
                1..=global_max_in_flight,
            )? as usize,
            upstream_queue_timeout: env.seconds("UPSTREAM_QUEUE_TIMEOUT_SECS", 10, 1..=600)?,
            breaker_failures: env.number("BREAKER_FAILURES", 5, 0..=1000)? as u32,
            breaker_open: env.seconds("BREAKER_OPEN_SECS", 30, 1..=3600)?,
            stale_if_error,
            stale_while_revalidate: env.seconds("STALE_WHILE_REVALIDATE_SECONDS", 0, 0..=stale_if_error.as_secs())?,
            negative_ttl: env.seconds("NEGATIVE_TTL_SECONDS", 3600, 0..=604_800)?,
            admin_token: env.token("ADMIN_TOKEN")?,
            fleet_lease: env.seconds("FLEET_LEASE_SECS", 5, 1..=60)?,
            client_timeouts: ClientTimeouts {
                header: env.seconds("CLIENT_HEADER_TIMEOUT_SECS", 60, 1..=3600)?,
                keepalive: env.seconds("KEEPALIVE_TIMEOUT_SECS", 60, 1..=3600)?,
            },
            drain_delay: env.seconds("PROXY_DRAIN_DELAY_SECS", 5, 0..=300)?,
            batch_max_rucs: env.number("BATCH_MAX_RUCS", 1000, 1..=100_000)? as usize,
            batch_timeout: env.seconds("BATCH_TIMEOUT_SECS", 120, 1..=3600)?,
            l1_ttl: env.millis("L1_TTL_MS", 1000, 0..=1000)?,
            l1_capacity: env.number("L1_CAPACITY", 10_000, 0..=1_000_000)? as usize,
            l1_max_bytes: env.number("L1_MAX_BYTES", 32 << 20, 0..=16 << 30)? as usize,
        })
    }
}

/// The Redis deployment, checked: every URL parses, the CA file is a PEM
/// certificate for `rediss://` URLs, Sentinel has its sentinels.
fn redis_settings(env: &Env, timeout: Duration) -> Result<RedisSettings, ConfigError> {
    let mode = match env.text_or("REDIS_MODE", "single").as_str() {
        "single" => Mode::Single,
        "cluster" => Mode::Cluster,
        "sentinel" => Mode::Sentinel,
        other => {
            return Err(ConfigError::new(
                "REDIS_MODE",
                format!("{other:?}: use single, cluster or sentinel"),
            ))
        }
    };
    let url = env.text_or("REDIS_URL", "redis://127.0.0.1:6379");
    let urls: Vec<String> = url.split(',').map(|u| u.trim().to_string()).collect();
    if mode != Mode::Cluster && urls.len() > 1 {
        return Err(ConfigError::new("REDIS_URL", "a list of URLs needs REDIS_MODE=cluster"));
    }
    let sentinels: Vec<String> = env
        .text("REDIS_SENTINELS")
        .map(|list| list.split(',').map(|s| s.trim().to_string()).collect())
        .unwrap_or_default();
    if (mode == Mode::Sentinel) == sentinels.is_empty() {
        let message = "give the sentinels (host:port,...) with REDIS_MODE=sentinel, and only then";
        return Err(ConfigError::new("REDIS_SENTINELS", message));
    }
    let tls = urls.iter().all(|u| u.starts_with("rediss://"));
    let ca = env.text("REDIS_CA_FILE").map(|path| ca_file(&path, tls)).transpose()?;
    let settings = RedisSettings {
        mode,
        urls,
        ca,
        sentinels,
    };
    Deployment::new(&settings, timeout)
        .map_err(|e| ConfigError::new("REDIS_URL", format!("{url:?} does not name a Redis deployment ({e})")))?;
    Ok(settings)
}

/// The certificates of `REDIS_CA_FILE`, checked: readable, PEM, and for
/// `rediss://` URLs.
fn ca_file(path: &str, tls: bool) -> Result<Vec<u8>, ConfigError> {
    let error = |message: String| ConfigError::new("REDIS_CA_FILE", message);
    if !tls {
        return Err(error("is set, but REDIS_URL is not a rediss:// (TLS) URL".to_string()));
    }
    let pem = std::fs::read(path).map_err(|e| error(format!("cannot read {path:?} ({e})")))?;
    if !pem.windows(27).any(|w| w == b"-----BEGIN CERTIFICATE-----") {
        return Err(error(format!("{path:?} holds no PEM certificate")));
    }
    Ok(pem)
}

fn upstream(value: &str) -> Result<Upstream, ConfigError> {
    let error = |message: String| ConfigError::new("SCRAPER_URL", message);
    let url = url::Url::parse(value).map_err(|e| error(format!("{value:?} is not a URL ({e})")))?;
    if url.scheme() != "http" {
        return Err(error(format!(
            "{value:?}: only http:// is supported (the scraper is internal)"
        )));
    }
    let host = url.host_str().ok_or_else(|| error(format!("{value:?} has no host")))?;
    if url.path() != "/" || url.query().is_some() {
        return Err(error(format!("{value:?}: give only scheme, host and port")));
    }
    Ok(Upstream {
        host: host.trim_start_matches('[').trim_end_matches(']').to_string(),
        port: url.port_or_known_default().unwrap_or(80),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let vars: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_vars(move |name| vars.get(name).cloned())
    }

    #[test]
    fn defaults_match_the_documentation() {
        let config = config(&[]).unwrap();
        assert_eq!(config.listen, "0.0.0.0:8000".parse().unwrap());
        assert_eq!(config.metrics_listen, "0.0.0.0:9091".parse().unwrap());
        assert_eq!(
            config.redis,
            RedisSettings {
                mode: Mode::Single,
                urls: vec!["redis://127.0.0.1:6379".to_string()],
                ca: None,
                sentinels: Vec::new(),
            }
        );
        assert_eq!(
            config.scrapers,
            [Upstream {
                host: "127.0.0.1".into(),
                port: 8001
            }]
        );
        assert_eq!(
            config.scraper_intervals,
            Intervals {
                health: Duration::from_secs(2),
                resolve: Duration::from_secs(10)
            }
        );
        assert_eq!(config.cache_ttl, Duration::from_secs(604_800));
        let week = Duration::from_secs(604_800);
        assert_eq!(config.cache_ttl_pages, [week, week, week, Duration::from_secs(86_400)]);
        assert_eq!(config.redis_timeout, Duration::from_millis(100));
        assert_eq!(config.upstream_timeout, Duration::from_secs(50));
        assert_eq!(config.max_body_bytes, 65_536);
        assert_eq!(config.upstream_max_in_flight, 2);
        assert_eq!(config.upstream_global_max_in_flight, 2);
        assert_eq!(config.upstream_batch_max_in_flight, 1);
        assert_eq!(config.batch_max_rucs, 1000);
        assert_eq!(config.batch_timeout, Duration::from_secs(120));
        assert_eq!(config.upstream_queue_timeout, Duration::from_secs(10));
        assert_eq!(config.breaker_failures, 5);
        assert_eq!(config.breaker_open, Duration::from_secs(30));
        assert_eq!(config.stale_if_error, Duration::from_secs(604_800));
        assert_eq!(config.stale_while_revalidate, Duration::ZERO);
        assert_eq!(config.negative_ttl, Duration::from_secs(3600));
        assert_eq!(config.admin_token, None);
        assert_eq!(config.fleet_lease, Duration::from_secs(5));
        assert_eq!(
            config.client_timeouts,
            ClientTimeouts {
                header: Duration::from_secs(60),
                keepalive: Duration::from_secs(60)
            }
        );
        assert_eq!(config.drain_delay, Duration::from_secs(5));
        assert_eq!(config.l1_ttl, Duration::from_secs(1));
        assert_eq!(config.l1_capacity, 10_000);
        assert_eq!(config.l1_max_bytes, 32 << 20);
    }

    #[test]
    fn each_bad_value_names_its_variable() {
        for (variable, value) in [
            ("PROXY_LISTEN", ":8000"),
            ("METRICS_LISTEN", "metrics"),
            ("REDIS_URL", "http://redis"),
            ("REDIS_CA_FILE", "/nonexistent/ca.pem"),
            ("REDIS_MODE", "replicated"),
            ("REDIS_URL", "redis://a:1,redis://b:2"),
            ("REDIS_SENTINELS", "s1:26379"),
            ("SCRAPER_URL", "https://scraper:8001"),
            ("SCRAPER_URL", "http://scraper:8001/api"),
            ("SCRAPER_URL", "http://a:8001,"),
            ("SCRAPER_HEALTH_INTERVAL_SECS", "0"),
            ("SCRAPER_RESOLVE_INTERVAL_SECS", "0"),
            ("CACHE_TTL_SECONDS", "0"),
            ("CACHE_TTL_SECONDS_DEUDA_COACTIVA", "0"),
            ("CACHE_TTL_SECONDS_REPRESENTANTES", "a week"),
            ("REDIS_TIMEOUT_MS", "fast"),
            ("UPSTREAM_TIMEOUT_SECS", "-5"),
            ("CACHE_MAX_BODY_BYTES", "10"),
            ("UPSTREAM_MAX_INFLIGHT", "0"),
            ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "0"),
            ("UPSTREAM_QUEUE_TIMEOUT_SECS", "0"),
            ("UPSTREAM_BATCH_MAX_INFLIGHT", "0"),
            ("UPSTREAM_BATCH_MAX_INFLIGHT", "3"),
            ("BATCH_MAX_RUCS", "0"),
            ("BATCH_TIMEOUT_SECS", "0"),
            ("FLEET_LEASE_SECS", "61"),
            ("CLIENT_HEADER_TIMEOUT_SECS", "0"),
            ("KEEPALIVE_TIMEOUT_SECS", "forever"),
            ("PROXY_DRAIN_DELAY_SECS", "301"),
            ("BREAKER_FAILURES", "many"),
            ("BREAKER_OPEN_SECS", "0"),
            ("STALE_IF_ERROR_SECONDS", "-1"),
            ("STALE_WHILE_REVALIDATE_SECONDS", "604801"),
            ("NEGATIVE_TTL_SECONDS", "604801"),
            ("ADMIN_TOKEN", "short"),
            ("ADMIN_TOKEN", "${ADMIN_TOKEN:-}"),
            ("L1_TTL_MS", "1001"),
            ("L1_CAPACITY", "many"),
            ("L1_MAX_BYTES", "-1"),
        ] {
            let error = config(&[(variable, value)]).unwrap_err();
            assert_eq!(error.variable, variable, "{value}");
        }
    }

    #[test]
    fn batch_items_leave_single_lookups_a_slot_by_default() {
        let share = |global: &str| {
            config(&[("UPSTREAM_GLOBAL_MAX_INFLIGHT", global)])
                .unwrap()
                .upstream_batch_max_in_flight
        };
        assert_eq!((share("1"), share("2"), share("8")), (1, 1, 7));
        let set = config(&[
            ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "8"),
            ("UPSTREAM_BATCH_MAX_INFLIGHT", "8"),
        ]);
        assert_eq!(set.unwrap().upstream_batch_max_in_flight, 8);
    }

    #[test]
    fn a_ca_file_needs_tls_and_a_certificate() {
        let not_pem = std::env::temp_dir().join(format!("not-pem-{}", std::process::id()));
        std::fs::write(&not_pem, "hello").unwrap();
        let not_pem = not_pem.to_str().unwrap();
        for (url, file) in [("redis://r:6379", not_pem), ("rediss://r:6379", not_pem)] {
            let error = config(&[("REDIS_URL", url), ("REDIS_CA_FILE", file)]).unwrap_err();
            assert_eq!(error.variable, "REDIS_CA_FILE", "{url}");
        }
        std::fs::remove_file(not_pem).unwrap();
    }

    #[test]
    fn a_cluster_has_seed_nodes_and_sentinel_its_sentinels() {
        let cluster = config(&[
            ("REDIS_MODE", "cluster"),
            ("REDIS_URL", "redis://a:7001, redis://b:7002"),
        ])
        .unwrap();
        assert_eq!(cluster.redis.urls, ["redis://a:7001", "redis://b:7002"]);
        let sentinel = [("REDIS_MODE", "sentinel"), ("REDIS_URL", "redis://:secret@ruc/0")];
        assert_eq!(config(&sentinel).unwrap_err().variable, "REDIS_SENTINELS");
        let sentinel = config(&[sentinel[0], sentinel[1], ("REDIS_SENTINELS", "s1:26379,s2:26379")]).unwrap();
        assert_eq!(sentinel.redis.sentinels, ["s1:26379", "s2:26379"]);
    }

    #[test]
    fn scraper_url_gives_host_and_port() {
        let config = config(&[("SCRAPER_URL", "http://scraper:8001/")]).unwrap();
        assert_eq!(config.scrapers[0].authority(), "scraper:8001");
        let config = self::config(&[("SCRAPER_URL", "http://scraper")]).unwrap();
        assert_eq!(config.scrapers[0].port, 80);
        let config = self::config(&[("SCRAPER_URL", "http://a:8001, http://b:8002")]).unwrap();
        let authorities: Vec<String> = config.scrapers.iter().map(Upstream::authority).collect();
        assert_eq!(authorities, ["a:8001", "b:8002"]);
    }
}
