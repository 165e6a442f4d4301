//! What the bytes at the head of a connection are, as far as the front
//! cares: a lookup it may answer itself, another whole request for
//! Pingora, or something it leaves to Pingora for the rest of the
//! connection. The front only answers the plainest form of a lookup;
//! every rule about what is malformed (and its error) stays in one place,
//! Pingora's side ([`crate::routes`], [`crate::service`]).

use ruc_contract::{Ruc, LOOKUP_PREFIX};

/// More headers than any lookup carries; a request with more is Pingora's.
const MAX_HEADERS: usize = 48;
/// A head still incomplete at this size goes to Pingora, which knows its
/// own limits and errors.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;

/// The first request in a connection's buffer.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Request {
    /// The head has not arrived whole yet.
    Partial,
    /// `GET`/`HEAD /obtener-ruc/<valid RUC>` over HTTP/1.1, keep-alive, one
    /// `Host`, no body: the front may answer it. `len`: its bytes.
    Lookup { ruc: Ruc, head_only: bool, len: usize },
    /// Any other whole request without a body, for Pingora: `len` bytes.
    Other { len: usize },
    /// A body, an upgrade, `Expect`, an unparsable or oversized head:
    /// Pingora takes the rest of the connection.
    Unusual,
}

/// Reads the request at the start of `buf`.
pub(crate) fn classify(buf: &[u8]) -> Request {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => return Request::Partial,
        _ => return Request::Unusual,
    };
    let mut hosts = 0;
    let mut keep_alive = true;
    for header in request.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("host") {
            hosts += 1;
        } else if name.eq_ignore_ascii_case("connection") {
            keep_alive &= header.value.eq_ignore_ascii_case(b"keep-alive");
        } else if announces_body_or_upgrade(name, header.value) {
            return Request::Unusual;
        }
    }
    let method = request.method.unwrap_or_default();
    let head_only = method == "HEAD";
    let plain = (method == "GET" || head_only) && request.version == Some(1) && hosts == 1 && keep_alive;
    match request.path.and_then(lookup_ruc) {
        Some(ruc) if plain => Request::Lookup { ruc, head_only, len },
        _ => Request::Other { len },
    }
}

/// Headers after which the bytes that follow the head are not the next
/// request (or not only).
fn announces_body_or_upgrade(name: &str, value: &[u8]) -> bool {
    (name.eq_ignore_ascii_case("content-length") && value != b"0")
        || name.eq_ignore_ascii_case("transfer-encoding")
        || name.eq_ignore_ascii_case("upgrade")
        || name.eq_ignore_ascii_case("expect")
}

/// The RUC of `/obtener-ruc/<ruc>` (a query string aside), when valid.
fn lookup_ruc(target: &str) -> Option<Ruc> {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    Ruc::parse(path.strip_prefix(LOOKUP_PREFIX)?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUC: &str = "20131312955";

    fn lookup(head_only: bool, text: &str) -> Request {
        Request::Lookup {
            ruc: Ruc::parse(RUC).unwrap(),
            head_only,
            len: text.len(),
        }
    }

    #[test]
    fn a_plain_lookup_is_the_fronts() {
        let get = format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
        assert_eq!(classify(get.as_bytes()), lookup(false, &get));
        let head = format!("HEAD /obtener-ruc/{RUC}?a=1 HTTP/1.1\r\nhost: x\r\nConnection: Keep-Alive\r\n\r\n");
        assert_eq!(classify(head.as_bytes()), lookup(true, &head));
        let empty_body = format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
        assert_eq!(classify(empty_body.as_bytes()), lookup(false, &empty_body));
    }

    #[test]
    fn only_the_first_request_of_a_pipeline_counts() {
        let first = format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\n\r\n");
        let both = format!("{first}GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(classify(both.as_bytes()), lookup(false, &first));
    }

    #[test]
    fn anything_else_without_a_body_is_another_request_for_pingora() {
        for text in [
            "GET /health HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            "GET /obtener-ruc/123 HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            format!("POST /obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\n\r\n"),
            format!("GET /obtener-ruc/{RUC} HTTP/1.0\r\n\r\n"),
            format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\n\r\n"),
            format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
            format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"),
            format!("GET http://x/obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\n\r\n"),
        ] {
            assert_eq!(classify(text.as_bytes()), Request::Other { len: text.len() }, "{text}");
        }
    }

    #[test]
    fn bodies_upgrades_and_broken_heads_leave_the_connection_to_pingora() {
        for text in [
            format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"),
            "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_string(),
            "GET /x HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n".to_string(),
            "GET /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n".to_string(),
            "GET /x HTTP/9.9\r\n\r\n".to_string(),
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_string(),
        ] {
            assert_eq!(classify(text.as_bytes()), Request::Unusual, "{text}");
        }
    }

    #[test]
    fn a_head_not_yet_whole_waits_up_to_a_limit() {
        assert_eq!(classify(b""), Request::Partial);
        assert_eq!(classify(b"GET /obtener-ruc/2013 HTTP/1.1\r\nHo"), Request::Partial);
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "y".repeat(MAX_HEAD_BYTES));
        assert_eq!(classify(endless.as_bytes()), Request::Unusual);
    }
}
