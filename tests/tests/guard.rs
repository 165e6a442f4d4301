//! The gate toward the scraper, end to end: at most
//! `UPSTREAM_MAX_INFLIGHT` lookups at a time, a bounded wait for the rest,
//! and the circuit breaker.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{assert_stale, concurrent_lookups, distinct_rucs, store_stale_record, RUC};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{busy_body, Reply, StubScraper};
use crate::support::valid_ruc;

#[tokio::test(flavor = "multi_thread")]
async fn at_most_upstream_max_inflight_lookups_reach_the_scraper_and_the_rest_wait_then_get_503() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_millis(1500));
    let env = [("UPSTREAM_MAX_INFLIGHT", "2"), ("UPSTREAM_QUEUE_TIMEOUT_SECS", "1")];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);

    let answers = concurrent_lookups(&proxy, distinct_rucs(5)).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 2, "{statuses:?}");
    for refused in answers.iter().filter(|a| a.status != 200) {
        assert_eq!(refused.status, 503);
        assert_eq!(refused.header("retry-after"), "5");
        assert_eq!(refused.header("cache-status"), "ruc-proxy; detail=upstream-queue-full");
        assert_eq!(refused.json()["message"], "Error al consultar RUC");
    }
    assert_eq!((stub.lookups(), stub.most_concurrent()), (2, 2));
    assert_eq!(
        proxy
            .metric(r#"ruc_proxy_upstream_refused_total{reason="upstream-queue-full"}"#)
            .await,
        3.0
    );
    Arc::into_inner(proxy).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn lookups_that_wait_long_enough_all_go_through_two_at_a_time() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_millis(300));
    let env = [("UPSTREAM_MAX_INFLIGHT", "2"), ("UPSTREAM_QUEUE_TIMEOUT_SECS", "30")];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    let answers = concurrent_lookups(&proxy, distinct_rucs(6)).await;
    assert!(answers.iter().all(|a| a.status == 200));
    assert_eq!((stub.lookups(), stub.most_concurrent()), (6, 2));
    Arc::into_inner(proxy).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_breaker_opens_after_consecutive_failures_serves_stale_then_probes() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let env = [("BREAKER_FAILURES", "3"), ("BREAKER_OPEN_SECS", "2")];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    stub.reply(Reply::Status(502, busy_body(RUC)));
    for answer in concurrent_lookups(&proxy, distinct_rucs(3)).await {
        assert_eq!(answer.status, 502);
    }
    // Each lookup told the breaker how it went before its answer went out.
    assert_eq!(proxy.metric("ruc_proxy_breaker_state").await, 1.0, "open");

    // Open: the scraper is not asked; a stale record is served, otherwise
    // a quick 503 says when to come back.
    let refused = proxy.lookup(&valid_ruc(20_000_000)).await;
    assert_eq!(
        (refused.status, refused.header("cache-status")),
        (503, "ruc-proxy; detail=breaker-open")
    );
    let retry_after: u64 = refused.header("retry-after").parse().unwrap();
    assert!((1..=2).contains(&retry_after), "{retry_after}");
    store_stale_record(&redis);
    assert_stale(&proxy.lookup(RUC).await, "stale-if-error");
    assert_eq!(stub.lookups(), 3, "nothing reached the scraper while open");

    // After BREAKER_OPEN_SECS one probe goes; its success closes the breaker.
    // Until then every lookup is refused without reaching the scraper.
    stub.reply(Reply::Record);
    let probed = || async { proxy.lookup(&valid_ruc(20_000_001)).await.status == 200 };
    support::wait_until_async("the breaker lets a probe through", probed).await;
    proxy.lookups_settled().await;
    assert_eq!(stub.lookups(), 4, "one probe");
    assert_eq!(proxy.metric("ruc_proxy_breaker_state").await, 0.0, "closed");
    assert_eq!(proxy.lookup(&valid_ruc(20_000_002)).await.status, 200);
    assert_eq!(stub.lookups(), 5);
    assert_eq!(proxy.metric("ruc_proxy_breaker_opened_total").await, 1.0);
    Arc::into_inner(proxy).unwrap().stop().await;
}
