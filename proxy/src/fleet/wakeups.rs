//! Wake-ups through Redis pub/sub: a replica waiting for another's lookup,
//! or for a fleet-wide slot, is woken by a message on a channel instead of
//! polling often. Messages can be lost (a reconnect, a failover), so every
//! waiter also polls, slowly: the message only shortens the wait.
//!
//! One RESP3 connection per process carries every subscription; its
//! messages are handed to the waiters of their channel through a
//! [`Notify`]. A channel stays subscribed while someone watches it.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ProtocolVersion, PushInfo, PushKind};
use tokio::sync::Notify;
use tokio::time::Instant;
use tracing::debug;

use crate::redis_conn::RedisConn;

/// The process's subscriptions and their waiters.
#[derive(Clone)]
pub(crate) struct Wakeups(Arc<Inner>);

/// What the [`Wakeups`] handles share.
struct Inner {
    /// The client, speaking RESP3 (pushed messages need it).
    client: redis::Client,
    connection: OnceLock<ConnectionManager>,
    timeout: Duration,
    channels: Arc<Mutex<HashMap<String, Watched>>>,
}

/// A channel being watched: whom to wake, and by how many waiters.
struct Watched {
    notify: Arc<Notify>,
    watchers: usize,
}

/// A waiter's hold on a channel; unsubscribes the last one when dropped.
pub(crate) struct Watch {
    channel: String,
    notify: Arc<Notify>,
    wakeups: Wakeups,
}

impl Wakeups {
    pub(crate) fn new(redis: &RedisConn) -> Wakeups {
        let info = redis.client().get_connection_info().clone();
        let resp3 = info.redis_settings().clone().set_protocol(ProtocolVersion::RESP3);
        let client = redis::Client::open(info.set_redis_settings(resp3)).expect("the same URL, in RESP3");
        Wakeups(Arc::new(Inner {
            client,
            connection: OnceLock::new(),
            timeout: redis.timeout(),
            channels: Arc::default(),
        }))
    }

    /// Watches `channel`, subscribing to it unless someone already does. A
    /// failed subscription is not an error: the waiter then only polls.
    pub(crate) async fn watch(&self, channel: &str) -> Watch {
        let (notify, first) = {
            let mut channels = self.0.channels.lock().expect("wakeups lock");
            let watched = channels.entry(channel.to_string()).or_insert_with(|| Watched {
                notify: Arc::new(Notify::new()),
                watchers: 0,
            });
            watched.watchers += 1;
            (watched.notify.clone(), watched.watchers == 1)
        };
        if first {
            self.subscription(channel, true).await;
        }
        Watch {
            channel: channel.to_string(),
            notify,
            wakeups: self.clone(),
        }
    }

    /// `SUBSCRIBE` or `UNSUBSCRIBE`, bounded by the Redis timeout.
    async fn subscription(&self, channel: &str, subscribe: bool) {
        let Some(mut connection) = self.connection() else {
            return;
        };
        let call = async {
            if subscribe {
                connection.subscribe(channel).await
            } else {
                connection.unsubscribe(channel).await
            }
        };
        match tokio::time::timeout(self.0.timeout, call).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => debug!(%error, channel, subscribe, "pub/sub call failed"),
            Err(_) => debug!(channel, subscribe, "pub/sub call timed out"),
        }
    }

    /// The subscribing connection, made on first use; it reconnects and
    /// subscribes again by itself.
    fn connection(&self) -> Option<ConnectionManager> {
        if let Some(connection) = self.0.connection.get() {
            return Some(connection.clone());
        }
        let channels = self.0.channels.clone();
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.0.timeout))
            .set_response_timeout(Some(self.0.timeout))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_secs(1))
            .set_automatic_resubscription()
            .set_push_sender(move |message: PushInfo| -> Result<(), Infallible> {
                deliver(&channels, message);
                Ok(())
            });
        match ConnectionManager::new_lazy_with_config(self.0.client.clone(), config) {
            Ok(connection) => Some(self.0.connection.get_or_init(|| connection).clone()),
            Err(error) => {
                debug!(%error, "no pub/sub connection");
                None
            }
        }
    }
}

/// Wakes the waiters of the channel a message came on.
fn deliver(channels: &Mutex<HashMap<String, Watched>>, message: PushInfo) {
    if !matches!(message.kind, PushKind::Message | PushKind::SMessage) {
        return;
    }
    let Some(Ok(channel)) = message.data.first().map(redis::from_redis_value_ref::<String>) else {
        return;
    };
    if let Some(watched) = channels.lock().expect("wakeups lock").get(&channel) {
        watched.notify.notify_waiters();
    }
}

impl Watch {
    /// Runs `check` until it gives a value, then returns it; `None` at
    /// `deadline`. Between checks it waits for a message on the channel,
    /// or `poll` at most.
    pub(crate) async fn until<T, F, Fut>(&self, deadline: Instant, poll: Duration, mut check: F) -> Option<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        loop {
            // Listen before checking, so that a message in between counts.
            let message = self.notify.notified();
            tokio::pin!(message);
            message.as_mut().enable();
            if let Some(value) = check().await {
                return Some(value);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            tokio::select! {
                _ = message => {}
                _ = tokio::time::sleep(poll.min(deadline - now)) => {}
            }
        }
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut channels = self.wakeups.0.channels.lock().expect("wakeups lock");
        let Some(watched) = channels.get_mut(&self.channel) else {
            return;
        };
        watched.watchers -= 1;
        if watched.watchers > 0 {
            return;
        }
        channels.remove(&self.channel);
        drop(channels);
        let (wakeups, channel) = (self.wakeups.clone(), std::mem::take(&mut self.channel));
        tokio::spawn(async move { wakeups.subscription(&channel, false).await });
    }
}
