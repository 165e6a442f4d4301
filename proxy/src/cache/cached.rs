//! An answer read from the cache, with what `Age` and `Cache-Status` say
//! about it. Its own module because both the Redis store and the in-process
//! copy hand it out.

use std::time::Duration;

use bytes::Bytes;

/// An answer found in Redis (or in the L1 copy of a Redis read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cached {
    pub(crate) body: Bytes,
    /// Time since it was stored (`Age`).
    pub(crate) age: Duration,
    /// Freshness left in milliseconds; negative once stale (RFC 9211's
    /// `ttl`, which may be negative too).
    pub(crate) ttl_ms: i64,
}

impl Cached {
    /// Freshness left, zero once stale.
    pub(crate) fn fresh_for(&self) -> Duration {
        Duration::from_millis(self.ttl_ms.max(0) as u64)
    }

    /// The same answer `elapsed` later.
    pub(crate) fn aged(mut self, elapsed: Duration) -> Cached {
        self.age += elapsed;
        self.ttl_ms -= elapsed.as_millis() as i64;
        self
    }
}
