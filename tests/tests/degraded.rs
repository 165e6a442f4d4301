//! The proxy when its neighbours fail, end to end: scraper errors passed
//! on and never stored, a scraper that refuses connections or answers too
//! late, and Redis down, absent at start, or back.

use crate::support;

use std::time::Duration;

use crate::support::free_port;
use crate::support::lookups::{key, wait_for_redis, RUC};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{record, Reply, StubScraper};

#[tokio::test(flavor = "multi_thread")]
async fn scraper_errors_are_passed_through_unchanged_and_not_stored() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    for (status, body) in [
        (
            500,
            r#"{"message":"Error al consultar RUC","detail":"interno","ruc":"20131312955"}"#,
        ),
        (
            502,
            r#"{"message":"Error al consultar RUC","detail":"firewall","ruc":"20131312955"}"#,
        ),
    ] {
        stub.reply(Reply::Status(status, body.into()));
        let before = stub.lookups();
        let answer = proxy.lookup(RUC).await;
        assert_eq!((answer.status, answer.body.as_str()), (status, body));
        assert_eq!(answer.header("x-cache"), "MISS");
        assert_eq!(
            answer.header("cache-status"),
            format!("ruc-proxy; fwd=miss; fwd-status={status}")
        );
        proxy.lookups_settled().await;
        assert_eq!(redis.cache_keys(), Vec::<String>::new(), "{status} not stored");
        proxy.lookup(RUC).await;
        proxy.lookups_settled().await;
        assert_eq!(
            stub.lookups(),
            before + 2,
            "{status}: the next lookup goes to the scraper again"
        );
    }
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn lookups_are_answered_while_redis_is_down_and_caching_resumes_after() {
    let (mut redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    support::wait_until("the record is stored", || redis.get(&key(RUC)).is_some()).await;

    // Never read from Redis, so not in the in-process copy: looked up once,
    // then served from the answer held for want of Redis.
    redis.kill();
    let first = proxy.lookup(RUC).await;
    assert_eq!(
        (first.status, first.header("x-cache")),
        (200, "MISS"),
        "answered through the scraper"
    );
    for _ in 0..3 {
        let answer = proxy.lookup(RUC).await;
        assert_eq!((answer.status, answer.json()), (200, record(RUC)));
        let cache_status = answer.header("cache-status");
        assert_eq!(answer.header("x-cache"), "STALE");
        assert!(
            cache_status.starts_with("ruc-proxy; hit; ttl=6047")
                && cache_status.ends_with("; detail=redis-unavailable"),
            "{cache_status}"
        );
    }
    assert_eq!(stub.lookups(), 2, "one lookup for the outage");
    let health = proxy.get("/health").await.json();
    assert_eq!(
        (health["status"].as_str(), health["redis"].as_str()),
        (Some("healthy"), Some("disconnected"))
    );
    assert!(proxy.metric("ruc_proxy_redis_errors_total").await >= 1.0);
    assert_eq!(proxy.metric("ruc_proxy_cache_unstored").await, 1.0);

    // Back, empty: the held answer is written, and served as a hit.
    redis.restart();
    wait_for_redis(&proxy).await;
    support::wait_until("the held record is written", || redis.get(&key(RUC)).is_some()).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    assert_eq!(proxy.metric("ruc_proxy_cache_unstored").await, 0.0);
    assert_eq!(stub.lookups(), 2, "nothing looked up again");
    assert!(proxy.stop().await.success());
}

/// Redis comes back from its outage with an old, stale record of a RUC:
/// the answer fetched meanwhile replaces it, and the next request is a hit
/// rather than another lookup. A record there with more time left than the
/// held answer is newer, and stays.
#[tokio::test(flavor = "multi_thread")]
async fn a_held_answer_replaces_an_older_record_redis_comes_back_with_not_a_newer_one() {
    let (mut redis, stub) = (RedisServer::start_persistent(), StubScraper::start().await);
    let newer_ruc = support::valid_ruc(99_000_002);
    let named = |ruc: &str, name: &str| {
        let mut named = record(ruc);
        named["razonSocial"] = name.into();
        named.to_string()
    };
    // One day left of fourteen (seven fresh, seven stale-if-error): stale.
    redis.set(&key(RUC), &named(RUC, "AN OLD NAME"), Some(86_400));
    // More left than an answer fetched now can have.
    redis.set(&key(&newer_ruc), &named(&newer_ruc, "A NEWER NAME"), Some(15 * 86_400));
    redis.kill();
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    assert_eq!(proxy.lookup(RUC).await.json(), record(RUC));
    assert_eq!(proxy.lookup(&newer_ruc).await.json(), record(&newer_ruc));
    assert_eq!(proxy.metric("ruc_proxy_cache_unstored").await, 2.0);

    redis.restart();
    wait_for_redis(&proxy).await;
    support::wait_until("the held record is written", || {
        redis.get(&key(RUC)).is_some_and(|body| !body.contains("AN OLD NAME"))
    })
    .await;
    support::wait_until_async("the held answers are let go", || async {
        proxy.metric("ruc_proxy_cache_unstored").await == 0.0
    })
    .await;
    assert!(redis.ttl(&key(RUC)) > 7 * 86_400, "stored as just fetched");
    assert!(redis.get(&key(&newer_ruc)).unwrap().contains("A NEWER NAME"));
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    assert_eq!(stub.lookups(), 2, "nothing looked up again");
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_starts_without_redis_and_uses_it_once_it_appears() {
    let stub = StubScraper::start().await;
    let port = free_port();
    let proxy = Proxy::start(&format!("redis://127.0.0.1:{port}"), &stub.url(), &[]).await;
    let health = proxy.get("/health").await.json();
    assert_eq!(health["redis"], "disconnected");
    assert_eq!(proxy.lookup(RUC).await.status, 200);

    // The answer fetched without Redis is written there once it appears.
    let redis = RedisServer::on_port(port);
    wait_for_redis(&proxy).await;
    support::wait_until("the record is stored", || redis.get(&key(RUC)).is_some()).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    assert_eq!(stub.lookups(), 1);
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_that_refuses_connections_gives_a_quick_502() {
    let redis = RedisServer::start();
    let proxy = Proxy::start(&redis.url(), &format!("http://127.0.0.1:{}", free_port()), &[]).await;
    // The client's bound is far below the 50 s upstream timeout: a hang fails here.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let response = client
        .get(format!("{}/obtener-ruc/{RUC}", proxy.base))
        .send()
        .await
        .expect("a quick answer");
    assert_eq!(response.status(), 502);
    let header = |name: &str| response.headers()[name].to_str().unwrap().to_string();
    assert_eq!(
        (header("x-cache"), header("cache-status")),
        ("MISS".into(), "ruc-proxy; fwd=miss; detail=scraper-unreachable".into())
    );
    // A lookup that failed ends the answer, not the connection.
    assert_eq!(header("connection"), "keep-alive");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["message"], "Error al consultar RUC");
    assert_eq!(body["ruc"], RUC);
    assert_eq!(proxy.metric("ruc_proxy_upstream_errors_total").await, 1.0);
    let health = proxy.get("/health").await.json();
    assert_eq!(health["scraper"], "unreachable");
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_slower_than_the_upstream_timeout_gives_504() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(4));
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("UPSTREAM_TIMEOUT_SECS", "1")]).await;
    let answer = proxy.lookup(RUC).await;
    assert_eq!(answer.status, 504, "{}", answer.body);
    assert_eq!(answer.json()["ruc"], RUC);
    assert_eq!(
        (answer.header("x-cache"), answer.header("cache-status")),
        ("MISS", "ruc-proxy; fwd=miss; detail=scraper-timeout")
    );
    assert_eq!(stub.lookups(), 1, "a timeout is never retried");
    assert_eq!(redis.get(&key(RUC)), None);
    assert!(proxy.stop().await.success());
}
