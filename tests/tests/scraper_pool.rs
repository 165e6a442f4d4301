//! Several scrapers behind one proxy (`proxy/src/scrapers/`): lookups go to
//! the healthy one with the fewest in flight, a scraper that fails its
//! health check or dies gets none, and one that comes back is used again.

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::lookups::{concurrent_lookups, distinct_rucs};
use support::proxy::Proxy;
use support::redis::RedisServer;
use support::stub::StubScraper;
use support::valid_ruc;

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
