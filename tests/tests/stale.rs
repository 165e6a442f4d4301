//! Records past their freshness, end to end: refreshed first and served
//! when the scraper fails (stale-if-error), or served at once and refreshed
//! in the background (stale-while-revalidate).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::free_port;
use crate::support::lookups::{assert_stale, concurrent_lookups, key, same_ruc, store_stale_record, RUC};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{busy_body, Reply, StubScraper};

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_record_is_refreshed_first_and_served_when_the_scraper_fails() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("UPSTREAM_TIMEOUT_SECS", "1")]).await;

    // The scraper answers: a normal miss, and the record is fresh again.
    store_stale_record(&redis);
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    support::wait_until("the refreshed record is stored", || redis.ttl(&key(RUC)) > 1_209_000).await;
    proxy.lookups_settled().await;

    // The scraper fails with a 5xx, or does not answer in time: the stale
    // record is served, and stays in Redis as it was.
    for (reply, delay) in [
        (Reply::Status(502, busy_body(RUC)), Duration::ZERO),
        (Reply::Busy, Duration::ZERO),
        (Reply::Record, Duration::from_secs(3)),
    ] {
        store_stale_record(&redis);
        stub.reply(reply);
        stub.delay(delay);
        assert_stale(&proxy.lookup(RUC).await, "stale-if-error");
        assert!(redis.ttl(&key(RUC)) <= 604_800 - 3600, "not overwritten");
    }
    assert_eq!(stub.lookups(), 4);
    assert_eq!(proxy.metric("ruc_proxy_cache_stale_total").await, 3.0);
    assert_eq!(
        proxy.metric("ruc_proxy_cache_hits_total").await,
        0.0,
        "a stale serve is no hit"
    );

    // Concurrent lookups share the one failing scraper request; each gets
    // the stale record.
    stub.reply(Reply::Status(500, busy_body(RUC)));
    stub.delay(Duration::from_millis(500));
    let proxy = Arc::new(proxy);
    for answer in concurrent_lookups(&proxy, same_ruc(10)).await {
        assert_stale(&answer, "stale-if-error");
    }
    assert_eq!(stub.lookups(), 5);
    Arc::into_inner(proxy).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_record_is_served_when_the_scraper_refuses_connections() {
    let redis = RedisServer::start();
    let proxy = Proxy::start(&redis.url(), &format!("http://127.0.0.1:{}", free_port()), &[]).await;
    store_stale_record(&redis);
    assert_stale(&proxy.lookup(RUC).await, "stale-if-error");
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn within_stale_while_revalidate_the_stale_record_is_served_at_once_and_refreshed_once() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let env = [("STALE_WHILE_REVALIDATE_SECONDS", "86400")];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    stub.delay(Duration::from_secs(1));
    store_stale_record(&redis);

    for answer in concurrent_lookups(&proxy, same_ruc(10)).await {
        assert_stale(&answer, "stale-while-revalidate");
    }
    support::wait_until("the record is refreshed", || redis.ttl(&key(RUC)) > 1_209_000).await;
    proxy.lookups_settled().await;
    assert_eq!(stub.lookups(), 1, "one background request");
    assert_eq!(
        proxy
            .metric(r#"ruc_proxy_background_refreshes_total{outcome="stored"}"#)
            .await,
        1.0
    );
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    Arc::into_inner(proxy).unwrap().stop().await;
}
