//! The in-process copy (L1) kept coherent by Redis (`CLIENT TRACKING`):
//! real proxies on one real Redis. A purge or a newer record on one replica
//! reaches the other's copy through Redis's invalidation, not through the
//! copy's one-second bound; and a lost invalidation connection drops the
//! copy whole.

use std::time::{Duration, Instant};

use crate::support::lookups::{key, RUC};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{busy_body, record, Reply, StubScraper};
use crate::support::wait_until_async;
use reqwest::Method;
use serde_json::Value;

const TOKEN: &str = "9f3c2a71e4b08d56c1a7e3f29b4d60c8e2f5a1b7";

#[tokio::test(flavor = "multi_thread")]
async fn a_purge_or_a_newer_record_on_one_replica_reaches_the_others_copy() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let admin = [("ADMIN_TOKEN", TOKEN)];
    let (a, b) = (
        Proxy::start(&redis.url(), &stub.url(), &admin).await,
        Proxy::start(&redis.url(), &stub.url(), &admin).await,
    );
    for proxy in [&a, &b] {
        wait_until_async("Redis tracks the replica's copy", || async {
            proxy.get("/health").await.json()["l1"] == "tracked"
        })
        .await;
    }
    // As the proxy stores a record: fresh 7 days, then 7 more stale.
    let store = |record: &Value| {
        redis::cmd("SET")
            .arg(key(RUC))
            .arg(record.to_string())
            .arg("EX")
            .arg(14 * 86_400)
            .query::<()>(&mut redis.connection().unwrap())
            .unwrap()
    };
    let first = record(RUC);
    store(&first);
    copy_in_memory(&b, &first).await;
    // Past L1_TTL_MS (1 s): a tracked copy does not expire by itself.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let l1_hits = b.metric("ruc_proxy_cache_l1_hits_total").await;
    assert_eq!(b.lookup(RUC).await.json(), first);
    assert_eq!(
        b.metric("ruc_proxy_cache_l1_hits_total").await,
        l1_hits + 1.0,
        "still in memory"
    );

    // A newer record, written by anyone: B's copy is invalidated.
    let mut newer = first.clone();
    newer["razonSocial"] = "EMPRESA RENOMBRADA S.A.C.".into();
    let invalidations = b.metric("ruc_proxy_cache_l1_invalidations_total").await;
    let written = Instant::now();
    store(&newer);
    invalidated(&b, invalidations).await;
    eprintln!(
        "newer record: B's copy invalidated {:?} after the SET",
        written.elapsed()
    );
    assert_eq!(b.lookup(RUC).await.json(), newer);
    copy_in_memory(&b, &newer).await;

    // A purge on A: B stops serving it (the scraper now fails, so B's miss
    // cannot bring it back).
    stub.reply(Reply::Status(500, busy_body(RUC)));
    let invalidations = b.metric("ruc_proxy_cache_l1_invalidations_total").await;
    let purged = Instant::now();
    let purge = a.admin(Method::DELETE, &format!("/cache/{RUC}"), Some(TOKEN)).await;
    assert_eq!(purge.status, 200, "{}", purge.body);
    invalidated(&b, invalidations).await;
    eprintln!("purge on A: B's copy invalidated {:?} after it", purged.elapsed());
    let after = b.lookup(RUC).await;
    assert_eq!((after.status, after.header("x-cache")), (500, "MISS"), "{}", after.body);
    assert!(a.stop().await.success());
    assert!(b.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_lost_invalidation_connection_drops_the_copy_until_tracking_is_back() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let tracked = || async { proxy.get("/health").await.json()["l1"] == "tracked" };
    wait_until_async("Redis tracks the copy", tracked).await;
    assert_eq!(proxy.lookup(RUC).await.status, 200);
    proxy.lookups_settled().await;
    copy_in_memory(&proxy, &record(RUC)).await;

    let losses = proxy.metric("ruc_proxy_cache_l1_tracking_losses_total").await;
    let mut connection = redis.connection().unwrap();
    let clients: String = redis::cmd("CLIENT").arg("LIST").query(&mut connection).unwrap();
    let id = clients
        .lines()
        .find(|line| line.contains("name=ruc-proxy-l1-tracking"))
        .and_then(|line| line.split(' ').find_map(|field| field.strip_prefix("id=")))
        .expect("the tracking connection is named")
        .to_string();
    redis::cmd("CLIENT")
        .arg(&["KILL", "ID", &id])
        .query::<()>(&mut connection)
        .unwrap();
    wait_until_async("the proxy notices", || async {
        proxy.metric("ruc_proxy_cache_l1_tracking_losses_total").await > losses
    })
    .await;
    let l1_hits = proxy.metric("ruc_proxy_cache_l1_hits_total").await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    assert_eq!(
        proxy.metric("ruc_proxy_cache_l1_hits_total").await,
        l1_hits,
        "the copy was dropped: read from Redis"
    );
    wait_until_async("tracking is back", tracked).await;
    copy_in_memory(&proxy, &record(RUC)).await;
    assert_eq!(stub.lookups(), 1);
    assert!(proxy.stop().await.success());
}

/// Reads `RUC` on `proxy` until its copy in memory serves `record`.
async fn copy_in_memory(proxy: &Proxy, record: &Value) {
    wait_until_async("the copy in memory serves the record", || async {
        let l1_hits = proxy.metric("ruc_proxy_cache_l1_hits_total").await;
        let answer = proxy.lookup(RUC).await;
        answer.json() == *record && proxy.metric("ruc_proxy_cache_l1_hits_total").await > l1_hits
    })
    .await;
}

/// Waits for Redis's next invalidation to reach `proxy`.
async fn invalidated(proxy: &Proxy, before: f64) {
    wait_until_async("the invalidation arrives", || async {
        proxy.metric("ruc_proxy_cache_l1_invalidations_total").await > before
    })
    .await;
}
