//! What a lookup ends with and shares: a scraper's whole answer, or the
//! proxy's own error in its place. The followers of the lookup get it, the
//! store keeps it when it is a record, and another replica reads it back
//! from the bytes of [`Answer::encode`].

use bytes::{BufMut, Bytes, BytesMut};

/// A whole answer: its status, the headers a client needs, its body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub(crate) status: u16,
    /// The headers that matter to a client: see [`SHARED_HEADERS`].
    pub(crate) headers: Vec<(&'static str, String)>,
    pub(crate) body: Bytes,
}

/// Headers of a scraper's answer that its client and the followers
/// receive as well (the others are about the connection to the scraper).
const SHARED_HEADERS: [&str; 3] = ["Content-Type", "Retry-After", "X-Scraper-Instance"];
/// The `Cache-Status` of an answer the proxy made in a scraper's place,
/// which says why: it is the same for every request that gets the answer.
pub(crate) const CACHE_STATUS: &str = "cache-status";

/// The [`SHARED_HEADERS`] of a scraper's answer.
pub(crate) fn shared_headers(headers: &http::HeaderMap) -> Vec<(&'static str, String)> {
    SHARED_HEADERS
        .iter()
        .filter_map(|&name| Some((name, headers.get(name)?.to_str().ok()?.to_string())))
        .collect()
}

impl Answer {
    /// A JSON answer the proxy made itself, in a scraper's place, with the
    /// `Cache-Status` that says why.
    pub(crate) fn own(status: u16, body: Bytes, cache_status: &str) -> Answer {
        Answer {
            status,
            headers: vec![
                ("Content-Type", "application/json".to_string()),
                (CACHE_STATUS, cache_status.to_string()),
            ],
            body,
        }
    }

    /// The `Cache-Status` of an answer the proxy made itself.
    pub(crate) fn own_cache_status(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(name, _)| *name == CACHE_STATUS)
            .map(|(_, value)| value.as_str())
    }

    /// The answer as bytes for another replica: the status line, the
    /// headers as in HTTP/1.1, an empty line, the body.
    pub(crate) fn encode(&self) -> Bytes {
        let mut wire = BytesMut::with_capacity(self.body.len() + 64);
        wire.put_slice(format!("{}\r\n", self.status).as_bytes());
        for (name, value) in &self.headers {
            wire.put_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        wire.put_slice(b"\r\n");
        wire.put_slice(&self.body);
        wire.freeze()
    }

    /// An answer from [`Answer::encode`]; `None` when it is not one.
    pub(crate) fn decode(wire: &[u8]) -> Option<Answer> {
        let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = std::str::from_utf8(&wire[..head_end]).ok()?;
        let mut lines = head.split("\r\n");
        let status = lines.next()?.parse().ok().filter(|s| (100..600).contains(s))?;
        let mut headers = Vec::new();
        for line in lines {
            let (name, value) = line.split_once(": ")?;
            let name = SHARED_HEADERS
                .into_iter()
                .chain([CACHE_STATUS])
                .find(|known| known.eq_ignore_ascii_case(name))?;
            headers.push((name, value.to_string()));
        }
        let body = Bytes::copy_from_slice(&wire[head_end + 4..]);
        Some(Answer { status, headers, body })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_crosses_to_another_replica_unchanged() {
        let body = Bytes::from_static(b"{\"message\":\"x\r\n\r\ny\"}");
        let mut answer = Answer::own(503, body, "ruc-proxy; detail=upstream-queue-full");
        answer.headers.push(("Retry-After", "5".to_string()));
        answer.headers.push(("X-Scraper-Instance", "scraper-1".to_string()));
        assert_eq!(Answer::decode(&answer.encode()), Some(answer));
        assert_eq!(Answer::decode(b"200 OK\r\n\r\n{}"), None);
        assert_eq!(Answer::decode(b"200\r\nSet-Cookie: a\r\n\r\n{}"), None);
    }

    #[test]
    fn only_the_shared_headers_are_kept() {
        let mut headers = http::HeaderMap::new();
        headers.insert("content-type", "application/json".parse().unwrap());
        headers.insert("x-scraper-instance", "s1".parse().unwrap());
        headers.insert("set-cookie", "a=b".parse().unwrap());
        headers.insert("connection", "close".parse().unwrap());
        assert_eq!(
            shared_headers(&headers),
            [
                ("Content-Type", "application/json".to_string()),
                ("X-Scraper-Instance", "s1".to_string())
            ]
        );
    }
}
