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
//! - a request body (only batch requests have one) must arrive whole
//!   within `CLIENT_HEADER_TIMEOUT_SECS` of its head's end, and is read no
//!   further than its bound;
//! - while a long answer is prepared, the connection is watched, so that
//!   a client that hangs up cancels what only waited for it;
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

use super::head::{Framing, MAX_HEAD_BYTES};
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

/// Why a request's body could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Longer than allowed (413).
    TooLarge,
    /// Chunks that are not RFC 9112's (400).
    Malformed,
    /// Not whole in time (408).
    TimedOut,
    /// The client closed the connection first.
    Closed,
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
        self.make_room(MAX_HEAD_BYTES);
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

    /// The body that follows the head just consumed, framed as `framing`,
    /// at most `limit` bytes, within the head timeout from now. What
    /// follows it (a pipelined request) stays buffered.
    pub(crate) async fn read_body(&mut self, framing: Framing, limit: usize) -> Result<Vec<u8>, BodyError> {
        let deadline = Instant::now() + self.timeouts.header;
        // A chunked body may carry framing besides its bytes: bounded too.
        let bound = 2 * limit + READ_BYTES;
        loop {
            let buffered = self.buffered();
            let whole = match framing {
                Framing::None => Some((Vec::new(), 0)),
                Framing::Length(length) if length > limit as u64 => return Err(BodyError::TooLarge),
                Framing::Length(length) => {
                    let length = length as usize;
                    (buffered.len() >= length).then(|| (buffered[..length].to_vec(), length))
                }
                Framing::Chunked => match dechunk(buffered, limit) {
                    Dechunked::Whole { body, len } => Some((body, len)),
                    Dechunked::Partial => None,
                    Dechunked::TooLarge => return Err(BodyError::TooLarge),
                    Dechunked::Malformed => return Err(BodyError::Malformed),
                },
            };
            if let Some((body, len)) = whole {
                self.consume(len);
                return Ok(body);
            }
            if buffered.len() >= bound {
                return Err(BodyError::TooLarge);
            }
            self.make_room(bound);
            let wait = deadline.saturating_duration_since(Instant::now());
            match fast_timeout(wait, self.stream.read_buf(&mut self.buf)).await {
                Ok(Ok(1..)) => {}
                Ok(_) => return Err(BodyError::Closed),
                Err(_) => return Err(BodyError::TimedOut),
            }
        }
    }

    /// Resolves when the client closes the connection (or it fails) while
    /// its answer is prepared. What it sends meanwhile (pipelined
    /// requests) is kept, up to the head bound. Cancel-safe.
    pub(crate) async fn hung_up(&mut self) {
        loop {
            if self.buffered().len() >= MAX_HEAD_BYTES {
                return std::future::pending().await;
            }
            self.make_room(MAX_HEAD_BYTES);
            match self.stream.read_buf(&mut self.buf).await {
                Ok(1..) => {
                    self.head_began.get_or_insert_with(Instant::now);
                }
                Ok(0) | Err(_) => return,
            }
        }
    }

    /// Room for the next read: what is left of the buffer moves to its
    /// start, and the buffer grows (doubling) only as far as `bound` (an
    /// unfinished head's, or a body's).
    fn make_room(&mut self, bound: usize) {
        if self.start > 0 {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let len = self.buf.len();
        // What is read never reaches the bound (it is refused there).
        let want = bound.saturating_sub(len).min(READ_BYTES);
        if self.buf.capacity() - len < want {
            let capacity = (2 * self.buf.capacity()).clamp(len + want, bound);
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

    /// Adds the head of an answer whose body follows in parts
    /// ([`Connection::write_part`]), chunked unless the client speaks
    /// HTTP/1.0 (then the body ends with the connection).
    pub(crate) fn write_streamed_head(&mut self, reply: &Reply, chunked: bool, persistent: bool) {
        wire::encode_streamed_head(reply, chunked, persistent, &mut self.out);
    }

    /// Adds a part of a streamed body; an empty one ends a chunked body.
    pub(crate) fn write_part(&mut self, part: &[u8], chunked: bool) {
        wire::encode_part(part, chunked, &mut self.out);
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

/// What the start of a buffer holds of a chunked body.
#[derive(Debug, PartialEq, Eq)]
enum Dechunked {
    Partial,
    /// The body, and how many buffered bytes its chunks (and trailers)
    /// took.
    Whole {
        body: Vec<u8>,
        len: usize,
    },
    TooLarge,
    Malformed,
}

/// Decodes the chunked body at the start of `buf` (RFC 9112 §7.1),
/// extensions and trailers read and dropped; its bytes at most `limit`.
fn dechunk(buf: &[u8], limit: usize) -> Dechunked {
    let mut body = Vec::new();
    let mut at = 0;
    loop {
        let (used, size) = match httparse::parse_chunk_size(&buf[at..]) {
            Ok(httparse::Status::Complete(parsed)) => parsed,
            Ok(httparse::Status::Partial) => return Dechunked::Partial,
            Err(_) => return Dechunked::Malformed,
        };
        at += used;
        if size == 0 {
            return trailers(buf, at).map_or(Dechunked::Partial, |len| Dechunked::Whole { body, len });
        }
        if size > (limit - body.len()) as u64 {
            return Dechunked::TooLarge;
        }
        let end = at + size as usize;
        match buf.get(end..end + 2) {
            None => return Dechunked::Partial,
            Some(b"\r\n") => body.extend_from_slice(&buf[at..end]),
            Some(_) => return Dechunked::Malformed,
        }
        at = end + 2;
    }
}

/// The end of the trailer section that starts at `at` (after its empty
/// line), if it is whole.
fn trailers(buf: &[u8], mut at: usize) -> Option<usize> {
    loop {
        let line = buf[at..].windows(2).position(|pair| pair == b"\r\n")?;
        at += line + 2;
        if line == 0 {
            return Some(at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_are_decoded_with_extensions_and_trailers() {
        let text = b"4;ext=1\r\nWiki\r\n5\r\npedia\r\n0\r\nX-Trailer: 1\r\n\r\nGET /next";
        assert_eq!(
            dechunk(text, 100),
            Dechunked::Whole {
                body: b"Wikipedia".to_vec(),
                len: text.len() - b"GET /next".len()
            }
        );
        assert_eq!(dechunk(b"4\r\nWi", 100), Dechunked::Partial);
        assert_eq!(dechunk(b"4\r\nWiki\r\n0\r\n", 100), Dechunked::Partial);
        assert_eq!(dechunk(b"4\r\nWikiXX", 100), Dechunked::Malformed);
        assert_eq!(dechunk(b"zz\r\n", 100), Dechunked::Malformed);
        assert_eq!(dechunk(b"4\r\nWiki\r\n4\r\n", 6), Dechunked::TooLarge);
    }
}
