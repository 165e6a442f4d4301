//! One client connection: the socket, what was read from it and not yet
//! used, and the answers not yet written. It owns the connection's
//! deadlines and bounds, so that no client holds more than they allow:
//!
//! - between requests the connection is idle, and closes without a word
//!   after `KEEPALIVE_TIMEOUT_SECS`; so does one that has sent nothing yet,
//!   when the process closes its connections ([`crate::drain`]);
//! - a request head must arrive whole within `CLIENT_HEADER_TIMEOUT_SECS`
//!   of its first byte (of the connection's start, for the first one), or
//!   it gets a 408;
//! - what an unfinished head holds is bounded by [`MAX_HEAD_BYTES`] (then
//!   a 431), in a buffer that grows only as far as that;
//! - a client that does not take its answers within [`WRITE_TIMEOUT`]
//!   loses the connection;
//! - a connection closed after an answer lingers a moment ([`LINGER`]) to
//!   drop what the client still sends, as nginx does, so that its kernel
//!   does not answer the close with a reset that could discard the answer.

use std::time::{Duration, Instant};

use pingora::protocols::Stream;
use pingora::time::fast_timeout::fast_timeout;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;
use tracing::debug;

use super::head::MAX_HEAD_BYTES;
use super::wire;
use crate::responses::Reply;

/// How long a client may take to accept an answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// What one read asks the socket for, at most.
const READ_BYTES: usize = 4096;
/// Answers waiting to be written are sent once they reach this much.
pub(crate) const FLUSH_BYTES: usize = 64 * 1024;
/// How long, and for how many bytes at most, a closing connection reads
/// and drops what the client still sends.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// `CLIENT_HEADER_TIMEOUT_SECS` and `KEEPALIVE_TIMEOUT_SECS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClientTimeouts {
    /// The longest a request head may take to arrive whole.
    pub(crate) header: Duration,
    /// The longest a connection may sit idle between requests.
    pub(crate) keepalive: Duration,
}

/// A client connection and its buffers.
pub(crate) struct Connection {
    stream: Stream,
    /// What was read: `buf[start..]` is not used yet (the head being read,
    /// or pipelined requests).
    buf: Vec<u8>,
    start: usize,
    /// Answers not yet written.
    out: Vec<u8>,
    /// When the head being read began: the connection's start for its first
    /// request, its first byte's arrival for later ones; `None` while the
    /// connection is idle between requests.
    head_began: Option<Instant>,
    timeouts: ClientTimeouts,
}

/// Why a connection stops reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stop {
    /// The client closed it or broke it, it stayed idle too long, or the
    /// server stops between two requests: closed without a word.
    Closed,
    /// A head did not arrive whole in time: answered 408, then closed.
    HeadTimedOut,
}

impl Connection {
    pub(crate) fn new(stream: Stream, timeouts: ClientTimeouts) -> Connection {
        Connection {
            stream,
            buf: Vec::new(),
            start: 0,
            out: Vec::new(),
            head_began: Some(Instant::now()),
            timeouts,
        }
    }

    /// What was read and not used yet.
    pub(crate) fn buffered(&self) -> &[u8] {
        &self.buf[self.start..]
    }

    /// The next `len` buffered bytes are used (a whole head). The next
    /// head's clock starts now if some of it is already here.
    pub(crate) fn consume(&mut self, len: usize) {
        self.start += len;
        if self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
            self.head_began = None;
        } else {
            self.head_began = Some(Instant::now());
        }
    }

    /// Reads more of the connection, within the deadline of the head being
    /// read (or of the idle wait). Nothing is read past [`MAX_HEAD_BYTES`]
    /// of an unfinished head. A connection with no part of a request
    /// received (idle, or new and silent) ends when `closing` turns true
    /// ([`crate::drain`]).
    pub(crate) async fn read_more(&mut self, closing: &mut watch::Receiver<bool>) -> Result<(), Stop> {
        let idle = self.head_began.is_none();
        if idle {
            self.release_memory();
        }
        let silent = self.buffered().is_empty();
        if silent && *closing.borrow() {
            return Err(Stop::Closed);
        }
        let deadline = match self.head_began {
            Some(began) => began + self.timeouts.header,
            None => Instant::now() + self.timeouts.keepalive,
        };
        self.make_room();
        let wait = deadline.saturating_duration_since(Instant::now());
        let read = fast_timeout(wait, self.stream.read_buf(&mut self.buf));
        let read = if silent {
            tokio::select! {
                biased;
                read = read => read,
                _ = closing.wait_for(|closing| *closing) => return Err(Stop::Closed),
            }
        } else {
            read.await
        };
        match read {
            Ok(Ok(1..)) => {
                self.head_began.get_or_insert_with(Instant::now);
                Ok(())
            }
            Ok(Ok(0)) => Err(Stop::Closed),
            Ok(Err(error)) => {
                debug!(%error, "client connection failed");
                Err(Stop::Closed)
            }
            Err(_) if self.buffered().is_empty() => Err(Stop::Closed),
            Err(_) => Err(Stop::HeadTimedOut),
        }
    }

    /// Room for the next read: what is left of the buffer moves to its
    /// start, and the buffer grows (doubling) only as far as an unfinished
    /// head may go.
    fn make_room(&mut self) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        // An unfinished head never reaches the bound (it is refused there).
        let want = MAX_HEAD_BYTES.saturating_sub(len).min(READ_BYTES);
        if self.buf.capacity() - len < want {
            let capacity = (2 * self.buf.capacity()).clamp(len + want, MAX_HEAD_BYTES);
            self.buf.reserve_exact(capacity - len);
        }
    }

    /// An idle connection keeps small buffers only: a large head or a burst
    /// of pipelined answers does not hold memory while nothing happens.
    fn release_memory(&mut self) {
        if self.buf.capacity() > READ_BYTES {
            self.buf = Vec::new();
        }
        if self.out.capacity() > READ_BYTES {
            self.out = Vec::new();
        }
    }

    /// Adds an answer to those waiting to be written.
    pub(crate) fn write(&mut self, reply: &Reply, head_only: bool, persistent: bool) {
        wire::encode(reply, head_only, persistent, &mut self.out);
    }

    /// How much is waiting to be written.
    pub(crate) fn unwritten(&self) -> usize {
        self.out.len()
    }

    /// Writes the answers gathered so far; false when the client did not
    /// take them in time, or the connection failed.
    pub(crate) async fn flush(&mut self) -> bool {
        if self.out.is_empty() {
            return true;
        }
        let written = fast_timeout(WRITE_TIMEOUT, async {
            self.stream.write_all(&self.out).await?;
            self.stream.flush().await
        })
        .await;
        self.out.clear();
        match written {
            Ok(Ok(())) => true,
            Ok(Err(error)) => {
                debug!(%error, "an answer could not be written");
                false
            }
            Err(_) => {
                debug!(timeout = ?WRITE_TIMEOUT, "the client did not take its answer in time");
                false
            }
        }
    }

    /// Ends the connection after its last answer: the answers written, the
    /// writing side closed, then what the client still sends read and
    /// dropped for a moment.
    pub(crate) async fn close(mut self) {
        if !self.flush().await {
            return;
        }
        if self.stream.shutdown().await.is_err() {
            return;
        }
        let mut dropped = 0;
        let mut sink = [0u8; READ_BYTES];
        let _ = fast_timeout(LINGER, async {
            while dropped < LINGER_BYTES {
                match self.stream.read(&mut sink).await {
                    Ok(read @ 1..) => dropped += read,
                    _ => return,
                }
            }
        })
        .await;
    }
}
