//! The proxy's front (the API listener, which reads every request and
//! writes every answer itself), on one raw connection: requests of every
//! kind follow each other on it, pipelined or not, and each gets its own
//! answer, in order.

use crate::support;

use std::time::Duration;

use crate::support::lookups::{key, RUC};
use crate::support::proxy::Proxy;
use crate::support::raw::{request, RawConnection};
use crate::support::redis::RedisServer;
use crate::support::stub::{record, StubScraper};

/// Stored 14 days: fresh for the test's whole run.
const STORED_FOR: u64 = 14 * 86_400;
/// A second taxpayer, not in Redis: a miss.
const OTHER: &str = "20100070970";

fn lookup(ruc: &str) -> String {
    request("GET", &format!("/obtener-ruc/{ruc}"))
}

/// SIGTERM, and a clean exit.
async fn stop(proxy: Proxy) {
    let status = proxy.stop().await;
    assert!(status.success(), "the proxy exited with {status}");
}

async fn start_with_record() -> (RedisServer, StubScraper, Proxy) {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    redis.set(&key(RUC), &record(RUC).to_string(), Some(STORED_FOR));
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    (redis, stub, proxy)
}

#[tokio::test(flavor = "multi_thread")]
async fn hits_misses_and_other_routes_follow_each_other_on_one_connection() {
    let (_redis, stub, proxy) = start_with_record().await;
    let mut connection = RawConnection::open(&proxy).await;
    let steps: [(&str, String, u16, Option<&str>); 7] = [
        ("hit", lookup(RUC), 200, Some("HIT")),
        ("miss", lookup(OTHER), 200, Some("MISS")),
        ("the miss, now a hit", lookup(OTHER), 200, Some("HIT")),
        ("health", request("GET", "/health"), 200, None),
        ("invalid RUC", lookup("20131312950"), 400, Some("MISS")),
        ("no route", request("GET", "/nothing"), 404, None),
        ("hit again", lookup(RUC), 200, Some("HIT")),
    ];
    for (step, text, status, x_cache) in steps {
        connection.send(&text).await;
        let answer = connection.answer(false).await;
        assert_eq!(answer.status, status, "{step}: {answer:?}");
        assert_eq!(answer.header("x-cache"), x_cache, "{step}: {answer:?}");
        assert_eq!(answer.header("connection"), Some("keep-alive"), "{step}");
    }
    connection.send(&request("HEAD", &format!("/obtener-ruc/{RUC}"))).await;
    let head = connection.answer(true).await;
    let length = record(RUC).to_string().len().to_string();
    assert_eq!(
        (head.status, head.header("content-length")),
        (200, Some(length.as_str()))
    );
    connection.send(&lookup(RUC)).await;
    let hit = connection.answer(false).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&hit.body).unwrap(),
        record(RUC)
    );
    assert_eq!(stub.lookups(), 1, "only the miss went to the scraper");
    stop(proxy).await;
}

/// A hit's head carries what the README documents, in this order, over
/// HTTP/1.1 and over HTTP/1.0 with keep-alive alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_hits_head_is_the_documented_one_on_either_version() {
    let (_redis, _stub, proxy) = start_with_record().await;
    let mut connection = RawConnection::open(&proxy).await;
    connection.send(&lookup(RUC)).await;
    let http_1_1 = connection.answer(false).await;
    connection
        .send(&format!(
            "GET /obtener-ruc/{RUC} HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        ))
        .await;
    let http_1_0 = connection.answer(false).await;
    let names = |answer: &support::raw::RawAnswer| -> Vec<String> {
        answer
            .head
            .lines()
            .map(|line| line.split_once(": ").unwrap().0.to_string())
            .collect()
    };
    let documented = [
        "Content-Type",
        "Age",
        "x-cache",
        "cache-status",
        "Content-Length",
        "Date",
        "Connection",
    ];
    assert_eq!(names(&http_1_1), documented);
    assert_eq!(names(&http_1_0), documented);
    assert_eq!(http_1_1.header("x-cache"), Some("HIT"));
    assert_eq!(http_1_0.header("connection"), Some("keep-alive"));
    assert_eq!(http_1_1.body, http_1_0.body);
    stop(proxy).await;
}

/// The next request arrives while the miss before it waits for the
/// scraper: it is answered next.
#[tokio::test(flavor = "multi_thread")]
async fn a_request_sent_while_a_miss_is_upstream_is_answered_next() {
    let (_redis, stub, proxy) = start_with_record().await;
    stub.delay(Duration::from_millis(800));
    let mut connection = RawConnection::open(&proxy).await;
    connection.send(&lookup(OTHER)).await;
    support::wait_until("the miss is at the scraper", || stub.lookups() == 1).await;
    connection.send(&lookup(RUC)).await;
    connection.send(&request("GET", "/health")).await;
    let miss = connection.answer(false).await;
    assert_eq!((miss.status, miss.header("x-cache")), (200, Some("MISS")), "{miss:?}");
    assert!(miss.body.contains(OTHER), "{miss:?}");
    let hit = connection.answer(false).await;
    assert_eq!((hit.status, hit.header("x-cache")), (200, Some("HIT")), "{hit:?}");
    assert!(hit.body.contains(RUC), "{hit:?}");
    let health = connection.answer(false).await;
    assert!(health.body.contains("\"redis\""), "{health:?}");
    stop(proxy).await;
}

/// Answers ready before a miss go out while the miss waits for the
/// scraper: a client that pipelines a hit and a miss gets the hit first.
#[tokio::test(flavor = "multi_thread")]
async fn a_hit_pipelined_before_a_miss_is_not_held_back_by_it() {
    let (_redis, stub, proxy) = start_with_record().await;
    stub.delay(Duration::from_secs(3));
    let mut connection = RawConnection::open(&proxy).await;
    connection.send(&[lookup(RUC), lookup(OTHER)].concat()).await;
    let hit = connection.answer(false).await;
    assert_eq!((hit.status, hit.header("x-cache")), (200, Some("HIT")), "{hit:?}");
    support::wait_until("the miss reaches the scraper", || stub.lookups() == 1).await;
    assert_eq!(stub.active(), 1, "the hit came while the miss was still at the scraper");
    let miss = connection.answer(false).await;
    assert_eq!((miss.status, miss.header("x-cache")), (200, Some("MISS")), "{miss:?}");
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn pipelined_hits_and_misses_are_answered_in_order() {
    let (_redis, stub, proxy) = start_with_record().await;
    let mut connection = RawConnection::open(&proxy).await;
    let pipelined = [
        lookup(RUC),
        lookup(OTHER),
        lookup(RUC),
        request("GET", "/health"),
        lookup(OTHER),
    ];
    connection.send(&pipelined.concat()).await;
    for (n, expected) in [RUC, OTHER, RUC, "\"redis\"", OTHER].into_iter().enumerate() {
        let answer = connection.answer(false).await;
        assert_eq!(answer.status, 200, "answer {n}: {answer:?}");
        assert!(answer.body.contains(expected), "answer {n}: {answer:?}");
    }
    assert_eq!(stub.lookups(), 1, "the second lookup of the miss was a hit");
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_head_in_pieces_is_read_whole() {
    let (_redis, _stub, proxy) = start_with_record().await;
    let mut connection = RawConnection::open(&proxy).await;
    let text = lookup(RUC);
    for piece in [&text[..5], &text[5..20], &text[20..]] {
        connection.send(piece).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let answer = connection.answer(false).await;
    assert_eq!((answer.status, answer.header("x-cache")), (200, Some("HIT")));
    stop(proxy).await;
}

/// No route takes a body: a request with one is answered without reading
/// it, and the connection closed (its body would be read as the next
/// request). `Upgrade` is ignored (RFC 9110 §7.8): the request is answered
/// and the connection goes on.
#[tokio::test(flavor = "multi_thread")]
async fn a_body_closes_the_connection_and_an_upgrade_is_ignored() {
    let (_redis, stub, proxy) = start_with_record().await;
    let mut connection = RawConnection::open(&proxy).await;
    let with_body = format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: ruc\r\nContent-Length: 5\r\n\r\nhello");
    connection.send(&with_body).await;
    let refused = connection.answer(false).await;
    assert_eq!(refused.status, 400, "{refused:?}");
    assert!(refused.body.contains("cuerpo"), "{refused:?}");
    assert_eq!(refused.header("connection"), Some("close"));
    assert!(connection.closed().await);

    let mut connection = RawConnection::open(&proxy).await;
    let upgrade =
        format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: ruc\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n");
    connection.send(&[upgrade, lookup(RUC)].concat()).await;
    for n in 0..2 {
        let hit = connection.answer(false).await;
        assert_eq!((hit.status, hit.header("x-cache")), (200, Some("HIT")), "{n}: {hit:?}");
    }
    assert_eq!(stub.lookups(), 0);
    stop(proxy).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_1_0_and_connection_close_end_the_connection_after_the_answer() {
    let (_redis, _stub, proxy) = start_with_record().await;
    let closing = [
        format!("GET /obtener-ruc/{RUC} HTTP/1.0\r\n\r\n"),
        format!("GET /obtener-ruc/{RUC} HTTP/1.1\r\nHost: ruc\r\nConnection: close\r\n\r\n"),
    ];
    for text in closing {
        let mut connection = RawConnection::open(&proxy).await;
        connection.send(&text).await;
        let answer = connection.answer(false).await;
        assert_eq!(answer.status, 200, "{text}: {answer:?}");
        assert_eq!(answer.header("connection"), Some("close"), "{text}");
        assert!(connection.closed().await, "{text}: closed after the answer");
    }
    stop(proxy).await;
}

/// A miss reads its keys once: the record's, then the remembered "no such
/// RUC", and no more before it stores the record.
#[tokio::test(flavor = "multi_thread")]
async fn a_miss_reads_its_keys_once() {
    let (redis, stub, proxy) = start_with_record().await;
    let monitor = redis.monitor();
    let miss = proxy.lookup(OTHER).await;
    assert_eq!(miss.header("x-cache"), "MISS");
    let stored = format!("\"SET\" \"{}\"", key(OTHER));
    support::wait_until("the record is stored", || monitor.sent(&stored) == 1).await;
    assert_eq!(monitor.sent(&format!("\"GET\" \"{}\"", key(OTHER))), 1);
    assert_eq!(monitor.sent(&format!("\"GET\" \"sunat:notfound:{OTHER}\"")), 1);
    assert_eq!(stub.lookups(), 1);
    stop(proxy).await;
}
