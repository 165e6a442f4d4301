//! Redis Sentinel: the sentinels say where the master is. The redis crate's
//! own Sentinel client does not follow a failover (redis-rs#1438), so the
//! proxy asks again on every health check (each second) and moves its
//! connections when the answer changes; until then a demoted master answers
//! writes with `READONLY`, which count as Redis errors (fail-open).

use std::time::Duration;

use redis::{AsyncConnectionConfig, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisResult};
use tracing::debug;

use super::settings::{client, RedisSettings};

/// The sentinels of one master, and how to reach that master.
pub(crate) struct Sentinels {
    sentinels: Vec<redis::Client>,
    /// The master's name as the sentinels know it (`REDIS_URL`'s host).
    master_name: String,
    /// `REDIS_URL`: the master's scheme, credentials and database.
    master_info: ConnectionInfo,
    ca: Option<Vec<u8>>,
    timeout: Duration,
}

impl Sentinels {
    pub(crate) fn new(settings: &RedisSettings, timeout: Duration) -> RedisResult<Sentinels> {
        let master_info = settings.urls[0].as_str().into_connection_info()?;
        let (master_name, tls) = match master_info.addr() {
            ConnectionAddr::Tcp(host, _) => (host.clone(), false),
            ConnectionAddr::TcpTls { host, .. } => (host.clone(), true),
            _ => {
                return Err(redis::RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "no master name",
                )))
            }
        };
        let scheme = if tls { "rediss" } else { "redis" };
        let sentinels = settings
            .sentinels
            .iter()
            .map(|address| client(format!("{scheme}://{address}").as_str(), settings.ca.as_deref()))
            .collect::<RedisResult<_>>()?;
        Ok(Sentinels {
            sentinels,
            master_name,
            master_info,
            ca: settings.ca.clone(),
            timeout,
        })
    }

    pub(crate) fn master_name(&self) -> &str {
        &self.master_name
    }

    /// The sentinels' addresses, for logs.
    pub(crate) fn addresses(&self) -> String {
        let addresses: Vec<String> = self
            .sentinels
            .iter()
            .map(|s| s.get_connection_info().addr().to_string())
            .collect();
        addresses.join(",")
    }

    /// A client for the master before any sentinel was asked: its calls
    /// fail (the master's name is not an address) until the first health
    /// check finds the master.
    pub(crate) fn unresolved_master(&self) -> RedisResult<redis::Client> {
        self.master_at(&self.master_name, 1)
    }

    /// A client for the master the sentinels name now, if it is not
    /// `current`'s; `None` when it is, or no sentinel answered.
    pub(crate) async fn master_if_moved(&self, current: &redis::Client) -> Option<RedisResult<redis::Client>> {
        let (host, port) = self.ask().await?;
        let unchanged = match current.get_connection_info().addr() {
            ConnectionAddr::Tcp(h, p) | ConnectionAddr::TcpTls { host: h, port: p, .. } => *h == host && *p == port,
            _ => false,
        };
        (!unchanged).then(|| self.master_at(&host, port))
    }

    /// The first answer of a sentinel to `SENTINEL get-master-addr-by-name`.
    async fn ask(&self) -> Option<(String, u16)> {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout));
        for sentinel in &self.sentinels {
            let asked = async {
                let mut connection = sentinel.get_multiplexed_async_connection_with_config(&config).await?;
                redis::cmd("SENTINEL")
                    .arg("get-master-addr-by-name")
                    .arg(&self.master_name)
                    .query_async::<Option<(String, u16)>>(&mut connection)
                    .await
            };
            match tokio::time::timeout(self.timeout * 2, asked).await {
                Ok(Ok(Some(address))) => return Some(address),
                Ok(Ok(None)) => {
                    debug!(sentinel = %sentinel.get_connection_info().addr(), "the sentinel knows no such master")
                }
                Ok(Err(error)) => debug!(%error, "a sentinel did not answer"),
                Err(_) => debug!("a sentinel did not answer in time"),
            }
        }
        None
    }

    /// The master's client at `host:port`, with `REDIS_URL`'s scheme,
    /// credentials and database.
    fn master_at(&self, host: &str, port: u16) -> RedisResult<redis::Client> {
        let addr = match self.master_info.addr() {
            ConnectionAddr::TcpTls { insecure, .. } => ConnectionAddr::TcpTls {
                host: host.to_string(),
                port,
                insecure: *insecure,
                tls_params: None,
            },
            _ => ConnectionAddr::Tcp(host.to_string(), port),
        };
        client(self.master_info.clone().set_addr(addr), self.ca.as_deref())
    }
}
