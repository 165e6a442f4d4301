//! Lending a connection to Pingora for exactly one request.
//!
//! The front has already read that request (and maybe more: pipelined
//! requests). Pingora's proxy reads its request from the connection
//! itself, so it gets a [`Lent`] connection: reads give the request's
//! bytes first, then the socket; every byte Pingora reads past the request
//! (its idle probe while the scraper works, the start of a pipelined
//! request) is also kept here. When Pingora hands the connection back, the
//! front takes the socket and those bytes and reads on, without depending
//! on Pingora's private copy of them.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Buf, Bytes, BytesMut};
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl, Stream, TimingDigest,
    UniqueID, UniqueIDType,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection lent to Pingora for one request.
#[derive(Debug)]
pub(crate) struct Lent {
    inner: Stream,
    /// What is left of the request for Pingora to read.
    request: Bytes,
    /// What Pingora read from the socket after the request.
    past_request: BytesMut,
}

impl Lent {
    pub(crate) fn new(inner: Stream, request: Bytes) -> Lent {
        Lent {
            inner,
            request,
            past_request: BytesMut::new(),
        }
    }

    /// The socket, and the bytes read from it past the request.
    pub(crate) fn into_parts(self) -> (Stream, BytesMut) {
        (self.inner, self.past_request)
    }
}

impl AsyncRead for Lent {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.request.has_remaining() {
            let n = this.request.len().min(buf.remaining());
            buf.put_slice(&this.request[..n]);
            this.request.advance(n);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = polled {
            this.past_request.extend_from_slice(&buf.filled()[before..]);
        }
        polled
    }
}

impl AsyncWrite for Lent {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[async_trait]
impl Shutdown for Lent {
    async fn shutdown(&mut self) {
        self.inner.shutdown().await
    }
}

impl UniqueID for Lent {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

/// The front lends plain TCP connections only (TLS ones are Pingora's
/// from the start).
impl Ssl for Lent {}

impl GetTimingDigest for Lent {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Lent {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }
}

impl GetSocketDigest for Lent {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }
}

/// Not peekable: Pingora peeks only for an HTTP/2 preface, before a
/// connection would ever be lent.
impl Peek for Lent {}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn reads_give_the_request_then_the_socket_and_keep_what_follows() {
        let (ours, mut client) = tokio::io::duplex(64);
        let mut lent = Lent::new(Box::new(ours), Bytes::from_static(b"GET / HTTP/1.1\r\n\r\n"));
        client.write_all(b"NEXT").await.unwrap();
        let mut read = vec![0; 64];
        let n = lent.read(&mut read).await.unwrap();
        assert_eq!(&read[..n], b"GET / HTTP/1.1\r\n\r\n");
        let n = lent.read(&mut read).await.unwrap();
        assert_eq!(&read[..n], b"NEXT");
        lent.write_all(b"answer").await.unwrap();
        let (_, past) = lent.into_parts();
        assert_eq!(&past[..], b"NEXT");
        let n = client.read(&mut read).await.unwrap();
        assert_eq!(&read[..n], b"answer");
    }
}
