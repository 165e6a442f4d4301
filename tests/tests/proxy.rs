//! The proxy as a server, end to end: invalid RUCs, health, metrics and
//! other routes, SIGTERM, bad settings; and one lookup through the whole
//! chain (the real scraper, Chromium and the SUNAT replica).

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{key, RUC};
use crate::support::proxy::Proxy;
use crate::support::raw::{request, RawConnection};
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::stub::{record, StubScraper};
use crate::support::{assert_record, expected_record, replica};

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
async fn health_metrics_and_other_routes() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    support::wait_until_async("Redis tracks the in-process copy", || async {
        proxy.get("/health").await.json()["l1"] == "tracked"
    })
    .await;
    let health = proxy.get("/health").await;
    assert_eq!(health.status, 200);
    assert_eq!(
        health.json(),
        serde_json::json!({
            "status": "healthy",
            "redis": "connected",
            "redis_mode": "single",
            "fleet": "fleet-wide",
            "scraper": "reachable",
            "scrapers": [{"address": stub.url().trim_start_matches("http://"), "healthy": true, "in_flight": 0}],
            "l1": "tracked"
        })
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

/// The drain, step by step: a miss in flight when SIGTERM arrives is
/// answered and stored; meanwhile `/health` says `stopping` with a 503,
/// `/livez` stays 200, keep-alive clients are told to close, new
/// connections are served for `PROXY_DRAIN_DELAY_SECS` and closed unread
/// after it, as are those that never sent a request; then the proxy exits 0.
#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_a_miss_in_flight_into_its_answer_and_the_cache_then_exits_0() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(8));
    let env = [("PROXY_DRAIN_DELAY_SECS", "4")];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    let address = proxy.base.trim_start_matches("http://").to_string();
    let mut silent = RawConnection::open(&proxy).await;
    let mut kept_alive = RawConnection::open(&proxy).await;
    kept_alive.send(&request("GET", "/livez")).await;
    assert_eq!(kept_alive.answer(false).await.header("connection"), Some("keep-alive"));
    let in_flight = {
        let proxy = proxy.clone();
        tokio::spawn(async move { proxy.lookup(RUC).await })
    };
    support::wait_until("the lookup reached the scraper", || stub.lookups() == 1).await;
    proxy.terminate();

    support::wait_until_async("/health says stopping", || async {
        let health = proxy.get("/health").await;
        (health.status, health.json()["status"].clone()) == (503, "stopping".into())
    })
    .await;
    let live = proxy.get("/livez").await;
    assert_eq!((live.status, live.body.as_str()), (200, r#"{"status":"alive"}"#));
    kept_alive.send(&request("GET", "/livez")).await;
    let last = kept_alive.answer(false).await;
    assert_eq!((last.status, last.header("connection")), (200, Some("close")));
    assert!(kept_alive.closed().await, "closed after its answer");
    support::wait_until_async("new connections are closed unread after the delay", || async {
        support::raw(&address, request("GET", "/livez").into_bytes())
            .await
            .is_none()
    })
    .await;
    assert!(
        silent.closed().await,
        "a connection that never sent a request is closed too"
    );

    let answer = in_flight.await.unwrap();
    assert_eq!((answer.status, answer.json()), (200, record(RUC)), "answered");
    let stored: Option<String> = redis::cmd("GET")
        .arg(key(RUC))
        .query(&mut redis.connection().unwrap())
        .unwrap();
    assert_eq!(
        stored.map(|body| serde_json::from_str(&body).unwrap()),
        Some(record(RUC)),
        "and stored"
    );
    let exit = Arc::into_inner(proxy).unwrap().stop_after_signal().await;
    assert_eq!(exit.code(), Some(0));
    assert_eq!(stub.lookups(), 1);
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

/// `proxy --healthcheck`, the images' HEALTHCHECK: 0 while the proxy
/// answers `/health` with 200 on `PROXY_LISTEN`, 1 once it is gone.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_checks_its_own_health_for_the_images_healthcheck() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let address = proxy.base.trim_start_matches("http://").to_string();
    let check = || support::healthcheck(env!("CARGO_BIN_EXE_proxy-under-test"), "PROXY_LISTEN", &address);
    assert_eq!(check(), Some(0));
    assert!(proxy.stop().await.success());
    assert_eq!(check(), Some(1));
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
