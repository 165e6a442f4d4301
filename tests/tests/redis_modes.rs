//! The proxy on each kind of Redis deployment `REDIS_URL` can name, with
//! real `redis-server` processes: TLS (`rediss://`, the server verified
//! against `REDIS_CA_FILE`).

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::lookups::{key, same_ruc, spread, RUC};
use support::proxy::Proxy;
use support::redis::RedisServer;
use support::stub::{record, StubScraper};

#[tokio::test(flavor = "multi_thread")]
async fn over_tls_the_proxy_caches_and_coordinates_as_on_plain_redis() {
    let (redis, stub) = (RedisServer::start_tls(), StubScraper::start().await);
    assert!(redis.url().starts_with("rediss://"));
    let ca = redis.ca_file();
    let env = [("REDIS_CA_FILE", ca.to_str().unwrap()), ("L1_TTL_MS", "0")];
    let replicas = [
        Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await),
        Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await),
    ];
    let health = replicas[0].get("/health").await.json();
    assert_eq!(
        (&health["redis"], &health["redis_mode"], &health["fleet"]),
        (&"connected".into(), &"tls".into(), &"fleet-wide".into())
    );

    stub.delay(Duration::from_millis(500));
    for answer in spread(&replicas, same_ruc(10)).await {
        assert_eq!((answer.status, answer.json()), (200, record(RUC)));
    }
    assert_eq!(stub.lookups(), 1, "one lookup for both replicas");
    support::wait_until("the record is stored", || redis.get(&key(RUC)).is_some()).await;
    for proxy in replicas {
        let hit = proxy.lookup(RUC).await;
        assert_eq!((hit.header("x-cache"), hit.json()), ("HIT", record(RUC)));
        assert_eq!(
            proxy.metric("ruc_proxy_cache_l1_hits_total").await,
            0.0,
            "read from Redis"
        );
        Arc::into_inner(proxy).unwrap().stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_certificate_the_proxy_does_not_trust_is_refused_and_lookups_go_on_uncached() {
    let (redis, stub) = (RedisServer::start_tls(), StubScraper::start().await);
    // The system's roots do not know the test's CA.
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let disconnected = || async { proxy.get("/health").await.json()["redis"] == "disconnected" };
    support::wait_until_async("the health check fails", disconnected).await;

    for _ in 0..2 {
        let answer = proxy.lookup(RUC).await;
        assert_eq!((answer.status, answer.header("x-cache")), (200, "MISS"));
        assert!(answer.header("cache-status").ends_with("detail=redis-unavailable"));
    }
    assert_eq!(redis.cache_keys(), Vec::<String>::new(), "nothing reached Redis");
    assert!(proxy.stop().await.success());
}
