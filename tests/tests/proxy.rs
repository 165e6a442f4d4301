//! End-to-end tests of the caching proxy: the real binary with
//! `conf/proxy.yaml`, a real `redis-server` and a counting stub of the
//! scraper; and one test through the real scraper, Chromium and the SUNAT
//! replica.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::proxy::Proxy;
use support::redis::RedisServer;
use support::scraper::Scraper;
use support::stub::{busy_body, record, Reply, StubScraper};
use support::{assert_record, expected_record, free_port, replica, valid_ruc};

const RUC: &str = "20131312955";

fn key(ruc: &str) -> String {
    format!("sunat:ruc:{ruc}")
}

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

/// The in-process copy (L1) in front of Redis serves a record for at most
/// one second after the Redis read that filled it began, and never past
/// the key's expiry. Two replicas share one Redis, as in production.
#[tokio::test(flavor = "multi_thread")]
async fn a_record_deleted_or_expired_in_redis_stops_being_served_by_every_replica_within_a_second() {
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

    // Deleted: one second later no replica serves it. The scraper now
    // fails, so that no replica's miss stores anything again.
    stub.reply(Reply::Status(500, busy_body(RUC)));
    redis::cmd("DEL")
        .arg(key(RUC))
        .query::<()>(&mut redis.connection().unwrap())
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1_050)).await;
    for (i, proxy) in replicas.iter().enumerate() {
        assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS", "replica {i}");
    }
    assert_eq!(stub.lookups(), 2);

    // Expiring in 400 ms: read now, gone from every replica once it expired.
    set(Some(400));
    for proxy in &replicas {
        assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
    }
    tokio::time::sleep(Duration::from_millis(450)).await;
    for (i, proxy) in replicas.iter().enumerate() {
        assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS", "replica {i}");
    }
    assert_eq!(stub.lookups(), 4);
    for proxy in replicas {
        assert!(proxy.stop().await.success());
    }
}

/// A record stored 7 days and 1 hour... ago: past `CACHE_TTL_SECONDS`, an
/// hour into its default 7-day stale window.
fn store_stale_record(redis: &RedisServer) {
    redis.set(&key(RUC), &record(RUC).to_string(), Some(604_800 - 3600));
}

fn assert_stale(answer: &support::proxy::Answer, detail: &str) {
    assert_eq!(
        (answer.status, answer.header("x-cache")),
        (200, "STALE"),
        "{}",
        answer.body
    );
    assert_eq!(answer.json(), record(RUC));
    let cache_status = answer.header("cache-status");
    assert!(
        cache_status.contains("; ttl=-") && cache_status.ends_with(&format!("; detail={detail}")),
        "{cache_status}"
    );
    assert!(answer.header("age").parse::<u64>().unwrap() >= 608_400);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_record_is_refreshed_first_and_served_when_the_scraper_fails() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("UPSTREAM_TIMEOUT_SECS", "1")]).await;

    // The scraper answers: a normal miss, and the record is fresh again.
    store_stale_record(&redis);
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    support::wait_until("the refreshed record is stored", || redis.ttl(&key(RUC)) > 1_209_000).await;

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
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    stub.reply(Reply::Record);
    assert_eq!(proxy.lookup(&valid_ruc(20_000_001)).await.status, 200);
    assert_eq!(proxy.metric("ruc_proxy_breaker_state").await, 0.0, "closed");
    assert_eq!(proxy.lookup(&valid_ruc(20_000_002)).await.status, 200);
    assert_eq!(stub.lookups(), 5);
    assert_eq!(proxy.metric("ruc_proxy_breaker_opened_total").await, 1.0);
    Arc::into_inner(proxy).unwrap().stop().await;
}

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

    // A later request tries again.
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
        assert_eq!(redis.keys(), Vec::<String>::new(), "{status} not stored");
        proxy.lookup(RUC).await;
        assert_eq!(
            stub.lookups(),
            before + 2,
            "{status}: the next lookup goes to the scraper again"
        );
    }
    assert!(proxy.stop().await.success());
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
    assert_eq!(redis.keys(), vec![negative_key.clone()], "nothing under sunat:ruc:");

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
    }
    assert_eq!(stub.lookups(), 2);
    assert_eq!(redis.keys(), Vec::<String>::new());
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_cut_short_or_another_rucs_record_is_not_stored() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;

    stub.reply(Reply::CutShort);
    assert!(
        proxy.try_get(&format!("/obtener-ruc/{RUC}")).await.is_err(),
        "the client sees the cut"
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
    assert_eq!(redis.get(&key(RUC)), None);
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    assert_eq!(stub.lookups(), 2);
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_ruc_is_400_at_the_proxy() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    for ruc in [
        "20131312954",
        "99512333792",
        "20A12333797",
        "2013131295",
        "",
        "20131312955%20",
    ] {
        let answer = proxy.lookup(ruc).await;
        assert_eq!(answer.status, 400, "{ruc:?}: {}", answer.body);
        assert_eq!(answer.json()["message"], "Error al consultar RUC");
        assert_eq!(answer.json()["ruc"], ruc);
        assert_eq!(
            (answer.header("x-cache"), answer.header("cache-status")),
            ("MISS", "ruc-proxy; detail=invalid-ruc")
        );
    }
    let head = proxy.head("/obtener-ruc/20131312954").await;
    assert_eq!((head.status, head.body.as_str()), (400, ""));
    let with_body = reqwest::Client::new()
        .get(format!("{}/obtener-ruc/{RUC}", proxy.base))
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(with_body.status(), 400);
    assert_eq!(with_body.headers()["cache-status"], "ruc-proxy; detail=request-body");
    assert_eq!(stub.lookups(), 0, "never forwarded");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query(&mut redis.connection().unwrap())
        .unwrap();
    assert!(keys.is_empty(), "nothing stored: {keys:?}");
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

#[tokio::test(flavor = "multi_thread")]
async fn lookups_are_answered_while_redis_is_down_and_caching_resumes_after() {
    let (mut redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    support::wait_until("the record is stored", || redis.get(&key(RUC)).is_some()).await;

    redis.kill();
    for _ in 0..3 {
        let answer = proxy.lookup(RUC).await;
        assert_eq!(answer.status, 200, "answered through the scraper");
        assert_eq!(answer.header("x-cache"), "MISS");
    }
    let health = proxy.get("/health").await.json();
    assert_eq!(
        (health["status"].as_str(), health["redis"].as_str()),
        (Some("healthy"), Some("disconnected"))
    );
    assert!(proxy.metric("ruc_proxy_redis_errors_total").await >= 1.0);

    redis.restart();
    wait_for_redis(&proxy).await;
    assert_eq!(
        proxy.lookup(RUC).await.header("x-cache"),
        "MISS",
        "the restarted Redis is empty"
    );
    support::wait_until("the record is stored again", || redis.get(&key(RUC)).is_some()).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
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

    let redis = RedisServer::on_port(port);
    wait_for_redis(&proxy).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "MISS");
    support::wait_until("the record is stored", || redis.get(&key(RUC)).is_some()).await;
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");
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

#[tokio::test(flavor = "multi_thread")]
async fn health_metrics_and_other_routes() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let health = proxy.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(
        health.json(),
        serde_json::json!({"status": "healthy", "redis": "connected", "scraper": "reachable"})
    );
    let missing = proxy.get("/nope").await;
    assert_eq!(missing.status, 404);
    assert!(missing.json()["detail"].is_string());
    let post = proxy.send(reqwest::Method::POST, &format!("/obtener-ruc/{RUC}")).await;
    assert_eq!((post.status, post.header("allow")), (405, "GET, HEAD"));
    assert_eq!(stub.lookups(), 0);

    let page = proxy.metrics_page().await;
    for name in [
        "ruc_proxy_cache_hits_total",
        "ruc_proxy_cache_misses_total",
        "ruc_proxy_coalesced_total",
        "ruc_proxy_requests_total",
        "ruc_proxy_request_duration_seconds_bucket",
        "ruc_proxy_upstream_errors_total",
        "ruc_proxy_redis_errors_total",
    ] {
        assert!(page.contains(name), "{name} in the metrics");
    }
    assert!(!page.contains(RUC), "no RUC in any label");
    assert!(proxy.stop().await.success(), "SIGTERM ends the proxy cleanly");
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_lets_a_lookup_in_flight_finish() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_millis(1500));
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &[]).await);
    let in_flight = {
        let proxy = proxy.clone();
        tokio::spawn(async move { proxy.lookup(RUC).await })
    };
    support::wait_until("the lookup reached the scraper", || stub.lookups() == 1).await;
    proxy.terminate();
    let answer = in_flight.await.unwrap();
    assert_eq!(
        (answer.status, answer.json()),
        (200, record(RUC)),
        "answered within the grace period"
    );
    assert!(Arc::try_unwrap(proxy).ok().unwrap().stop_after_signal().await.success());
}

#[test]
fn a_bad_setting_stops_the_start_and_names_the_variable() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/proxy.yaml");
    for (variable, value) in [("CACHE_TTL_SECONDS", "a week"), ("SCRAPER_URL", "https://scraper")] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_proxy-under-test"))
            .args(["-c", conf])
            .env(variable, value)
            .output()
            .expect("the binary runs");
        assert_eq!(output.status.code(), Some(2));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(&format!("invalid {variable}")), "{stderr}");
    }
}

/// The whole chain: proxy, Redis, the real scraper, Chromium and the SUNAT
/// replica. The first lookup is a MISS that visits "SUNAT", the second a HIT.
#[tokio::test(flavor = "multi_thread")]
async fn a_replica_lookup_is_a_miss_then_a_hit_through_the_real_scraper() {
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1")]).await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(&redis.url(), &scraper.base, &[]).await;
    let ruc = "20440374248";

    let miss = proxy.lookup(ruc).await;
    assert_eq!((miss.status, miss.header("x-cache")), (200, "MISS"), "{}", miss.body);
    assert_record(&miss.json(), &expected_record(ruc));
    support::wait_until("the record is stored", || redis.get(&key(ruc)).is_some()).await;

    let hit = proxy.lookup(ruc).await;
    assert_eq!((hit.status, hit.header("x-cache")), (200, "HIT"));
    assert_eq!(hit.body, miss.body);
    assert_eq!(replica.searches_for(ruc), 1, "SUNAT was visited once");
    let health = proxy.get("/health").await.json();
    assert_eq!(health["scraper"], "reachable");
    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

async fn wait_for_redis(proxy: &Proxy) {
    for _ in 0..300 {
        if proxy.get("/health").await.json()["redis"] == "connected" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the proxy never saw Redis again");
}

/// Lookups of `rucs`, all at the same time; their answers, in order.
async fn concurrent_lookups(proxy: &Arc<Proxy>, rucs: Vec<String>) -> Vec<support::proxy::Answer> {
    let lookups: Vec<_> = rucs
        .into_iter()
        .map(|ruc| {
            let proxy = proxy.clone();
            tokio::spawn(async move { proxy.lookup(&ruc).await })
        })
        .collect();
    let mut answers = Vec::new();
    for lookup in lookups {
        answers.push(lookup.await.unwrap());
    }
    answers
}

/// `count` distinct valid RUCs.
fn distinct_rucs(count: u64) -> Vec<String> {
    (0..count).map(|n| valid_ruc(10_000_000 + n)).collect()
}

/// `count` lookups of [`RUC`].
fn same_ruc(count: usize) -> Vec<String> {
    vec![RUC.to_string(); count]
}
