//! The proxy's cache, end to end (the real binary, a real `redis-server`,
//! a counting stub of the scraper): what is stored and for how long, that
//! it is stored before the answer goes out, `Age`, the in-process copy
//! shared by replicas, SUNAT's remembered "not found", what is never
//! stored, and HEAD misses.

use crate::support;

use crate::support::lookups::{distinct_rucs, key, RUC};
use crate::support::proxy::Proxy;
use crate::support::raw::{request, RawAnswer, RawConnection};
use crate::support::redis::RedisServer;
use crate::support::stub::{busy_body, record, Reply, StubScraper};

#[tokio::test(flavor = "multi_thread")]
async fn a_miss_is_stored_and_the_next_lookup_is_a_hit() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let answered_200 = proxy.metric(r#"ruc_proxy_requests_total{status="200"}"#).await;

    let miss = proxy.lookup(RUC).await;
    assert_eq!(miss.status, 200, "{}", miss.body);
    assert_eq!(miss.header("x-cache"), "MISS");
    assert_eq!(miss.header("cache-status"), "ruc-proxy; fwd=miss; fwd-status=200");
    assert_eq!(miss.json(), record(RUC));

    // The record is in Redis as exactly the body, with the 7-day TTL.
    support::wait_until("the record is stored", || redis.get(&key(RUC)).is_some()).await;
    assert_eq!(redis.get(&key(RUC)).unwrap(), miss.body);
    let ttl = redis.ttl(&key(RUC));
    assert!(
        (1_209_590..=1_209_600).contains(&ttl),
        "TTL {ttl}: 7 days fresh, 7 stale"
    );

    let hit = proxy.lookup(RUC).await;
    assert_eq!(hit.status, 200);
    assert_eq!(hit.body, miss.body);
    assert_eq!(hit.header("x-cache"), "HIT");
    assert_eq!(hit.header("content-type"), "application/json");
    assert!(
        hit.header("cache-status").starts_with("ruc-proxy; hit; ttl=604"),
        "{}",
        hit.header("cache-status")
    );
    let age: u64 = hit.header("age").parse().expect("an Age header");
    assert!(age <= 10, "Age {age}");

    assert_eq!(stub.lookups(), 1, "one visit to the scraper");
    assert_eq!(proxy.metric("ruc_proxy_cache_misses_total").await, 1.0);
    assert_eq!(proxy.metric("ruc_proxy_cache_hits_total").await, 1.0);
    assert_eq!(
        proxy.metric(r#"ruc_proxy_requests_total{status="200"}"#).await,
        answered_200 + 2.0
    );
    assert_eq!(
        proxy
            .metric(r#"ruc_proxy_request_duration_seconds_count{cache="hit"}"#)
            .await,
        1.0
    );
    assert_eq!(
        proxy
            .metric(r#"ruc_proxy_request_duration_seconds_count{cache="miss"}"#)
            .await,
        1.0
    );
    assert!(proxy.stop().await.success());
}

/// `method` of `ruc`'s record on a connection of its own, as `curl` asks.
async fn on_new_connection(proxy: &Proxy, method: &str, ruc: &str) -> RawAnswer {
    let mut connection = RawConnection::open(proxy).await;
    connection.send(&request(method, &format!("/obtener-ruc/{ruc}"))).await;
    connection.answer(method == "HEAD").await
}

/// A client that asks again as soon as it has its answer (a runbook's
/// `curl` twice) gets a hit, from the replica that answered and from any
/// other on the same Redis: a miss is answered only once its record is
/// stored and its lookup has ended. Many times in a row, on new
/// connections, GET and HEAD alike.
#[tokio::test(flavor = "multi_thread")]
async fn a_lookup_repeated_right_after_its_answer_is_a_hit_on_every_replica() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let first = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let second = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let rucs = distinct_rucs(60);
    for (n, ruc) in rucs.iter().enumerate() {
        let method = if n % 3 == 2 { "HEAD" } else { "GET" };
        let miss = on_new_connection(&first, method, ruc).await;
        assert_eq!(
            (miss.status, miss.header("x-cache")),
            (200, Some("MISS")),
            "{ruc}: {miss:?}"
        );
        for (replica, proxy) in [("the same replica", &first), ("another replica", &second)] {
            let again = on_new_connection(proxy, "GET", ruc).await;
            assert_eq!(
                (again.status, again.header("x-cache")),
                (200, Some("HIT")),
                "{ruc} asked again at once, on {replica} (after a {method}): {again:?}"
            );
        }
    }
    assert_eq!(stub.lookups(), rucs.len() as u64, "one lookup per RUC");
    let hits = first.metric("ruc_proxy_cache_hits_total").await + second.metric("ruc_proxy_cache_hits_total").await;
    assert_eq!(hits, 2.0 * rucs.len() as f64, "every repetition counted as a hit");
    assert!(first.stop().await.success());
    assert!(second.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn age_counts_the_seconds_since_the_record_was_stored() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    // Stored 100 s ago: TTL left is 7 + 7 days minus 100 s.
    redis.set(&key(RUC), &record(RUC).to_string(), Some(1_209_500));
    let hit = proxy.lookup(RUC).await;
    assert_eq!(hit.header("x-cache"), "HIT");
    let age: u64 = hit.header("age").parse().unwrap();
    assert!((100..=110).contains(&age), "Age {age}");
    assert_eq!(stub.lookups(), 0);
    assert!(proxy.stop().await.success());
}

/// The in-process copy (L1) in front of Redis: a record deleted in Redis
/// stops being served by every replica (its one-second bound is a unit test
/// of cache/l1.rs), and one expired in Redis is not served by any replica
/// from then on. Two replicas share one Redis, as in production.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_deleted_or_expired_in_redis_stops_being_served_by_every_replica() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    // Without a stale window, an expired key is gone rather than stale.
    let no_stale = [("STALE_IF_ERROR_SECONDS", "0")];
    let replicas = [
        Proxy::start(&redis.url(), &stub.url(), &no_stale).await,
        Proxy::start(&redis.url(), &stub.url(), &no_stale).await,
    ];
    let set = |px: Option<u64>| {
        let mut set = redis::cmd("SET");
        set.arg(key(RUC)).arg(record(RUC).to_string());
        if let Some(px) = px {
            set.arg("PX").arg(px);
        }
        set.query::<()>(&mut redis.connection().unwrap()).unwrap();
    };

    // Hot RUC: every replica serves it from memory between Redis reads.
    set(None);
    for proxy in &replicas {
        for _ in 0..50 {
            if proxy.metric("ruc_proxy_cache_l1_hits_total").await > 0.0 {
                break;
            }
            assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
        }
        assert!(
            proxy.metric("ruc_proxy_cache_l1_hits_total").await > 0.0,
            "the L1 served"
        );
    }

    // Deleted: no replica serves it once its copy (at most a second old,
    // see cache/l1.rs) is gone. The scraper now fails, so that no replica's
    // miss stores anything again.
    stub.reply(Reply::Status(500, busy_body(RUC)));
    redis::cmd("DEL")
        .arg(key(RUC))
        .query::<()>(&mut redis.connection().unwrap())
        .unwrap();
    for proxy in &replicas {
        let missed = || async { proxy.lookup(RUC).await.header("x-cache") == "MISS" };
        support::wait_until_async("the replica misses", missed).await;
        proxy.lookups_settled().await;
    }
    assert_eq!(stub.lookups(), 2, "one miss per replica");

    // Expiring: read now, gone from every replica the moment Redis has
    // expired it, since no copy outlives its key.
    set(Some(3_000));
    for proxy in &replicas {
        assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    }
    support::wait_until("Redis expires the record", || redis.get(&key(RUC)).is_none()).await;
    for (i, proxy) in replicas.iter().enumerate() {
        assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS", "replica {i}");
        proxy.lookups_settled().await;
    }
    assert_eq!(stub.lookups(), 4);
    for proxy in replicas {
        assert!(proxy.stop().await.success());
    }
}

const NOT_FOUND: &str = r#"{"message":"Error al consultar RUC","detail":"no existe","ruc":"20131312955"}"#;

#[tokio::test(flavor = "multi_thread")]
async fn sunats_not_found_is_remembered_apart_from_records_for_an_hour() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    stub.reply(Reply::Status(404, NOT_FOUND.into()));

    let miss = proxy.lookup(RUC).await;
    assert_eq!(
        (miss.status, miss.body.as_str(), miss.header("x-cache")),
        (404, NOT_FOUND, "MISS")
    );
    let negative_key = format!("sunat:notfound:{RUC}");
    support::wait_until("the 404 is remembered", || redis.get(&negative_key).is_some()).await;
    assert_eq!(redis.get(&negative_key).unwrap(), NOT_FOUND);
    assert!((3590..=3600).contains(&redis.ttl(&negative_key)));
    assert_eq!(
        redis.cache_keys(),
        vec![negative_key.clone()],
        "nothing under sunat:ruc:"
    );

    let hit = proxy.lookup(RUC).await;
    assert_eq!(
        (hit.status, hit.body.as_str(), hit.header("x-cache")),
        (404, NOT_FOUND, "HIT")
    );
    assert!(
        hit.header("cache-status").starts_with("ruc-proxy; hit; ttl=3"),
        "{}",
        hit.header("cache-status")
    );
    assert!(hit.header("age").parse::<u64>().unwrap() <= 10);
    assert_eq!(stub.lookups(), 1, "SUNAT was asked once");
    assert_eq!(proxy.metric("ruc_proxy_cache_not_found_hits_total").await, 1.0);

    // A record, e.g. stored by another replica once SUNAT registered the
    // RUC, wins over the remembered 404.
    redis.set(&key(RUC), &record(RUC).to_string(), None);
    let record_hit = proxy.lookup(RUC).await;
    assert_eq!((record_hit.status, record_hit.header("x-cache")), (200, "HIT"));
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn negative_ttl_zero_turns_the_not_found_memory_off() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("NEGATIVE_TTL_SECONDS", "0")]).await;
    stub.reply(Reply::Status(404, NOT_FOUND.into()));
    for _ in 0..2 {
        assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
        proxy.lookups_settled().await;
    }
    assert_eq!(stub.lookups(), 2);
    assert_eq!(redis.cache_keys(), Vec::<String>::new());
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_short_or_another_rucs_record_is_not_stored() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;

    stub.reply(Reply::CutShort);
    let cut = proxy.lookup(RUC).await;
    assert_eq!(
        (cut.status, cut.header("cache-status")),
        (502, "ruc-proxy; fwd=miss; detail=scraper-unreachable"),
        "the client gets the proxy's error, never half a record: {}",
        cut.body
    );
    assert_eq!(redis.get(&key(RUC)), None);

    stub.reply(Reply::OtherRuc);
    let answer = proxy.lookup(RUC).await;
    assert_eq!(answer.status, 200);
    assert_eq!(
        answer.json()["ruc"],
        "20100070970",
        "passed through as the scraper sent it"
    );
    assert_eq!(redis.get(&key(RUC)), None);
    assert_eq!(redis.get(&key("20100070970")), None);

    stub.reply(Reply::Record);
    let before = stub.lookups();
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    assert_eq!(stub.lookups(), before + 1);
    assert!(
        proxy.metric("ruc_proxy_upstream_errors_total").await >= 1.0,
        "the cut counts as an upstream error"
    );
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_above_the_size_cap_is_passed_through_but_not_stored() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("CACHE_MAX_BODY_BYTES", "512")]).await;
    let answer = proxy.lookup(RUC).await;
    assert!(answer.body.len() > 512, "the stub's record is larger than the cap");
    assert_eq!((answer.status, answer.json()), (200, record(RUC)));
    proxy.lookups_settled().await;
    assert_eq!(redis.get(&key(RUC)), None);
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    assert_eq!(stub.lookups(), 2);
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn head_misses_fetch_and_store_the_record_and_head_hits_have_no_body() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let path = format!("/obtener-ruc/{RUC}");

    let miss = proxy.head(&path).await;
    assert_eq!(
        (miss.status, miss.body.as_str(), miss.header("x-cache")),
        (200, "", "MISS")
    );
    support::wait_until("the record is stored", || redis.get(&key(RUC)).is_some()).await;

    let hit = proxy.head(&path).await;
    assert_eq!((hit.status, hit.body.as_str(), hit.header("x-cache")), (200, "", "HIT"));
    assert_eq!(
        hit.header("content-length"),
        redis.get(&key(RUC)).unwrap().len().to_string()
    );
    let get = proxy.get(&path).await;
    assert_eq!((get.header("x-cache"), get.json()), ("HIT", record(RUC)));
    assert_eq!(stub.lookups(), 1);
    assert!(proxy.stop().await.success());
}
