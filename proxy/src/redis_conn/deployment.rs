//! The kinds of Redis deployment `REDIS_MODE` selects, and how each is
//! connected to: one server (`redis://` or, over TLS, `rediss://`), a Redis
//! Cluster (its seed nodes; the client follows the slots), or a master
//! watched by Sentinel (found through the sentinels, and found again after a
//! failover: [`super::sentinel`]).
//!
//! Each gives two kinds of connection: [`Connection`] for commands, and
//! [`Subscriber`] (RESP3, messages pushed to a handler) for the fleet's
//! wake-ups, which a cluster shards by channel (`SSUBSCRIBE`); one server
//! gives a third, a plain RESP3 connection for `CLIENT TRACKING`
//! ([`Deployment::tracking_connection`]).

use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::cluster::{ClusterClient, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{MultipleNodeRoutingInfo, ResponsePolicy, RoutingInfo};
use redis::{AsyncConnectionConfig, Cmd, Pipeline, ProtocolVersion, PushInfo, RedisFuture, RedisResult, Value};
use tokio::sync::mpsc::UnboundedSender;

use super::sentinel::Sentinels;
use super::settings::{certificates, client, Mode, RedisSettings};

/// A deployment, ready to connect to.
#[derive(Clone)]
pub(crate) enum Deployment {
    Single(redis::Client),
    Cluster(ClusterClient),
    /// The master's client (its address as the sentinels last said) and the
    /// sentinels to ask again.
    Sentinel(redis::Client, Arc<Sentinels>),
}

/// A connection for commands, of any deployment; cheap to clone, connects
/// lazily and reconnects by itself.
#[derive(Clone)]
pub(crate) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// A RESP3 connection whose subscribed messages go to a push handler.
#[derive(Clone)]
pub(crate) enum Subscriber {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

/// Where pushed messages go.
pub(crate) type PushHandler = Arc<dyn Fn(PushInfo) + Send + Sync>;

impl Deployment {
    /// The deployment the settings name; an error names what is wrong.
    /// Nothing is connected yet (Sentinel asks its sentinels later).
    pub(crate) fn new(settings: &RedisSettings, timeout: Duration) -> RedisResult<Deployment> {
        let ca = settings.ca.as_deref();
        match settings.mode {
            Mode::Single => Ok(Deployment::Single(client(settings.urls[0].as_str(), ca)?)),
            Mode::Cluster => {
                let mut builder = ClusterClient::builder(settings.urls.iter().map(String::as_str))
                    .connection_timeout(timeout)
                    .response_timeout(timeout)
                    .retries(1);
                if let Some(pem) = ca {
                    builder = builder.certs(certificates(pem));
                }
                Ok(Deployment::Cluster(builder.build()?))
            }
            Mode::Sentinel => {
                let sentinels = Sentinels::new(settings, timeout)?;
                Ok(Deployment::Sentinel(
                    sentinels.unresolved_master()?,
                    Arc::new(sentinels),
                ))
            }
        }
    }

    /// `single`, `tls`, `cluster` or `sentinel`, for `/health`.
    pub(crate) fn mode(&self) -> &'static str {
        match self {
            Deployment::Single(client) if is_tls(client) => "tls",
            Deployment::Single(_) => "single",
            Deployment::Cluster(_) => "cluster",
            Deployment::Sentinel(..) => "sentinel",
        }
    }

    /// Where Redis is, never with the password, for logs.
    pub(crate) fn address(&self) -> String {
        match self {
            Deployment::Single(client) => client.get_connection_info().addr().to_string(),
            Deployment::Cluster(_) => "a Redis Cluster".to_string(),
            Deployment::Sentinel(client, sentinels) => format!(
                "master {} at {} (sentinels {})",
                sentinels.master_name(),
                client.get_connection_info().addr(),
                sentinels.addresses()
            ),
        }
    }

    /// A command connection, bounded by `timeout` per call.
    pub(crate) fn connect(&self, timeout: Duration) -> RedisResult<Connection> {
        match self {
            Deployment::Single(client) | Deployment::Sentinel(client, _) => {
                ConnectionManager::new_lazy_with_config(client.clone(), manager_config(timeout)).map(Connection::Single)
            }
            Deployment::Cluster(client) => Ok(Connection::Cluster(
                client.get_pending_async_connection_with_config(cluster_config(timeout)),
            )),
        }
    }

    /// A subscribing connection whose messages go to `handler`.
    pub(crate) fn subscriber(&self, timeout: Duration, handler: PushHandler) -> RedisResult<Subscriber> {
        let sender = move |message: PushInfo| -> Result<(), std::convert::Infallible> {
            handler(message);
            Ok(())
        };
        match self {
            Deployment::Single(client) | Deployment::Sentinel(client, _) => {
                let client = resp3(client)?;
                let config = manager_config(timeout)
                    .set_automatic_resubscription()
                    .set_push_sender(sender);
                ConnectionManager::new_lazy_with_config(client, config).map(Subscriber::Single)
            }
            Deployment::Cluster(client) => {
                let config = cluster_config(timeout).set_push_sender(sender);
                Ok(Subscriber::Cluster(
                    client.get_pending_async_connection_with_config(config),
                ))
            }
        }
    }

    /// A RESP3 connection of its own whose pushed messages (invalidations,
    /// and the client's notice that it lost the connection) go to `pushes`;
    /// `None` in a cluster, where each master tracks only its own keys.
    pub(crate) async fn tracking_connection(
        &self,
        timeout: Duration,
        pushes: UnboundedSender<PushInfo>,
    ) -> Option<RedisResult<MultiplexedConnection>> {
        let (Deployment::Single(client) | Deployment::Sentinel(client, _)) = self else {
            return None;
        };
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_push_sender(pushes);
        let connect = async {
            resp3(client)?
                .get_multiplexed_async_connection_with_config(&config)
                .await
        };
        Some(connect.await)
    }

    /// The command that publishes to the subscribers of [`Subscriber`].
    pub(crate) fn publish_command(&self) -> &'static str {
        match self {
            Deployment::Cluster(_) => "SPUBLISH",
            _ => "PUBLISH",
        }
    }
}

/// The same server, spoken to in RESP3 (pushed messages need it).
fn resp3(client: &redis::Client) -> RedisResult<redis::Client> {
    let info = client.get_connection_info().clone();
    let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
    redis::Client::open(info.set_redis_settings(resp3))
}

fn is_tls(client: &redis::Client) -> bool {
    matches!(
        client.get_connection_info().addr(),
        redis::ConnectionAddr::TcpTls { .. }
    )
}

fn manager_config(timeout: Duration) -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(timeout))
        .set_response_timeout(Some(timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_secs(1))
}

fn cluster_config(timeout: Duration) -> ClusterConfig {
    ClusterConfig::new()
        .set_connection_timeout(timeout)
        .set_response_timeout(timeout)
}

impl Subscriber {
    /// `SUBSCRIBE` (in a cluster, `SSUBSCRIBE`) or the reverse.
    pub(crate) async fn subscription(&mut self, channel: &str, subscribe: bool) -> RedisResult<()> {
        match (self, subscribe) {
            (Subscriber::Single(connection), true) => connection.subscribe(channel).await,
            (Subscriber::Single(connection), false) => connection.unsubscribe(channel).await,
            (Subscriber::Cluster(connection), true) => connection.ssubscribe(channel).await,
            (Subscriber::Cluster(connection), false) => connection.sunsubscribe(channel).await,
        }
    }
}

impl Connection {
    /// `PING`. A cluster is up while any master answers: the slots of a
    /// master that is down only miss, so the others must stay in use.
    pub(crate) async fn ping(&mut self) -> RedisResult<()> {
        match self {
            Connection::Single(connection) => redis::cmd("PING").query_async(connection).await,
            Connection::Cluster(connection) => {
                let any_master =
                    RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, Some(ResponsePolicy::OneSucceeded)));
                connection.route_command(redis::cmd("PING"), any_master).await.map(drop)
            }
        }
    }
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}
