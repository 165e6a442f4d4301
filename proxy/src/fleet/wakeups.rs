//! Wake-ups through Redis pub/sub: a replica waiting for another's lookup,
//! or for a fleet-wide slot, is woken by a message on a channel instead of
//! polling often. Messages can be lost (a reconnect, a failover), so every
//! waiter also polls, slowly: the message only shortens the wait.
//!
//! One RESP3 connection per process carries every subscription (sharded by
//! channel in a cluster); its messages are handed to the waiters of their
//! channel through a [`Notify`]. A channel stays subscribed while someone
//! watches it.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use redis::{PushInfo, PushKind};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::redis_conn::RedisConn;

/// The process's subscriptions and their waiters.
#[derive(Clone)]
pub(crate) struct Wakeups {
    redis: Arc<RedisConn>,
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
    /// Takes the messages of `redis`'s subscribing connection.
    pub(crate) fn new(redis: Arc<RedisConn>) -> Wakeups {
        let channels: Arc<Mutex<HashMap<String, Watched>>> = Arc::default();
        let delivered = channels.clone();
        redis.set_push_handler(Arc::new(move |message| deliver(&delivered, message)));
        Wakeups { redis, channels }
    }

    /// Watches `channel`, subscribing to it unless someone already does. A
    /// failed subscription is not an error: the waiter then only polls.
    pub(crate) async fn watch(&self, channel: &str) -> Watch {
        let (notify, first) = {
            let mut channels = self.channels.lock().expect("wakeups lock");
            let watched = channels.entry(channel.to_string()).or_insert_with(|| Watched {
                notify: Arc::new(Notify::new()),
                watchers: 0,
            });
            watched.watchers += 1;
            (watched.notify.clone(), watched.watchers == 1)
        };
        if first {
            self.redis.subscription(channel, true).await;
        }
        Watch {
            channel: channel.to_string(),
            notify,
            wakeups: self.clone(),
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
        let mut channels = self.wakeups.channels.lock().expect("wakeups lock");
        let Some(watched) = channels.get_mut(&self.channel) else {
            return;
        };
        watched.watchers -= 1;
        if watched.watchers > 0 {
            return;
        }
        channels.remove(&self.channel);
        drop(channels);
        let (redis, channel) = (self.wakeups.redis.clone(), std::mem::take(&mut self.channel));
        tokio::spawn(async move { redis.subscription(&channel, false).await });
    }
}
