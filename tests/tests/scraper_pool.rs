//! Several scrapers behind one proxy (`proxy/src/scrapers/`): lookups go to
//! the healthy one with the fewest in flight, a scraper that fails its
//! health check or dies gets none, and one that comes back is used again.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{concurrent_lookups, distinct_rucs};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::stub::StubScraper;
use crate::support::{free_port, valid_ruc};
use ruc_tests::replica::{Behaviour, Replica};

/// A proxy in front of `scrapers`, checking them every second, with room
/// for 10 lookups at once.
async fn proxy_for(redis: &RedisServer, scrapers: &[&StubScraper]) -> Arc<Proxy> {
    let urls: Vec<String> = scrapers.iter().map(|s| s.url()).collect();
    let env = [
        ("SCRAPER_HEALTH_INTERVAL_SECS", "1"),
        ("UPSTREAM_MAX_INFLIGHT", "10"),
        ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "10"),
    ];
    Arc::new(Proxy::start(&redis.url(), &urls.join(","), &env).await)
}

/// Whether the proxy's `/health` says `scraper` is healthy.
async fn healthy(proxy: &Proxy, scraper: &str) -> Option<bool> {
    let health = proxy.get("/health").await.json();
    health["scrapers"]
        .as_array()?
        .iter()
        .find(|s| s["address"] == scraper)
        .and_then(|s| s["healthy"].as_bool())
}

#[tokio::test(flavor = "multi_thread")]
async fn lookups_go_to_the_least_busy_scraper_a_dead_one_is_left_out_and_used_again_when_back() {
    let (redis, a, b) = (
        RedisServer::start(),
        StubScraper::start().await,
        StubScraper::start().await,
    );
    a.delay(Duration::from_millis(500));
    b.delay(Duration::from_millis(500));
    let proxy = proxy_for(&redis, &[&a, &b]).await;

    for answer in concurrent_lookups(&proxy, distinct_rucs(10)).await {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    assert_eq!(
        (a.lookups(), b.lookups()),
        (5, 5),
        "the least busy first: an even split"
    );
    let lookups = |s: &StubScraper| {
        format!(
            r#"ruc_proxy_scraper_backend_lookups_total{{backend="{}"}}"#,
            s.address()
        )
    };
    assert_eq!(proxy.metric(&lookups(&a)).await, 5.0);

    // `a` dies: lookups are answered by `b` (one refused by `a` is sent to
    // `b`), and the health check takes `a` out.
    let (port, address) = (a.port(), a.address());
    drop(a);
    for n in 0..6 {
        assert_eq!(proxy.lookup(&valid_ruc(100 + n)).await.status, 200);
    }
    assert_eq!(b.lookups(), 11);
    let out = || async { healthy(&proxy, &address).await == Some(false) };
    support::wait_until_async("the dead scraper is out", out).await;
    let up = format!(r#"ruc_proxy_scraper_backend_up{{backend="{address}"}}"#);
    assert_eq!(proxy.metric(&up).await, 0.0);

    // Back on its port: in rotation again.
    let a = StubScraper::start_on(port).await;
    let back = || async { healthy(&proxy, &address).await == Some(true) };
    support::wait_until_async("the scraper is back", back).await;
    for answer in concurrent_lookups(&proxy, (200..204).map(valid_ruc).collect()).await {
        assert_eq!(answer.status, 200);
    }
    assert!(a.lookups() > 0, "the scraper that came back gets lookups");
    Arc::into_inner(proxy).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_failing_its_health_check_gets_no_lookups() {
    let (redis, a, b) = (
        RedisServer::start(),
        StubScraper::start().await,
        StubScraper::start().await,
    );
    a.health(503);
    let proxy = proxy_for(&redis, &[&a, &b]).await;
    let out = || async { healthy(&proxy, &a.address()).await == Some(false) };
    support::wait_until_async("the unhealthy scraper is out", out).await;

    for answer in concurrent_lookups(&proxy, distinct_rucs(8)).await {
        assert_eq!(answer.status, 200);
    }
    assert_eq!((a.lookups(), b.lookups()), (0, 8));
    let health = proxy.get("/health").await.json();
    assert_eq!(health["scraper"], "reachable", "one scraper is enough");

    b.health(503);
    let none = || async { proxy.get("/health").await.json()["scraper"] == "unreachable" };
    support::wait_until_async("no scraper is healthy", none).await;
    let answer = proxy.lookup(&valid_ruc(50)).await;
    assert_eq!(
        (answer.status, answer.header("cache-status")),
        (502, "ruc-proxy; fwd=miss; detail=scraper-unreachable")
    );
    assert_eq!(a.lookups() + b.lookups(), 8, "no scraper was asked");
    Arc::into_inner(proxy).unwrap().stop().await;
}

/// A real scraper (one browser) on `port`, against the replica.
async fn real_scraper(replica: &Replica, port: u16, env: &[(&str, &str)]) -> Scraper {
    let listen = format!("127.0.0.1:{port}");
    let mut all = vec![("SCRAPER_SESSIONS", "1"), ("SCRAPER_LISTEN", listen.as_str())];
    all.extend_from_slice(env);
    Scraper::start(replica, &all).await
}

/// Lookups a scraper answered, whatever their outcome.
async fn answered(scraper: &Scraper) -> f64 {
    let mut sum = 0.0;
    for outcome in ["ok", "not_found", "error", "rejected", "timeout", "overloaded"] {
        sum += scraper.outcomes(outcome).await;
    }
    sum
}

#[tokio::test(flavor = "multi_thread")]
async fn two_real_scrapers_share_lookups_one_killed_costs_at_most_its_lookup_and_returns_when_restarted() {
    let (replica, redis) = (support::replica().await, RedisServer::start());
    let (port_a, port_b) = (free_port(), free_port());
    let a = real_scraper(&replica, port_a, &[]).await;
    let b = real_scraper(&replica, port_b, &[]).await;
    let urls = format!("{},{}", a.base, b.base);
    let env = [
        ("SCRAPER_HEALTH_INTERVAL_SECS", "1"),
        ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "2"),
    ];
    let proxy = Arc::new(Proxy::start(&redis.url(), &urls, &env).await);

    // Both work; RUCs the replica does not know are SUNAT's "no such RUC".
    for answer in concurrent_lookups(&proxy, (0..4).map(valid_ruc).collect()).await {
        assert_eq!(answer.status, 404, "{}", answer.body);
    }
    assert!(
        answered(&a).await > 0.0 && answered(&b).await > 0.0,
        "both scrapers answered"
    );

    // `a` is killed with its browser while lookups keep coming: at most the
    // one it had fails, and nothing failed is stored.
    let stream = {
        let proxy = proxy.clone();
        tokio::spawn(async move {
            let mut statuses = Vec::new();
            for n in 10..20 {
                statuses.push(proxy.lookup(&valid_ruc(n)).await.status);
            }
            statuses
        })
    };
    support::wait_until("the stream is under way", || replica.searches() >= 6).await;
    drop(a);
    let statuses = stream.await.unwrap();
    let failed = statuses.iter().filter(|&&s| s >= 500).count();
    assert!(
        failed <= 1,
        "only a lookup in flight on the killed scraper may fail: {statuses:?}"
    );
    assert!(
        statuses.iter().all(|&s| s == 404 || s == 502 || s == 504),
        "{statuses:?}"
    );
    proxy.lookups_settled().await;
    assert_eq!(
        redis.cache_keys().len(),
        4 + 10 - failed,
        "every answer but the failed one is remembered: {statuses:?}"
    );

    // Restarted on its port, it gets lookups again.
    let a = real_scraper(&replica, port_a, &[]).await;
    let address_a = format!("127.0.0.1:{port_a}");
    let back = || async { healthy(&proxy, &address_a).await == Some(true) };
    support::wait_until_async("the restarted scraper is healthy", back).await;
    for answer in concurrent_lookups(&proxy, (30..34).map(valid_ruc).collect()).await {
        assert_eq!(answer.status, 404);
    }
    assert!(answered(&a).await > 0.0, "the restarted scraper answered");
    Arc::into_inner(proxy).unwrap().stop().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_on_sigterm_finishes_its_lookup_and_gets_no_new_ones() {
    let (replica, redis) = (support::replica().await, RedisServer::start());
    let drain = [("SCRAPER_DRAIN_SECS", "3")];
    let a = real_scraper(&replica, free_port(), &drain).await;
    let b = real_scraper(&replica, free_port(), &drain).await;
    let urls = format!("{},{}", a.base, b.base);
    let proxy = Arc::new(Proxy::start(&redis.url(), &urls, &[("SCRAPER_HEALTH_INTERVAL_SECS", "1")]).await);
    replica.set_behaviour(Behaviour {
        delay_ms: 2000,
        ..Behaviour::default()
    });

    // One lookup in flight; the scraper that has it is told to stop.
    let in_flight = {
        let proxy = proxy.clone();
        tokio::spawn(async move { proxy.lookup("20440374248").await })
    };
    support::wait_until("the search reached SUNAT", || replica.searches() == 1).await;
    let health = proxy.get("/health").await.json();
    let busy = |scraper: &Scraper| {
        let address = scraper.base.trim_start_matches("http://");
        health["scrapers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["address"] == address && s["in_flight"] == 1)
    };
    let (mut stopping, other) = if busy(&a) { (a, b) } else { (b, a) };
    stopping.terminate();
    let address = stopping.base.trim_start_matches("http://").to_string();
    let out = || async { healthy(&proxy, &address).await == Some(false) };
    support::wait_until_async("the draining scraper is out", out).await;

    let before = answered(&other).await;
    for answer in concurrent_lookups(&proxy, (40..43).map(valid_ruc).collect()).await {
        assert_eq!(answer.status, 404);
    }
    assert_eq!(
        answered(&other).await - before,
        3.0,
        "the new lookups went to the other scraper"
    );
    let finished = in_flight.await.unwrap();
    assert_eq!(finished.status, 200, "the lookup in flight finished: {}", finished.body);
    assert!(stopping.wait_exit(Duration::from_secs(60)).await.success());
    stopping.assert_nothing_left().await;
    Arc::into_inner(proxy).unwrap().stop().await;
    other.stop().await;
}
