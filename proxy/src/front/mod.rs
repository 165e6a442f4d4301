//! The listener's first reader: hits answered before Pingora's proxy runs.
//!
//! Pingora's per-request machinery (a boxed session, the hooks, header
//! maps, the response serialised field by field) costs a cache hit more
//! than the rest of its work. The front reads each request off the
//! connection itself: a plain lookup ([`request::classify`]) whose answer
//! the cache holds fresh is written at once as bytes ([`wire`]), pipelined
//! answers in one write; any other request is lent to Pingora's
//! `HttpProxy` for exactly that request ([`lend`]), with the cache read
//! already made handed on ([`Store::read_ahead`]), and the connection
//! comes back for the next one. What the front cannot frame (a body, an
//! upgrade, TLS) makes the rest of the connection Pingora's.

mod lend;
mod request;
mod wire;

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Buf, BytesMut};
use pingora::apps::{HttpServerApp, ServerApp};
use pingora::protocols::http::ServerSession;
use pingora::protocols::l4::stream::Stream as TcpStream;
use pingora::protocols::Stream;
use pingora::proxy::HttpProxy;
use pingora::server::ShutdownWatch;
use pingora::time::fast_timeout::fast_timeout;
use ruc_contract::Ruc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::cache::store::{Lookup, Store};
use crate::lookup::outcome::{self, Read};
use crate::metrics::Metrics;
use crate::service::{self, RucProxy};
use lend::Lent;
use request::Request;

/// How long a connection may sit between requests, or in the middle of a
/// head, as Pingora's default keep-alive.
const KEEPALIVE: Duration = Duration::from_secs(60);
/// How long a client may take to accept an answer.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30);
/// Answers to pipelined requests go out together, up to this much.
const FLUSH_BYTES: usize = 64 * 1024;
/// What one read asks the socket for.
const READ_BYTES: usize = 4096;

/// The proxy listener's application: Pingora's proxy behind the hit path.
pub(crate) struct Front {
    proxy: Arc<HttpProxy<RucProxy>>,
    store: Arc<Store>,
    stale_while_revalidate: Duration,
    metrics: &'static Metrics,
}

impl Front {
    pub(crate) fn new(
        proxy: HttpProxy<RucProxy>,
        store: Arc<Store>,
        stale_while_revalidate: Duration,
        metrics: &'static Metrics,
    ) -> Front {
        Front {
            proxy: Arc::new(proxy),
            store,
            stale_while_revalidate,
            metrics,
        }
    }
}

#[async_trait]
impl ServerApp for Front {
    async fn process_new(self: &Arc<Self>, stream: Stream, shutdown: &ShutdownWatch) -> Option<Stream> {
        if stream.get_ssl_digest().is_some() || stream.selected_alpn_proto().is_some() {
            return self.proxy.process_new(stream, shutdown).await;
        }
        self.serve(stream, shutdown.clone()).await
    }

    async fn cleanup(&self) {
        ServerApp::cleanup(&*self.proxy).await
    }
}

impl Front {
    /// One plain HTTP/1 connection, request after request.
    async fn serve(self: &Arc<Self>, mut stream: Stream, mut shutdown: ShutdownWatch) -> Option<Stream> {
        let mut buf = BytesMut::with_capacity(READ_BYTES);
        let mut out = Vec::with_capacity(READ_BYTES);
        loop {
            match request::classify(&buf) {
                Request::Lookup { ruc, head_only, len } if !*shutdown.borrow() => {
                    let started = Instant::now();
                    let found = self.store.get(&ruc).await;
                    if self.write_hit(&ruc, &found, head_only, started, &mut out) {
                        buf.advance(len);
                        if out.len() >= FLUSH_BYTES {
                            flush(&mut stream, &mut out).await?;
                        }
                        continue;
                    }
                    let lend = self.lend(stream, &mut buf, len, &mut out, &shutdown);
                    stream = Store::read_ahead(ruc, found, lend).await?;
                }
                Request::Lookup { len, .. } | Request::Other { len } => {
                    stream = self.lend(stream, &mut buf, len, &mut out, &shutdown).await?;
                }
                Request::Partial => {
                    flush(&mut stream, &mut out).await?;
                    read_more(&mut stream, &mut buf, &mut shutdown).await?;
                }
                Request::Unusual => {
                    flush(&mut stream, &mut out).await?;
                    let stream = unread(stream, &buf)?;
                    return self.proxy.process_new(stream, &shutdown).await;
                }
            }
        }
    }

    /// Pingora's proxy answers the `len` bytes at the head of `buf`; the
    /// connection comes back with whatever Pingora read past them.
    async fn lend(
        self: &Arc<Self>,
        mut stream: Stream,
        buf: &mut BytesMut,
        len: usize,
        out: &mut Vec<u8>,
        shutdown: &ShutdownWatch,
    ) -> Option<Stream> {
        flush(&mut stream, out).await?;
        let request = buf.split_to(len).freeze();
        let mut session = ServerSession::new_http1(Box::new(Lent::new(stream, request)));
        session.set_keepalive((!*shutdown.borrow()).then_some(KEEPALIVE.as_secs()));
        let reused = self.proxy.process_new_http(session, shutdown).await?;
        let (stream, _settings) = reused.consume();
        let (stream, past_request) = stream.into_any().downcast::<Lent>().ok()?.into_parts();
        buf.extend_from_slice(&past_request);
        Some(stream)
    }

    /// Appends the answer to `out` when what the cache `found` is a hit,
    /// and counts and logs it as [`RucProxy`]'s hooks would; false for
    /// anything else (a miss, a stale record, Redis unavailable).
    fn write_hit(&self, ruc: &Ruc, found: &Lookup, head_only: bool, started: Instant, out: &mut Vec<u8>) -> bool {
        let Read::Hit { reply, not_found } = outcome::after_read(found.clone(), self.stale_while_revalidate) else {
            return false;
        };
        wire::encode(&reply, head_only, out);
        self.metrics.hit(not_found);
        service::answered(self.metrics, Some(ruc), "hit", reply.status, started.elapsed());
        true
    }
}

/// Writes the answers gathered so far.
async fn flush(stream: &mut Stream, out: &mut Vec<u8>) -> Option<()> {
    if out.is_empty() {
        return Some(());
    }
    let written = fast_timeout(WRITE_TIMEOUT, async {
        stream.write_all(out).await?;
        stream.flush().await
    })
    .await;
    out.clear();
    matches!(written, Ok(Ok(()))).then_some(())
}

/// Reads more of the connection; `None` when it closed, failed, stayed
/// silent too long, or the server shuts down between two requests.
async fn read_more(stream: &mut Stream, buf: &mut BytesMut, shutdown: &mut ShutdownWatch) -> Option<()> {
    buf.reserve(READ_BYTES);
    let between_requests = buf.is_empty();
    let read = fast_timeout(KEEPALIVE, stream.read_buf(buf));
    let read = if between_requests {
        tokio::select! {
            biased;
            read = read => read,
            _ = shutdown.changed() => return None,
        }
    } else {
        read.await
    };
    matches!(read, Ok(Ok(1..))).then_some(())
}

/// Puts what the front read back in front of the socket, for Pingora to
/// read as if the front had never looked.
fn unread(stream: Stream, buf: &[u8]) -> Option<Stream> {
    let mut tcp = stream.into_any().downcast::<TcpStream>().ok()?;
    tcp.rewind(buf);
    Some(tcp)
}
