//! Every client connection has deadlines and a bounded head, whatever it
//! asked before: raw sockets against the real proxy, sending what HTTP
//! client libraries never send. An idle connection closes after
//! `KEEPALIVE_TIMEOUT_SECS`; a head not whole within
//! `CLIENT_HEADER_TIMEOUT_SECS` gets a 408; a head over 32 KiB gets a 431
//! at once; a malformed request gets the same answer whether the cache
//! holds the record or not; `Connection` fields are one list where `close`
//! wins. Each waits for what it expects, bounded against hangs, never for
//! a fixed time.

use std::time::Duration;

use crate::support::lookups::{key, RUC};
use crate::support::proxy::Proxy;
use crate::support::raw::{request, RawAnswer, RawConnection};
use crate::support::redis::RedisServer;
use crate::support::stub::{record, StubScraper};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Not in Redis: a lookup of it would go to the scraper.
const UNCACHED: &str = "20100070970";

/// The proxy, with `RUC` stored fresh, and the given settings.
async fn start(env: &[(&str, &str)]) -> (RedisServer, StubScraper, Proxy) {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    redis.set(&key(RUC), &record(RUC).to_string(), Some(14 * 86_400));
    let proxy = Proxy::start(&redis.url(), &stub.url(), env).await;
    (redis, stub, proxy)
}

fn lookup(ruc: &str) -> String {
    request("GET", &format!("/obtener-ruc/{ruc}"))
}

/// A raw connection to the proxy (not through the harness's client).
async fn socket(proxy: &Proxy) -> TcpStream {
    TcpStream::connect(proxy.base.trim_start_matches("http://"))
        .await
        .expect("the proxy accepts connections")
}

/// Whatever the proxy sends until it closes the connection (bounded).
async fn until_closed(socket: &mut TcpStream) -> String {
    let mut received = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(30), socket.read_to_end(&mut received)).await;
    assert!(
        read.is_ok(),
        "the proxy closes the connection: {}",
        String::from_utf8_lossy(&received)
    );
    String::from_utf8_lossy(&received).into_owned()
}

/// After requests that Pingora's session used to keep for good (an h2c
/// upgrade, as `curl --http2` sends it; an `Expect`; many fields), an idle
/// connection still closes after `KEEPALIVE_TIMEOUT_SECS`.
#[tokio::test(flavor = "multi_thread")]
async fn an_idle_connection_closes_after_the_keepalive_timeout_whatever_it_asked() {
    let (_redis, stub, proxy) = start(&[("KEEPALIVE_TIMEOUT_SECS", "1")]).await;
    let target = format!("/obtener-ruc/{RUC}");
    let many_fields: String = (0..60).map(|n| format!("X-Field-{n}: {n}\r\n")).collect();
    for text in [
        format!("GET {target} HTTP/1.1\r\nHost: ruc\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"),
        format!("GET {target} HTTP/1.1\r\nHost: ruc\r\nExpect: 100-continue\r\n\r\n"),
        format!("GET {target} HTTP/1.1\r\nHost: ruc\r\n{many_fields}\r\n"),
        lookup(RUC),
    ] {
        let mut connection = RawConnection::open(&proxy).await;
        connection.send(&text).await;
        let answer = connection.answer(false).await;
        assert_eq!((answer.status, answer.header("x-cache")), (200, Some("HIT")), "{text}: {answer:?}");
        assert_eq!(answer.header("connection"), Some("keep-alive"));
        assert!(connection.closed().await, "idle after {text:?}");
    }
    assert_eq!(stub.lookups(), 0);
    assert!(proxy.stop().await.success());
}

/// A head that is not whole within `CLIENT_HEADER_TIMEOUT_SECS`, however
/// its bytes trickle in, gets a 408 and the connection closes: at the
/// start of a connection, after a request that announced `Expect`, and
/// one byte at a time.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_not_whole_in_time_gets_408() {
    let (_redis, stub, proxy) = start(&[("CLIENT_HEADER_TIMEOUT_SECS", "1")]).await;
    let expect = format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: ruc\r\nExpect: 100-continue\r\n\r\n");
    for (before, unfinished) in [
        (String::new(), "GET /obtener-ruc/2013"),
        (expect, "GET /health HTTP/1.1\r\nHo"),
    ] {
        let mut socket = socket(&proxy).await;
        socket.write_all(before.as_bytes()).await.unwrap();
        socket.write_all(unfinished.as_bytes()).await.unwrap();
        let received = until_closed(&mut socket).await;
        assert!(
            received.ends_with("\"}") && received.contains("HTTP/1.1 408 "),
            "{received}"
        );
        assert!(received.contains("Connection: close"), "{received}");
    }

    // One byte of a hit's head every 100 ms: never whole in time.
    let mut socket = socket(&proxy).await;
    let (mut reader, mut writer) = socket.split();
    let trickle = async {
        for byte in lookup(RUC).bytes() {
            if writer.write_all(&[byte]).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let mut received = Vec::new();
    let (_, read) = tokio::join!(
        trickle,
        tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut received))
    );
    assert!(read.is_ok(), "closed after the 408");
    let received = String::from_utf8_lossy(&received);
    assert!(received.starts_with("HTTP/1.1 408 "), "{received}");
    assert_eq!(stub.lookups(), 0);
    assert_eq!(proxy.metric(r#"ruc_proxy_requests_total{status="408"}"#).await, 3.0);
    assert!(proxy.stop().await.success());
}

/// A head over 32 KiB is refused with 431 as soon as that much has come,
/// without waiting for the rest or for a timeout; a head just under the
/// limit is read.
#[tokio::test(flavor = "multi_thread")]
async fn a_head_over_32_kib_gets_431_at_once() {
    let (_redis, stub, proxy) = start(&[]).await;
    for size in [33 * 1024, 1_000_000] {
        let mut socket = socket(&proxy).await;
        let text = format!(
            "GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: ruc\r\nX-Big: {}",
            "y".repeat(size)
        );
        let (mut reader, mut writer) = socket.split();
        // The proxy stops reading at the limit: the rest may never be taken.
        let send = async {
            let _ = writer.write_all(text.as_bytes()).await;
        };
        let mut received = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(30), reader.read_to_end(&mut received));
        let (_, read) = tokio::join!(send, read);
        let received = String::from_utf8_lossy(&received);
        assert!(read.is_ok() || !received.is_empty(), "an answer before any timeout");
        assert!(received.starts_with("HTTP/1.1 431 "), "{size}: {received}");
        assert!(received.contains("Connection: close"), "{received}");
    }
    let fields: String = (0..101).map(|n| format!("X-{n}: y\r\n")).collect();
    let mut connection = RawConnection::open(&proxy).await;
    connection
        .send(&format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: ruc\r\n{fields}\r\n"))
        .await;
    assert_eq!(connection.answer(false).await.status, 431, "more than 100 fields");

    let mut connection = RawConnection::open(&proxy).await;
    let filler = "y".repeat(32 * 1024 - 200);
    connection
        .send(&format!(
            "GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: ruc\r\nX-Big: {filler}\r\n\r\n"
        ))
        .await;
    let answer = connection.answer(false).await;
    assert_eq!((answer.status, answer.header("x-cache")), (200, Some("HIT")));
    assert_eq!(stub.lookups(), 0);
    assert!(proxy.stop().await.success());
}

/// Malformed requests get the same answer (status, headers, connection
/// handling) for a RUC the cache holds as for one it does not, and never
/// reach the scraper.
#[tokio::test(flavor = "multi_thread")]
async fn a_malformed_request_gets_the_same_answer_whatever_the_cache_holds() {
    let (_redis, stub, proxy) = start(&[]).await;
    // The cached record is in the L1 too: the quickest path there is.
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    let variants: [fn(&str) -> String; 7] = [
        |ruc| format!("GET /obtener-ruc/{ruc} HTTP/1.1\r\nHost: user@evil\r\n\r\n"),
        |ruc| format!("GET /obtener-ruc/{ruc}?q=\"x\" HTTP/1.1\r\nHost: ruc\r\n\r\n"),
        |ruc| format!("GET /obtener-ruc/{ruc}?<script> HTTP/1.1\r\nHost: ruc\r\n\r\n"),
        |ruc| format!("GET /obtener-ruc/{ruc} HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"),
        |ruc| format!("GET /obtener-ruc/{ruc} HTTP/1.1\r\n\r\n"),
        |ruc| format!("GET /obtener-ruc/{ruc} HTTP/1.1\r\nHost: ruc\r\nContent-Length: 1\r\n\r\nx"),
        |ruc| format!("GET /obtener-ruc/{ruc} HTTP/1.1\r\nHost: ruc\r\nContent-Length: 1, 2\r\n\r\n"),
    ];
    // Pipelined after each: answered only if the connection persists.
    let then_close = "GET /nothing HTTP/1.1\r\nHost: ruc\r\nConnection: close\r\n\r\n";
    for variant in variants {
        let mut seen = Vec::new();
        for ruc in [RUC, UNCACHED] {
            let mut socket = socket(&proxy).await;
            socket.write_all(variant(ruc).as_bytes()).await.unwrap();
            socket.write_all(then_close.as_bytes()).await.unwrap();
            let received = until_closed(&mut socket).await.replace(ruc, "<ruc>");
            // What differs from one second to the next: the date, the age
            // and the freshness left of the hit after it.
            let lines: Vec<String> = received
                .lines()
                .filter(|line| {
                    !["Date: ", "Age: ", "cache-status: ruc-proxy; hit"]
                        .iter()
                        .any(|l| line.starts_with(l))
                })
                .map(str::to_string)
                .collect();
            seen.push(lines);
        }
        assert!(
            seen[0][0].starts_with("HTTP/1.1 400 "),
            "{}: {:?}",
            variant(RUC),
            seen[0]
        );
        assert_eq!(seen[0], seen[1], "{}", variant(RUC));
    }
    assert_eq!(stub.lookups(), 0, "nothing malformed reaches the scraper");
    assert!(proxy.stop().await.success());
}

/// `Connection: keep-alive` then `Connection: close` is one list where
/// `close` wins: the answer says so, the connection closes, and a request
/// pipelined after it is not answered.
#[tokio::test(flavor = "multi_thread")]
async fn repeated_connection_fields_are_one_list_where_close_wins() {
    let (_redis, _stub, proxy) = start(&[]).await;
    for (ruc, x_cache) in [(RUC, "HIT"), (UNCACHED, "MISS")] {
        let mut connection = RawConnection::open(&proxy).await;
        let closing = format!(
            "GET /obtener-ruc/{ruc} HTTP/1.1\r\nHost: ruc\r\nConnection: keep-alive\r\nConnection: close\r\n\r\n"
        );
        connection.send(&format!("{closing}{}", lookup(RUC))).await;
        let answer: RawAnswer = connection.answer(false).await;
        assert_eq!(
            (answer.status, answer.header("x-cache")),
            (200, Some(x_cache)),
            "{answer:?}"
        );
        assert_eq!(answer.header("connection"), Some("close"));
        assert!(connection.closed().await, "the pipelined request is not answered");
    }
    assert!(proxy.stop().await.success());
}
