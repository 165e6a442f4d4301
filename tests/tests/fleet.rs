//! Replicas of the proxy on one Redis act as one fleet: one scraper lookup
//! per new RUC, one limit toward the scrapers and one circuit breaker,
//! whatever the number of replicas; a replica killed mid-lookup is taken
//! over, and without Redis each replica coordinates alone until it is back.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{distinct_rucs, spread, wait_for_redis, RUC};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{busy_body, record, Reply, StubScraper};
use crate::support::valid_ruc;

/// `count` proxies on one Redis and one scraper, with `env`.
async fn fleet(count: usize, redis: &RedisServer, stub: &StubScraper, env: &[(&str, &str)]) -> Vec<Arc<Proxy>> {
    let mut replicas = Vec::new();
    for _ in 0..count {
        replicas.push(Arc::new(Proxy::start(&redis.url(), &stub.url(), env).await));
    }
    replicas
}

/// A metric summed over the replicas.
async fn fleet_metric(replicas: &[Arc<Proxy>], name: &str) -> f64 {
    let mut sum = 0.0;
    for proxy in replicas {
        sum += proxy.metric(name).await;
    }
    sum
}

async fn stop(replicas: Vec<Arc<Proxy>>) {
    for proxy in replicas {
        assert!(Arc::into_inner(proxy).unwrap().stop().await.success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sixty_misses_of_one_ruc_over_three_replicas_make_one_scraper_request() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(2));
    let replicas = fleet(3, &redis, &stub, &[]).await;

    let answers = spread(&replicas, vec![RUC.to_string(); 60]).await;
    for answer in &answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body, answers[0].body, "60 identical answers");
    }
    assert_eq!(answers[0].json(), record(RUC));
    assert_eq!(stub.lookups(), 1, "one scraper request for the whole fleet");
    assert_eq!(fleet_metric(&replicas, "ruc_proxy_cache_misses_total").await, 1.0);
    assert_eq!(
        fleet_metric(&replicas, "ruc_proxy_fleet_followed_total").await,
        2.0,
        "the two other replicas waited for the leader's lease"
    );
    stop(replicas).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_lookup_is_one_scraper_request_and_the_same_error_on_every_replica() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(1));
    stub.reply(Reply::Busy);
    let replicas = fleet(3, &redis, &stub, &[]).await;

    for answer in spread(&replicas, vec![RUC.to_string(); 30]).await {
        assert_eq!((answer.status, answer.body.as_str()), (503, busy_body(RUC).as_str()));
        assert_eq!(answer.header("retry-after"), "5");
    }
    assert_eq!(stub.lookups(), 1);
    assert_eq!(redis.cache_keys(), Vec::<String>::new(), "nothing stored");
    stop(replicas).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_fleet_sends_at_most_the_global_limit_of_lookups_at_once() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_millis(300));
    let env = [
        ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "2"),
        ("UPSTREAM_QUEUE_TIMEOUT_SECS", "60"),
    ];
    let replicas = fleet(3, &redis, &stub, &env).await;

    // Each replica alone would send 2 at once (UPSTREAM_MAX_INFLIGHT): 6.
    for answer in spread(&replicas, distinct_rucs(30)).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(stub.lookups(), 30);
    assert_eq!(stub.most_concurrent(), 2, "never more than 2 at once");
    stop(replicas).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_killed_mid_lookup_is_taken_over_by_a_waiting_replica() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(3));
    let replicas = fleet(3, &redis, &stub, &[("FLEET_LEASE_SECS", "2")]).await;

    let leader = {
        let proxy = replicas[0].clone();
        tokio::spawn(async move { proxy.try_get(&format!("/obtener-ruc/{RUC}")).await })
    };
    support::wait_until("the leader asks the scraper", || stub.lookups() == 1).await;
    let others = replicas[1..].to_vec();
    let waiting = tokio::spawn(async move { spread(&others, vec![RUC.to_string(); 10]).await });
    let followed = || async { fleet_metric(&replicas[1..], "ruc_proxy_fleet_followed_total").await == 2.0 };
    support::wait_until_async("the other replicas follow the leader", followed).await;
    replicas[0].kill();
    assert!(
        leader.await.unwrap().is_err(),
        "the leader's client lost its connection"
    );

    for answer in waiting.await.unwrap() {
        assert_eq!((answer.status, answer.json()), (200, record(RUC)));
    }
    assert_eq!(stub.lookups(), 2, "one further scraper request");
    assert!(fleet_metric(&replicas[1..], "ruc_proxy_fleet_takeovers_total").await >= 1.0);
    assert!(
        redis.get(&support::lookups::key(RUC)).is_some(),
        "stored by the new leader"
    );
    let mut replicas = replicas;
    replicas.remove(0);
    stop(replicas).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_anywhere_open_the_breaker_everywhere_then_one_probe_goes() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.reply(Reply::Status(502, busy_body(RUC)));
    let env = [("BREAKER_FAILURES", "3"), ("BREAKER_OPEN_SECS", "2")];
    let replicas = fleet(3, &redis, &stub, &env).await;

    // One failure on each replica: three in a row for the fleet.
    for (i, proxy) in replicas.iter().enumerate() {
        assert_eq!(proxy.lookup(&valid_ruc(i as u64)).await.status, 502);
        proxy.lookups_settled().await;
    }
    for (i, proxy) in replicas.iter().enumerate() {
        let refused = proxy.lookup(&valid_ruc(10 + i as u64)).await;
        assert_eq!(
            (refused.status, refused.header("cache-status")),
            (503, "ruc-proxy; detail=breaker-open")
        );
    }
    assert_eq!(stub.lookups(), 3, "no replica asked the scraper while open");
    assert_eq!(fleet_metric(&replicas, "ruc_proxy_breaker_opened_total").await, 1.0);

    // Once open time is over, one probe for the whole fleet; the others
    // are refused while it runs, and its success closes the breaker.
    stub.reply(Reply::Record);
    stub.delay(Duration::from_secs(1));
    support::wait_until("the open period ends", || {
        redis.get("sunat:breaker:{sunat}:open").is_none()
    })
    .await;
    let answers = spread(&replicas, (20..26).map(valid_ruc).collect()).await;
    let statuses: Vec<u16> = answers.iter().map(|a| a.status).collect();
    assert_eq!(statuses.iter().filter(|&&s| s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|&&s| s == 503).count(), 5, "{statuses:?}");
    assert_eq!(stub.lookups(), 4, "one probe");
    for proxy in &replicas {
        proxy.lookups_settled().await;
    }
    for (i, proxy) in replicas.iter().enumerate() {
        assert_eq!(proxy.lookup(&valid_ruc(30 + i as u64)).await.status, 200, "closed");
    }
    stop(replicas).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_redis_each_replica_coordinates_alone_and_the_fleet_returns_with_redis() {
    let (mut redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(1));
    let replicas = fleet(3, &redis, &stub, &[]).await;

    redis.kill();
    let answers = spread(&replicas, vec![RUC.to_string(); 30]).await;
    for answer in &answers {
        assert_eq!((answer.status, answer.json()), (200, record(RUC)));
    }
    assert_eq!(stub.lookups(), 3, "one lookup per replica: each coalesces alone");
    let cache_statuses: Vec<&str> = answers.iter().map(|a| a.header("cache-status")).collect();
    assert!(
        cache_statuses.iter().any(|s| s.ends_with("detail=redis-unavailable")),
        "{cache_statuses:?}"
    );
    let fallbacks = r#"ruc_proxy_fleet_fallbacks_total{part="coalescing"}"#;
    for proxy in &replicas {
        assert!(proxy.metric(fallbacks).await >= 1.0);
        assert_eq!(proxy.get("/health").await.json()["fleet"], "per-process");
    }

    redis.restart();
    for proxy in &replicas {
        wait_for_redis(proxy).await;
        assert_eq!(proxy.get("/health").await.json()["fleet"], "fleet-wide");
    }
    let other = valid_ruc(1);
    for answer in spread(&replicas, vec![other.clone(); 30]).await {
        assert_eq!((answer.status, answer.json()), (200, record(&other)));
    }
    assert_eq!(stub.lookups(), 4, "one lookup for the fleet again");
    stop(replicas).await;
}
