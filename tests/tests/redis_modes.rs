//! The proxy on each kind of Redis deployment `REDIS_MODE` and `REDIS_URL`
//! can name, with real `redis-server` processes: TLS (`rediss://`, the
//! server verified against `REDIS_CA_FILE`), a Redis Cluster of three
//! masters, and a master with a replica watched by three sentinels.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{key, same_ruc, spread, RUC};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::redis_cluster::RedisCluster;
use crate::support::redis_sentinel::RedisSentinel;
use crate::support::stub::{busy_body, record, Reply, StubScraper};
use crate::support::valid_ruc;
use reqwest::Method;

const TOKEN: &str = "5f1d8e2a9c4b7036d2e8f1a4c9b0e7d3";

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
    let with_l1 = Proxy::start(&redis.url(), &stub.url(), &env[..1]).await;
    let tracked = || async { with_l1.get("/health").await.json()["l1"] == "tracked" };
    support::wait_until_async("Redis tracks the copy over TLS", tracked).await;
    assert!(with_l1.stop().await.success());

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

    // Looked up once, then served from the answer held for want of Redis.
    for x_cache in ["MISS", "STALE"] {
        let answer = proxy.lookup(RUC).await;
        assert_eq!((answer.status, answer.header("x-cache")), (200, x_cache));
        assert!(answer.header("cache-status").ends_with("detail=redis-unavailable"));
    }
    assert_eq!(stub.lookups(), 1);
    assert_eq!(redis.cache_keys(), Vec::<String>::new(), "nothing reached Redis");
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn on_a_redis_cluster_the_contract_holds_and_a_killed_master_costs_only_its_slots() {
    let (mut cluster, stub) = (RedisCluster::start().await, StubScraper::start().await);
    let urls = cluster.urls();
    let env = [("REDIS_MODE", "cluster"), ("L1_TTL_MS", "0"), ("ADMIN_TOKEN", TOKEN)];
    let replicas = [
        Arc::new(Proxy::start(&urls, &stub.url(), &env).await),
        Arc::new(Proxy::start(&urls, &stub.url(), &env).await),
    ];
    assert_eq!(replicas[0].get("/health").await.json()["redis_mode"], "cluster");

    // Miss, coalesced across the replicas; stored fresh then stale; hit.
    stub.delay(Duration::from_millis(500));
    for answer in spread(&replicas, same_ruc(10)).await {
        assert_eq!((answer.status, answer.json()), (200, record(RUC)));
    }
    assert_eq!(stub.lookups(), 1, "one lookup for both replicas");
    support::wait_until("the record is stored", || cluster.get(&key(RUC)).is_some()).await;
    assert!((1_209_590..=1_209_600).contains(&cluster.ttl(&key(RUC))));
    for proxy in &replicas {
        assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    }

    // SUNAT's "no such RUC" is remembered, apart from the records.
    let unknown = valid_ruc(1);
    let not_found = format!(r#"{{"message":"Error al consultar RUC","detail":"no existe","ruc":"{unknown}"}}"#);
    stub.reply(Reply::Status(404, not_found.clone()));
    assert_eq!(replicas[0].lookup(&unknown).await.header("x-cache"), "MISS");
    let remembered = format!("sunat:notfound:{unknown}");
    support::wait_until("the 404 is remembered", || cluster.get(&remembered).is_some()).await;
    let hit = replicas[1].lookup(&unknown).await;
    assert_eq!(
        (hit.status, hit.header("x-cache"), hit.body.as_str()),
        (404, "HIT", not_found.as_str())
    );

    // Purge on the admin listener; the next lookup misses.
    let purged = replicas[1]
        .admin(Method::DELETE, &format!("/cache/{RUC}"), Some(TOKEN))
        .await;
    assert_eq!((purged.status, purged.json()["deleted"].as_u64()), (200, Some(1)));
    assert_eq!(cluster.get(&key(RUC)), None);

    // A stale record is served when the scraper fails.
    stub.reply(Reply::Status(502, busy_body(RUC)));
    stub.delay(Duration::ZERO);
    cluster.set(&key(RUC), &record(RUC).to_string(), 604_800 - 3600);
    assert_eq!(replicas[0].lookup(RUC).await.header("x-cache"), "STALE");

    // The master of RUC's slot dies: its lookups miss (the scraper answers),
    // the other masters' records are still hits.
    stub.reply(Reply::Record);
    let elsewhere = (10..200)
        .map(valid_ruc)
        .find(|ruc| cluster.owner(&key(ruc)).port() != cluster.owner(&key(RUC)).port())
        .expect("a RUC in another master's slots");
    cluster.set(&key(&elsewhere), &record(&elsewhere).to_string(), 3600);
    cluster.owner(&key(RUC)).kill();
    for proxy in &replicas {
        let missed = proxy.lookup(RUC).await;
        assert_eq!((missed.status, missed.header("x-cache")), (200, "MISS"));
        let hit = || async { proxy.lookup(&elsewhere).await.header("x-cache") == "HIT" };
        support::wait_until_async("the other masters' records are served", hit).await;
    }

    // Back (empty): caching resumes for its slots without a restart.
    for node in &mut cluster.nodes {
        if node.connection().is_err() {
            node.restart();
        }
    }
    cluster.wait_until_ok().await;
    for proxy in replicas {
        let cached = || async { proxy.lookup(RUC).await.header("x-cache") == "HIT" };
        support::wait_until_async("RUC is cached again", cached).await;
        Arc::into_inner(proxy).unwrap().stop().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn with_sentinel_the_proxy_follows_a_failover_without_a_restart() {
    let (mut set, stub) = (RedisSentinel::start().await, StubScraper::start().await);
    let sentinels = set.addresses();
    let env = [
        ("REDIS_MODE", "sentinel"),
        ("REDIS_SENTINELS", sentinels.as_str()),
        ("L1_TTL_MS", "0"),
    ];
    let proxy = Proxy::start("redis://ruc", &stub.url(), &env).await;
    let with_l1 = Proxy::start("redis://ruc", &stub.url(), &env[..2]).await;
    let connected = || async { proxy.get("/health").await.json()["redis"] == "connected" };
    support::wait_until_async("the proxy finds the master", connected).await;
    let tracked = || async { with_l1.get("/health").await.json()["l1"] == "tracked" };
    support::wait_until_async("the master tracks the copy", tracked).await;
    assert_eq!(proxy.get("/health").await.json()["redis_mode"], "sentinel");
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    support::wait_until("the record is on the master", || set.master.get(&key(RUC)).is_some()).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");

    // The master dies; the sentinels promote the replica, and the proxy
    // caches there, while it answers every lookup meanwhile.
    let replica_port = set.replica.port();
    set.master.kill();
    support::wait_until("the sentinels fail over", || set.master_port() == Some(replica_port)).await;
    let other = valid_ruc(1);
    let cached_again = || async {
        let answer = proxy.lookup(&other).await;
        assert_eq!(answer.status, 200, "answered during the failover");
        answer.header("x-cache") == "HIT"
    };
    support::wait_until_async("caching resumes on the new master", cached_again).await;
    assert!(
        set.replica.get(&key(&other)).is_some(),
        "stored on the promoted replica"
    );
    // The copy follows the master too: tracked there, invalidated by it.
    let moved = || async { with_l1.metric("ruc_proxy_cache_l1_tracking_losses_total").await >= 1.0 };
    support::wait_until_async("the copy leaves the old master", moved).await;
    support::wait_until_async("the new master tracks the copy", tracked).await;
    let invalidations = with_l1.metric("ruc_proxy_cache_l1_invalidations_total").await;
    set.replica
        .set(&key(&other), &record(&other).to_string(), Some(14 * 86_400));
    let invalidated = || async { with_l1.metric("ruc_proxy_cache_l1_invalidations_total").await > invalidations };
    support::wait_until_async("the new master's invalidation arrives", invalidated).await;
    assert!(with_l1.stop().await.success());
    assert!(proxy.stop().await.success());
}
