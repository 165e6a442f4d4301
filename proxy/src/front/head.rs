//! A request head, read from the bytes at the start of a connection's
//! buffer, and what RFC 9112 makes of it: whether it is whole and well
//! formed, how its body is framed, the fields a batch request is judged
//! by, and whether the connection persists after its answer. Only the
//! batch route reads a body; a request to another route that announces
//! one is answered without reading it and the connection is closed after
//! the answer (the body would otherwise be read as the next request).

use ruc_contract::RouteError;
use startup::TraceParent;

/// The most a request head may weigh, request line and fields together:
/// a larger one is refused with 431 as soon as it is seen (nginx allows
/// 4 × 8 KiB). It also bounds what an unfinished head holds in memory.
pub(crate) const MAX_HEAD_BYTES: usize = 32 * 1024;
/// More header fields than this are refused with 431 too.
const MAX_HEADERS: usize = 100;

/// What the bytes at the start of a connection's buffer are.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed<'a> {
    /// The head has not arrived whole yet.
    Partial,
    Whole(Head<'a>),
    /// Not a head this server reads: answered with 400 or 431, then the
    /// connection is closed.
    Malformed(Malformed),
}

/// A whole request head.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Head<'a> {
    pub(crate) method: &'a str,
    /// The target's path, without its query.
    pub(crate) path: &'a str,
    /// The `Host` rule of RFC 9112 §3.2, judged.
    pub(crate) host: Result<(), RouteError>,
    /// How the body that follows the head is framed, if one does.
    pub(crate) body: Framing,
    /// `Content-Type`, if given once.
    pub(crate) content_type: Option<&'a str>,
    /// `Accept`, its fields joined as one list.
    pub(crate) accept: Option<String>,
    /// `traceparent`, if given once and valid (W3C Trace Context).
    pub(crate) traceparent: Option<TraceParent>,
    /// The connection may carry another request after this one's answer,
    /// as far as the request says (HTTP/1.1 unless `close`; HTTP/1.0 with
    /// `keep-alive` and without `close`).
    pub(crate) persistent: bool,
    /// HTTP/1.1 (else 1.0): an answer may be sent in chunks.
    pub(crate) http_1_1: bool,
    /// The head's length in bytes.
    pub(crate) len: usize,
}

/// How a request's body is delimited (RFC 9112 §6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body (none announced, or `Content-Length: 0`).
    None,
    /// `Content-Length` bytes.
    Length(u64),
    /// `Transfer-Encoding: chunked` (any other coding is refused).
    Chunked,
}

impl Head<'_> {
    /// A body follows the head.
    pub(crate) fn announces_body(&self) -> bool {
        self.body != Framing::None
    }
}

/// Why a head is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Malformed {
    /// Over [`MAX_HEAD_BYTES`], or over `MAX_HEADERS` fields (431).
    TooLarge,
    /// Not HTTP/1.x as RFC 9112 writes it (400), with what is wrong.
    Invalid(&'static str),
}

impl Malformed {
    pub(crate) fn status(self) -> u16 {
        match self {
            Malformed::TooLarge => 431,
            Malformed::Invalid(_) => 400,
        }
    }

    /// The body of the answer.
    pub(crate) fn error(self) -> RouteError {
        match self {
            Malformed::TooLarge => RouteError::new(
                "Request Header Fields Too Large",
                format!("La cabecera de la solicitud pasa de {MAX_HEAD_BYTES} bytes o de {MAX_HEADERS} campos."),
            ),
            Malformed::Invalid(detail) => RouteError::bad_request(detail),
        }
    }
}

/// Reads the request at the start of `buf`.
pub(crate) fn parse(buf: &[u8]) -> Parsed<'_> {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    let len = match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len <= MAX_HEAD_BYTES => len,
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => return Parsed::Partial,
        Ok(_) | Err(httparse::Error::TooManyHeaders) => return Parsed::Malformed(Malformed::TooLarge),
        Err(_) => return Parsed::Malformed(Malformed::Invalid("La solicitud no es HTTP/1.1 válido.")),
    };
    let http_1_1 = request.version == Some(1);
    let Some(path) = request.path.and_then(target_path) else {
        return Parsed::Malformed(Malformed::Invalid("El destino de la solicitud no es una URI válida."));
    };
    let body = match framing(request.headers, http_1_1) {
        Ok(body) => body,
        Err(detail) => return Parsed::Malformed(Malformed::Invalid(detail)),
    };
    let hosts = named(request.headers, "host");
    let mut content_types = named(request.headers, "content-type").map(std::str::from_utf8);
    let content_type = match (content_types.next(), content_types.next()) {
        (Some(Ok(value)), None) => Some(value),
        _ => None,
    };
    let accept: Vec<&str> = named(request.headers, "accept")
        .filter_map(|value| std::str::from_utf8(value).ok())
        .collect();
    Parsed::Whole(Head {
        method: request.method.unwrap_or_default(),
        path,
        host: ruc_contract::check_host(http_1_1, hosts),
        body,
        content_type,
        accept: (!accept.is_empty()).then(|| accept.join(",")),
        traceparent: TraceParent::of_fields(named(request.headers, "traceparent")),
        persistent: persistent(request.headers, http_1_1),
        http_1_1,
        len,
    })
}

/// The values of the fields called `name`.
fn named<'h, 'b: 'h>(fields: &'h [httparse::Header<'b>], name: &'static str) -> impl Iterator<Item = &'b [u8]> + 'h {
    fields
        .iter()
        .filter(move |field| field.name.eq_ignore_ascii_case(name))
        .map(|field| field.value)
}

/// The path of a request target in origin form (`/path?query`) or
/// absolute form (`http://host/path?query`), or `*`; `None` for any other
/// target, or one with a character RFC 3986 does not allow there.
fn target_path(target: &str) -> Option<&str> {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    if !query.bytes().all(is_query_byte) || !percent_encoded_well(target) {
        return None;
    }
    if target == "*" {
        return Some(target);
    }
    let path = match path.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https") => {
            let (authority, path) = rest.find('/').map_or((rest, "/"), |slash| rest.split_at(slash));
            if authority.is_empty() || !authority.bytes().all(|b| is_path_byte(b) || b == b'[' || b == b']') {
                return None;
            }
            path
        }
        _ => path,
    };
    (path.starts_with('/') && path.bytes().all(is_path_byte)).then_some(path)
}

/// `pchar` and `/`: unreserved, sub-delimiters, `:`, `@`, and `%` (of a
/// percent-encoding).
fn is_path_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/%".contains(&b)
}

fn is_query_byte(b: u8) -> bool {
    is_path_byte(b) || b == b'?'
}

/// Every `%` starts two hexadecimal digits.
fn percent_encoded_well(target: &str) -> bool {
    let bytes = target.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit))
    })
}

/// How the body that follows the head is framed (RFC 9112 §6):
/// `Transfer-Encoding`, else a `Content-Length` above 0. Framing that
/// cannot be trusted is an error: a `Content-Length` that is not one
/// number, `Transfer-Encoding` in HTTP/1.0 or with a `Content-Length`
/// (the request-smuggling pattern), or a coding other than `chunked`.
fn framing(fields: &[httparse::Header<'_>], http_1_1: bool) -> Result<Framing, &'static str> {
    let codings: Vec<&[u8]> = named(fields, "transfer-encoding")
        .flat_map(|value| value.split(|&b| b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    let chunked = !codings.is_empty();
    if chunked && !http_1_1 {
        return Err("Una solicitud HTTP/1.0 no lleva Transfer-Encoding.");
    }
    if chunked && named(fields, "content-length").next().is_some() {
        return Err("Una solicitud no lleva a la vez Transfer-Encoding y Content-Length.");
    }
    if chunked && !(codings.len() == 1 && codings[0].eq_ignore_ascii_case(b"chunked")) {
        return Err("La única Transfer-Encoding aceptada es chunked.");
    }
    let mut length = None;
    for value in named(fields, "content-length").flat_map(|value| value.split(|&b| b == b',')) {
        let value = value.trim_ascii();
        let valid = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
        if !valid || length.is_some_and(|length| length != value) {
            return Err("Content-Length no es un único número.");
        }
        length = Some(value);
    }
    if chunked {
        return Ok(Framing::Chunked);
    }
    let length: u64 = match length {
        None => 0,
        Some(digits) => std::str::from_utf8(digits)
            .ok()
            .and_then(|digits| digits.parse().ok())
            .ok_or("Content-Length es demasiado grande.")?,
    };
    Ok(if length == 0 {
        Framing::None
    } else {
        Framing::Length(length)
    })
}

/// The `Connection` fields, read as one list of options (RFC 9110 §7.6.1)
/// in which `close` wins.
fn persistent(fields: &[httparse::Header<'_>], http_1_1: bool) -> bool {
    let (mut close, mut keep_alive) = (false, false);
    for option in named(fields, "connection").flat_map(|value| value.split(|&b| b == b',')) {
        let option = option.trim_ascii();
        close |= option.eq_ignore_ascii_case(b"close");
        keep_alive |= option.eq_ignore_ascii_case(b"keep-alive");
    }
    !close && (http_1_1 || keep_alive)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUC: &str = "20131312955";

    fn whole(text: &str) -> Head<'_> {
        match parse(text.as_bytes()) {
            Parsed::Whole(head) => head,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    fn malformed(text: &str) -> Malformed {
        match parse(text.as_bytes()) {
            Parsed::Malformed(why) => why,
            other => panic!("{text:?}: {other:?}"),
        }
    }

    #[test]
    fn a_plain_lookup_is_read_whole() {
        let get = format!("GET /obtener-ruc/{RUC}?a=1 HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n");
        let head = whole(&get);
        assert_eq!(
            (head.method, head.path),
            ("GET", format!("/obtener-ruc/{RUC}").as_str())
        );
        assert_eq!(
            (head.host.clone(), head.announces_body(), head.persistent),
            (Ok(()), false, true)
        );
        assert_eq!(head.len, get.len());
    }

    #[test]
    fn only_the_first_request_of_a_pipeline_counts() {
        let first = format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: x\r\n\r\n");
        let both = format!("{first}GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(whole(&both).len, first.len());
    }

    #[test]
    fn an_absolute_target_routes_by_its_path() {
        let head = whole("GET http://ruc:8000/obtener-ruc/1?x HTTP/1.1\r\nHost: ruc:8000\r\n\r\n");
        assert_eq!(head.path, "/obtener-ruc/1");
        assert_eq!(whole("GET HTTP://ruc HTTP/1.1\r\nHost: ruc\r\n\r\n").path, "/");
        assert_eq!(whole("OPTIONS * HTTP/1.1\r\nHost: ruc\r\n\r\n").path, "*");
    }

    #[test]
    fn characters_a_uri_does_not_allow_are_refused_wherever_they_are() {
        for target in [
            "/obtener-ruc/1?q=\"",
            "/obtener-ruc/1?<x>",
            "/a\\b",
            "/a{b}",
            "/a^b",
            "/a|b",
            "/a`b",
            "/%zz",
            "/%4",
            "/a#frag",
            "obtener-ruc/1",
            "ruc:443",
            "ftp://ruc/x",
            "http:///x",
        ] {
            let text = format!("GET {target} HTTP/1.1\r\nHost: x\r\n\r\n");
            assert!(matches!(malformed(&text), Malformed::Invalid(_)), "{target}");
        }
        assert_eq!(
            whole("GET /%41%2f?a=%20&b=:@/? HTTP/1.1\r\nHost: x\r\n\r\n").path,
            "/%41%2f"
        );
    }

    #[test]
    fn the_host_rule_is_judged_on_every_host_field() {
        assert!(whole("GET / HTTP/1.1\r\nHost: user@evil\r\n\r\n").host.is_err());
        assert!(whole("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n").host.is_err());
        assert!(whole("GET / HTTP/1.1\r\n\r\n").host.is_err());
        assert!(whole("GET / HTTP/1.0\r\n\r\n").host.is_ok());
    }

    #[test]
    fn connection_fields_are_one_list_and_close_wins() {
        let persistent =
            |fields: &str, version: &str| whole(&format!("GET / HTTP/{version}\r\nHost: x\r\n{fields}\r\n")).persistent;
        assert!(persistent("", "1.1"));
        assert!(persistent("Connection: Upgrade, HTTP2-Settings\r\n", "1.1"));
        assert!(!persistent("Connection: close\r\n", "1.1"));
        assert!(!persistent("Connection: keep-alive, close\r\n", "1.1"));
        assert!(!persistent("Connection: keep-alive\r\nConnection: close\r\n", "1.1"));
        assert!(!persistent("Connection: keep-alive\r\nconnection:  CLOSE \r\n", "1.1"));
        assert!(!persistent("", "1.0"));
        assert!(persistent("Connection: Keep-Alive\r\n", "1.0"));
        assert!(!persistent("Connection: keep-alive\r\nConnection: close\r\n", "1.0"));
    }

    #[test]
    fn a_body_is_announced_by_a_length_or_a_coding() {
        let body = |fields: &str| whole(&format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n")).body;
        assert_eq!(body(""), Framing::None);
        assert_eq!(body("Content-Length: 0\r\n"), Framing::None);
        assert_eq!(body("Content-Length: 00, 00\r\n"), Framing::None);
        assert_eq!(body("Content-Length: 3\r\n"), Framing::Length(3));
        assert_eq!(body("Transfer-Encoding: chunked\r\n"), Framing::Chunked);
        assert_eq!(body("Transfer-Encoding: Chunked\r\n"), Framing::Chunked);
        for fields in [
            "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "Transfer-Encoding: gzip, chunked\r\n",
            "Content-Length: 99999999999999999999999\r\n",
            "Content-Length: -1\r\n",
            "Content-Length: 1e3\r\n",
            "Content-Length: 3\r\nContent-Length: 4\r\n",
            "Content-Length: 3, 4\r\n",
            "Content-Length:\r\n",
        ] {
            let text = format!("GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n");
            assert!(matches!(malformed(&text), Malformed::Invalid(_)), "{fields}");
        }
        let chunked_1_0 = "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(malformed(chunked_1_0), Malformed::Invalid(_)));
    }

    #[test]
    fn broken_heads_are_invalid_and_large_ones_too_large() {
        for text in [
            "GET /x HTTP/9.9\r\n\r\n",
            "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost x\r\n\r\n",
            "GET /x HTTP/1.1\r\nHo\0st: x\r\n\r\n",
            "GET /x HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n",
            "GET  /x HTTP/1.1\r\n\r\n",
            "\0\x01\x02\r\n\r\n",
        ] {
            assert!(matches!(malformed(text), Malformed::Invalid(_)), "{text:?}");
        }
        assert_eq!(parse(b""), Parsed::Partial);
        assert_eq!(parse(b"GET /obtener-ruc/2013 HTTP/1.1\r\nHo"), Parsed::Partial);
        let endless = format!("GET / HTTP/1.1\r\nX: {}", "y".repeat(MAX_HEAD_BYTES));
        assert_eq!(malformed(&endless), Malformed::TooLarge);
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "X: y\r\n".repeat(MAX_HEADERS + 1));
        assert_eq!(malformed(&many), Malformed::TooLarge);
        assert_eq!(Malformed::TooLarge.status(), 431);
    }
}
