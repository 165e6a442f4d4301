//! Concurrent misses of one RUC, end to end: one scraper lookup, whose
//! answer (errors and `Retry-After` included) every waiting request gets.

use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{concurrent_lookups, key, same_ruc, RUC};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{busy_body, record, Reply, StubScraper};

#[tokio::test(flavor = "multi_thread")]
async fn fifty_concurrent_misses_make_one_scraper_request() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(2));
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &[]).await);

    let mut bodies = Vec::new();
    for answer in concurrent_lookups(&proxy, same_ruc(50)).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
        bodies.push(answer.body);
    }
    assert_eq!(stub.lookups(), 1, "one scraper request for 50 lookups");
    assert!(bodies.iter().all(|body| *body == bodies[0]), "50 identical bodies");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&bodies[0]).unwrap(),
        record(RUC)
    );
    assert_eq!(proxy.metric("ruc_proxy_cache_misses_total").await, 1.0);
    let coalesced = proxy.metric("ruc_proxy_coalesced_total").await;
    let hits = proxy.metric("ruc_proxy_cache_hits_total").await;
    assert_eq!(
        coalesced + hits,
        49.0,
        "the others followed the lookup in flight (or hit once stored)"
    );
    assert!(Arc::try_unwrap(proxy).ok().unwrap().stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_lookup_is_shared_by_the_requests_that_waited_for_it() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let error = r#"{"message":"Error al consultar RUC","detail":"SUNAT rechazó la consulta","ruc":"20131312955"}"#;
    stub.reply(Reply::Status(502, error.into()));
    stub.delay(Duration::from_secs(1));
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &[]).await);

    for answer in concurrent_lookups(&proxy, same_ruc(20)).await {
        assert_eq!((answer.status, answer.body.as_str()), (502, error));
    }
    assert_eq!(stub.lookups(), 1, "the failure did not send a herd to the scraper");
    assert_eq!(redis.get(&key(RUC)), None);

    // A later request tries again: the failed flight ended before its
    // answers went out.
    stub.delay(Duration::ZERO);
    stub.reply(Reply::Record);
    assert_eq!(proxy.lookup(RUC).await.status, 200);
    assert_eq!(stub.lookups(), 2);
    assert!(Arc::try_unwrap(proxy).ok().unwrap().stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn waiters_of_a_busy_scraper_get_its_retry_after_too() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.reply(Reply::Busy);
    stub.delay(Duration::from_secs(1));
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &[]).await);
    for answer in concurrent_lookups(&proxy, same_ruc(5)).await {
        assert_eq!((answer.status, answer.body.as_str()), (503, busy_body(RUC).as_str()));
        assert_eq!(answer.header("retry-after"), "5");
    }
    assert_eq!(stub.lookups(), 1);
    assert!(Arc::try_unwrap(proxy).ok().unwrap().stop().await.success());
}
