//! An answer as bytes on the wire: the status line, the [`Reply`]'s
//! headers, `Content-Length`, `Date` and `Connection`, then the body,
//! written straight into the connection's output buffer; or, for an answer
//! whose body is sent as it comes (a batch's lines), its head and then its
//! parts, chunked (RFC 9112 §7.1).

use http::StatusCode;
use pingora::protocols::http::date::get_cached_date;

use crate::responses::Reply;

/// Appends `reply` to `out` as an HTTP/1.1 answer; its head only when
/// `head_only` (HEAD); `persistent` says whether the connection stays open
/// after it. The header values are the proxy's own or a scraper's, never a
/// client's.
pub(crate) fn encode(reply: &Reply, head_only: bool, persistent: bool, out: &mut Vec<u8>) {
    status_and_headers(reply, out);
    header(
        out,
        "Content-Length",
        itoa::Buffer::new().format(reply.body.len()).as_bytes(),
    );
    end_of_head(persistent, out);
    if !head_only {
        out.extend_from_slice(&reply.body);
    }
}

/// Appends the head of `reply` (its body is ignored) for a body sent in
/// parts: chunked, or (HTTP/1.0) ending when the connection closes.
pub(crate) fn encode_streamed_head(reply: &Reply, chunked: bool, persistent: bool, out: &mut Vec<u8>) {
    status_and_headers(reply, out);
    if chunked {
        header(out, "Transfer-Encoding", b"chunked");
    }
    end_of_head(persistent, out);
}

/// Appends a part of a streamed body: one chunk (an empty one ends the
/// body), or the bytes as they are.
pub(crate) fn encode_part(part: &[u8], chunked: bool, out: &mut Vec<u8>) {
    if !chunked {
        out.extend_from_slice(part);
        return;
    }
    out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
    out.extend_from_slice(part);
    out.extend_from_slice(b"\r\n");
}

fn status_and_headers(reply: &Reply, out: &mut Vec<u8>) {
    let status = StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &reply.headers {
        header(out, name, value.as_bytes());
    }
}

/// `Date`, `Connection` and the empty line.
fn end_of_head(persistent: bool, out: &mut Vec<u8>) {
    header(out, "Date", get_cached_date().as_bytes());
    let connection: &[u8] = if persistent { b"keep-alive" } else { b"close" };
    header(out, "Connection", connection);
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::cached::Cached;
    use crate::responses;
    use bytes::Bytes;
    use std::time::Duration;

    fn hit() -> Reply {
        let cached = Cached {
            body: Bytes::from_static(b"{\"ruc\":\"20131312955\"}"),
            age: Duration::from_secs(3),
            ttl_ms: 5_000,
        };
        responses::hit(200, &cached)
    }

    #[test]
    fn a_hit_is_written_whole() {
        let mut out = Vec::new();
        encode(&hit(), false, true, &mut out);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nAge: 3\r\n"));
        assert!(head.contains("\r\nContent-Length: 21\r\nDate: "));
        assert!(head.ends_with("\r\nConnection: keep-alive"));
        assert_eq!(body, "{\"ruc\":\"20131312955\"}");
    }

    #[test]
    fn a_streamed_body_goes_in_chunks_and_ends_with_an_empty_one() {
        let mut out = Vec::new();
        let reply = Reply::json(200, Bytes::new());
        encode_streamed_head(&reply, true, true, &mut out);
        encode_part(b"{\"a\":1}\n", true, &mut out);
        encode_part(b"", true, &mut out);
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains("\r\nTransfer-Encoding: chunked\r\n"));
        assert!(!head.contains("Content-Length"));
        assert_eq!(body, "8\r\n{\"a\":1}\n\r\n0\r\n\r\n");
    }

    #[test]
    fn a_head_request_gets_the_length_without_the_body() {
        let mut out = Vec::new();
        encode(&hit(), true, false, &mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("Connection: close\r\n\r\n"));
        assert!(text.contains("\r\nContent-Length: 21\r\n"));
    }
}
