//! Faults injected into the real processes while they work: Redis, the
//! scraper and chromedriver killed with SIGKILL, the proxy stopped with
//! SIGTERM under load, SUNAT's firewall switched on. Each test checks what
//! clients see and what is (not) left in Redis. Loopback only; every wait
//! is bounded.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::proxy::{Answer, Proxy};
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::stub::{record, StubScraper};
use crate::support::{assert_record, expected_record, replica, valid_ruc};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use ruc_contract::Record;
use ruc_tests::replica::Behaviour;

/// Every key is a complete record of its RUC (or a remembered 404).
fn assert_only_complete_records(redis: &RedisServer) {
    for key in redis.cache_keys() {
        let value = redis.get(&key).unwrap();
        let ruc = key
            .strip_prefix("sunat:ruc:")
            .unwrap_or_else(|| panic!("unexpected key {key}"));
        let record: Record = serde_json::from_str(&value).unwrap_or_else(|e| panic!("{key}: {e}: {value}"));
        assert_eq!(record.ruc, ruc, "{key}");
    }
}

async fn lookups(proxy: &Arc<Proxy>, rucs: Vec<String>) -> Vec<tokio::task::JoinHandle<Answer>> {
    rucs.into_iter()
        .map(|ruc| {
            let proxy = proxy.clone();
            tokio::spawn(async move { proxy.lookup(&ruc).await })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_killed_under_mixed_load_costs_no_answer_and_leaves_only_complete_records() {
    let (mut redis, stub) = (RedisServer::start_persistent(), StubScraper::start().await);
    stub.delay(Duration::from_millis(50));
    let env = [
        ("UPSTREAM_MAX_INFLIGHT", "50"),
        ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "50"),
        ("UPSTREAM_QUEUE_TIMEOUT_SECS", "30"),
        ("L1_TTL_MS", "0"),
    ];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    for n in 0..20 {
        redis.set(
            &format!("sunat:ruc:{}", valid_ruc(n)),
            &record(&valid_ruc(n)).to_string(),
            None,
        );
    }

    // Hits (10 of the cached RUCs) and misses (20 new ones) in waves. Redis
    // is killed while the first wave is in flight (its misses then store
    // into a dead Redis), stays down for the next two waves and is back for
    // the last two. With the in-process copy off, a cached RUC read while
    // Redis is down goes to the scraper once, and its answer is held until
    // Redis takes it.
    let mut answers = Vec::new();
    for wave in 0..5u64 {
        if wave == 3 {
            redis.restart();
        }
        let rucs = (0..40)
            .map(|n| {
                if n % 2 == 0 {
                    valid_ruc(n % 20)
                } else {
                    valid_ruc(1000 + wave * 100 + n)
                }
            })
            .collect();
        let in_flight = lookups(&proxy, rucs).await;
        if wave == 0 {
            redis.kill();
        }
        for answer in in_flight {
            answers.push(answer.await.unwrap());
        }
    }
    for answer in answers {
        assert_eq!(answer.status, 200, "{}", answer.body);
    }
    let asked = stub.asked();
    assert!(
        asked.values().all(|&times| times == 1),
        "each new RUC, and each cached one read while Redis was down, once: {asked:?}"
    );
    for status in ["500", "502", "503", "504"] {
        let name = format!(r#"ruc_proxy_requests_total{{status="{status}"}}"#);
        assert_eq!(proxy.metric(&name).await, 0.0, "{status}");
    }
    assert_only_complete_records(&redis);
    Arc::into_inner(proxy).unwrap().stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_killed_mid_request_gives_502_or_the_stale_record_and_stores_nothing() {
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "2")]).await;
    let redis = RedisServer::start();
    let proxy = Arc::new(Proxy::start(&redis.url(), &scraper.base, &[]).await);
    let (uncached, stale) = ("20440374248", "10401510465");
    let stale_record = expected_record(stale).to_string();
    redis.set(&format!("sunat:ruc:{stale}"), &stale_record, Some(3600));
    replica.set_behaviour(Behaviour {
        delay_ms: 30_000,
        ..Behaviour::default()
    });

    let answers = lookups(&proxy, vec![uncached.into(), stale.into()]).await;
    support::wait_until("both lookups reach SUNAT", || replica.searches() >= 2).await;
    kill(Pid::from_raw(scraper.pid()), Signal::SIGKILL).unwrap();

    let mut answers = answers.into_iter();
    let failed = answers.next().unwrap().await.unwrap();
    assert_eq!(failed.status, 502, "{}", failed.body);
    assert_eq!(failed.json()["ruc"], uncached);
    let served = answers.next().unwrap().await.unwrap();
    assert_eq!((served.status, served.header("x-cache")), (200, "STALE"));
    assert_eq!(served.body, stale_record);
    assert_eq!(redis.cache_keys(), vec![format!("sunat:ruc:{stale}")], "nothing stored");
    assert!(
        redis.ttl(&format!("sunat:ruc:{stale}")) <= 3600,
        "the stale record untouched"
    );
    Arc::into_inner(proxy).unwrap().stop().await;
    drop(scraper);
}

#[tokio::test(flavor = "multi_thread")]
async fn chromedriver_killed_mid_lookup_the_lookup_still_succeeds() {
    let replica = replica().await;
    let scraper = Scraper::start(
        &replica,
        &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_RETRY_BACKOFF_MS", "100")],
    )
    .await;
    replica.set_behaviour(Behaviour {
        delay_ms: 3_000,
        ..Behaviour::default()
    });
    let base = scraper.base.clone();
    let lookup = tokio::spawn(async move {
        let response = reqwest::get(format!("{base}/obtener-ruc/20440374248")).await.unwrap();
        (
            response.status().as_u16(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    });
    support::wait_until("the search reaches SUNAT", || replica.searches() >= 1).await;
    assert_eq!(scraper.kill_processes(|p| p.is_chromedriver()), 1);
    replica.set_behaviour(Behaviour::default());

    let (status, body) = lookup.await.unwrap();
    assert_eq!(status, 200, "{body}");
    assert_record(&body, &expected_record("20440374248"));
    assert!(scraper.metric("ruc_scraper_driver_restarts_total").await >= 1.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_under_load_finishes_requests_in_flight_refuses_new_ones_and_exits_in_time() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(1));
    let env = [("UPSTREAM_MAX_INFLIGHT", "20"), ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "20")];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    let address = proxy.base.trim_start_matches("http://").to_string();

    let in_flight = lookups(&proxy, (0..20).map(valid_ruc).collect()).await;
    support::wait_until("all 20 reach the scraper", || stub.lookups() == 20).await;
    proxy.terminate();

    let refused = async {
        while support::raw(&address, b"GET /livez HTTP/1.1\r\nHost: ruc\r\n\r\n".to_vec())
            .await
            .is_some()
        {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(2), refused)
        .await
        .expect("new connections go unanswered once the drain delay (0 here) is over");
    for answer in in_flight {
        assert_eq!(answer.await.unwrap().status, 200, "a request in flight finished");
    }
    // Once nothing is in flight: conf/proxy.yaml's 0 s grace period + 1 s
    // for the runtimes.
    let exit = tokio::time::timeout(
        Duration::from_secs(10),
        Arc::into_inner(proxy).unwrap().stop_after_signal(),
    )
    .await
    .expect("the proxy exits once its requests are answered");
    assert!(exit.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_firewalled_sunat_opens_the_breaker_stops_scraper_traffic_and_stale_records_are_served() {
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_MAX_ATTEMPTS", "1")]).await;
    let redis = RedisServer::start();
    let env = [("BREAKER_FAILURES", "2"), ("BREAKER_OPEN_SECS", "600")];
    let proxy = Proxy::start(&redis.url(), &scraper.base, &env).await;
    replica.set_behaviour(Behaviour {
        firewall: true,
        ..Behaviour::default()
    });

    for ruc in ["20440374248", "20987654326"] {
        assert_eq!(proxy.lookup(ruc).await.status, 502, "rejected by the firewall");
        proxy.lookups_settled().await;
    }
    assert_eq!(proxy.metric("ruc_proxy_breaker_state").await, 1.0, "open");
    let visits = (replica.searches(), replica.form_loads());

    let stale = "10401510465";
    redis.set(
        &format!("sunat:ruc:{stale}"),
        &expected_record(stale).to_string(),
        Some(3600),
    );
    let served = proxy.lookup(stale).await;
    assert_eq!((served.status, served.header("x-cache")), (200, "STALE"));
    let refused = proxy.lookup("20550263948").await;
    assert_eq!(
        (refused.status, refused.header("cache-status")),
        (503, "ruc-proxy; detail=breaker-open")
    );
    assert_eq!(
        (replica.searches(), replica.form_loads()),
        visits,
        "SUNAT was left alone"
    );
    assert!(proxy.stop().await.success());
    scraper.stop().await;
}
