//! One client connection driven byte by byte: for what HTTP client
//! libraries never do (pipelining, a head in pieces, a request sent while
//! the previous answer is still due), and to see when the proxy closes it.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::proxy::Proxy;

/// Bound on one answer; only hit when the proxy hangs.
const ANSWER_WITHIN: Duration = Duration::from_secs(30);

/// A raw HTTP/1.1 connection to the proxy.
pub struct RawConnection {
    socket: TcpStream,
    received: Vec<u8>,
}

/// One answer as it came on the wire.
#[derive(Debug)]
pub struct RawAnswer {
    pub status: u16,
    /// The head, without the status line: `name: value` lines.
    pub head: String,
    pub body: String,
}

impl RawAnswer {
    /// A header's value (names compared without case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (field, value) = line.split_once(':')?;
            field.eq_ignore_ascii_case(name).then(|| value.trim())
        })
    }
}

/// `GET` (or another method) of `path`, HTTP/1.1 with a `Host`.
pub fn request(method: &str, path: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: ruc\r\n\r\n")
}

impl RawConnection {
    pub async fn open(proxy: &Proxy) -> RawConnection {
        let address = proxy.base.trim_start_matches("http://");
        RawConnection {
            socket: TcpStream::connect(address)
                .await
                .expect("the proxy accepts connections"),
            received: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &str) {
        self.socket.write_all(bytes.as_bytes()).await.expect("the proxy reads");
    }

    /// The next answer; `head_only` for the answer to a HEAD request.
    pub async fn answer(&mut self, head_only: bool) -> RawAnswer {
        let head_end = loop {
            if let Some(end) = find(&self.received, b"\r\n\r\n") {
                break end;
            }
            self.read_some().await;
        };
        let head = String::from_utf8(self.received[..head_end].to_vec()).expect("an ASCII head");
        let (status_line, fields) = head.split_once("\r\n").unwrap_or((&head, ""));
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|code| code.parse().ok())
            .unwrap_or_else(|| panic!("a status line: {status_line}"));
        let mut answer = RawAnswer {
            status,
            head: fields.replace("\r\n", "\n"),
            body: String::new(),
        };
        let length: usize = answer
            .header("content-length")
            .map_or(0, |length| length.parse().expect("a numeric Content-Length"));
        let length = if head_only { 0 } else { length };
        while self.received.len() < head_end + 4 + length {
            self.read_some().await;
        }
        let body = self.received[head_end + 4..head_end + 4 + length].to_vec();
        answer.body = String::from_utf8(body).expect("a UTF-8 body");
        self.received.drain(..head_end + 4 + length);
        answer
    }

    /// Whether the proxy closed the connection (after what was received).
    pub async fn closed(&mut self) -> bool {
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout(ANSWER_WITHIN, self.socket.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => true,
            Ok(Ok(read)) => panic!("more bytes: {}", String::from_utf8_lossy(&chunk[..read])),
            Err(_) => false,
        }
    }

    async fn read_some(&mut self) {
        let mut chunk = [0u8; 65536];
        let read = tokio::time::timeout(ANSWER_WITHIN, self.socket.read(&mut chunk))
            .await
            .expect("the answer comes without the client sending more")
            .expect("the connection stays up");
        assert!(read > 0, "closed after {}", String::from_utf8_lossy(&self.received));
        self.received.extend_from_slice(&chunk[..read]);
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|window| window == needle)
}
