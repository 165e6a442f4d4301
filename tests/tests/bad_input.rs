//! Thousands of malformed requests against the real proxy (bad paths and
//! RUCs, encodings, path traversal, query strings, unicode, wrong methods,
//! huge headers, broken HTTP, slow clients): none gets a 5xx, none reaches
//! the scraper, nothing is written to Redis, and the proxy keeps serving.

use crate::support::proxy::Proxy;
use crate::support::raw;
use crate::support::redis::RedisServer;
use crate::support::stub::StubScraper;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn get(target: &str) -> Vec<u8> {
    format!("GET {target} HTTP/1.1\r\nHost: proxy\r\nConnection: close\r\n\r\n").into_bytes()
}

/// Well-formed HTTP whose target is not a valid lookup: each must be
/// answered, with a 4xx.
fn bad_targets() -> Vec<Vec<u8>> {
    let mut targets: Vec<String> = Vec::new();
    for ruc in [
        "",
        "1",
        "2013131295",
        "201313129555",
        "20131312954",
        "30131312955",
        "abcdefghijk",
        "2013131295a",
        "20131312955 ",
        "+0131312955",
        "-2013131295",
        "٢٠١٣١٣١٢٩٥٥",
        "20131312955\u{200b}",
        "%32%30131312955",
        "20131312955%00",
        "..%2F..%2Fhealth",
        "../../health",
        "..",
        ".",
        "%2e%2e%2f",
        "20131312955/x",
        "20131312955/../20131312955x",
        "𝟐𝟎𝟏𝟑𝟏𝟑𝟏𝟐𝟗𝟓𝟓",
        "ＲＵＣ",
        "<script>",
        "'; DROP TABLE--",
        "{{7*7}}",
        "${jndi:x}",
    ] {
        targets.push(format!("/obtener-ruc/{ruc}"));
        targets.push(format!("/obtener-ruc/{ruc}?ruc=20131312955"));
    }
    for n in 0..2500u64 {
        // Eleven digits with a wrong check digit or prefix, never valid.
        let ten = 3_000_000_000 + n * 7919;
        targets.push(format!("/obtener-ruc/{ten}{}", n % 10));
    }
    for path in [
        "/",
        "/obtener-ruc",
        "/obtener-ruc/",
        "//obtener-ruc/20131312955",
        "/OBTENER-RUC/20131312955",
        "/obtener-ruc%2F20131312955",
        "/health/../obtener-ruc/20131312955",
        "/cache/20131312955",
        "/metrics",
        "/%ff%fe",
        "/\u{e9}",
        "/a/b/c/d/e/f/g/h",
        &format!("/{}", "a".repeat(8000)),
        &format!("/obtener-ruc/{}", "9".repeat(5000)),
    ] {
        targets.push(path.to_string());
        targets.push(format!("{path}?x=%zz&y=\u{1F600}"));
    }
    let mut requests: Vec<Vec<u8>> = targets.iter().map(|t| get(t)).collect();
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PURGE", "FOO",
    ] {
        requests.push(
            format!("{method} /obtener-ruc/20131312955 HTTP/1.1\r\nHost: proxy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                .into_bytes(),
        );
    }
    requests
}

/// Broken HTTP: it may be answered with a 4xx or dropped, never a 5xx.
fn broken_http() -> Vec<Vec<u8>> {
    let huge = "x".repeat(2 << 20);
    vec![
        b"\x00\x01\x02\x03\r\n\r\n".to_vec(),
        b"GET\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955 HTTP/9.9\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955 HTTP/1.1\r\nHost x\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955 HTTP/1.1\r\nHo\x00st: x\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955 HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955 HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(),
        b"GET /obtener-ruc/20131312955 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc".to_vec(),
        format!("GET /obtener-ruc/20131312955 HTTP/1.1\r\nHost: x\r\nX-Big: {huge}\r\n\r\n").into_bytes(),
        format!("GET /{huge} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(),
    ]
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_requests_get_4xx_never_reach_the_scraper_and_store_nothing() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let address = proxy.base.trim_start_matches("http://").to_string();

    // Slow clients hold connections open with half a request meanwhile.
    let mut slow = Vec::new();
    for _ in 0..20 {
        let mut stream = TcpStream::connect(&address).await.unwrap();
        stream.write_all(b"GET /obtener-ruc/2013131").await.unwrap();
        slow.push(stream);
    }

    let requests = bad_targets();
    assert!(requests.len() > 2500);
    for batch in requests.chunks(64) {
        let answers: Vec<_> = batch
            .iter()
            .map(|r| tokio::spawn(raw_owned(address.clone(), r.clone())))
            .collect();
        for (request, answer) in batch.iter().zip(answers) {
            let status = answer.await.unwrap();
            let target = String::from_utf8_lossy(&request[..request.len().min(120)]).into_owned();
            assert!(matches!(status, Some(400..=499)), "{status:?} for {target}");
            assert_eq!(stub.lookups(), 0, "{target}");
        }
    }
    for request in broken_http() {
        let status = raw(&address, request.clone()).await;
        let start = String::from_utf8_lossy(&request[..request.len().min(60)]).into_owned();
        assert!(status.is_none_or(|s| (400..500).contains(&s)), "{status:?} for {start}");
        assert_eq!(stub.lookups(), 0, "{status:?} {start}");
    }

    // The slow clients finish their requests: still a 400, not a lookup.
    for mut stream in slow {
        stream
            .write_all(b"2955x HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        if stream.read_exact(&mut head).await.is_ok() {
            assert_eq!(&head[9..12], b"400");
        }
    }

    assert_eq!(stub.lookups(), 0, "nothing reached the scraper");
    assert_eq!(redis.keys(), Vec::<String>::new(), "nothing was written to Redis");
    for status in ["500", "502", "503", "504"] {
        let name = format!(r#"ruc_proxy_requests_total{{status="{status}"}}"#);
        assert_eq!(proxy.metric(&name).await, 0.0, "{status}");
    }
    assert_eq!(proxy.get("/health").await.status, 200, "still serving");
    assert!(proxy.stop().await.success(), "no crash, clean exit");
}

/// RFC 9112 §3.2: a 400 for an HTTP/1.1 request without `Host`, and for any
/// with two; HTTP/1.0 needs none. Checked on a valid lookup, which would
/// otherwise go to the scraper.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_without_exactly_one_host_is_400() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let address = proxy.base.trim_start_matches("http://").to_string();
    let target = "/obtener-ruc/20131312955";
    for (request, status) in [
        (format!("GET {target} HTTP/1.1\r\nConnection: close\r\n\r\n"), 400),
        (
            format!("GET {target} HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n"),
            400,
        ),
        ("GET /health HTTP/1.1\r\nConnection: close\r\n\r\n".to_string(), 400),
        (format!("GET {target} HTTP/1.0\r\n\r\n"), 200),
    ] {
        assert_eq!(
            raw(&address, request.clone().into_bytes()).await,
            Some(status),
            "{request:?}"
        );
    }
    assert_eq!(stub.lookups(), 1, "only the HTTP/1.0 lookup went on");
    assert!(proxy.stop().await.success());
}

async fn raw_owned(address: String, request: Vec<u8>) -> Option<u16> {
    raw(&address, request).await
}
