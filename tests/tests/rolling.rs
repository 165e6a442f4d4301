//! A rolling restart under load loses nothing: three proxies behind nginx
//! (the fleet's own `conf/fleet/nginx.conf`), two scrapers (direct HTTP)
//! in front of the SUNAT replica answering in 1.5 s, one Redis. Clients
//! keep asking for cached records and new RUCs while each proxy, then each
//! scraper, is stopped with SIGTERM and replaced on its address. Every
//! request gets its right answer, every new RUC is stored, and SUNAT sees
//! each new RUC exactly once.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::balancer::Balancer;
use crate::support::lookups::key;
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::stub::record;
use crate::support::{free_port, replica, valid_ruc, CLIENT_TIMEOUT, TAXPAYERS};
use ruc_tests::replica::{Behaviour, Replica};
use serde_json::Value;

/// Records in Redis before the load starts.
const CACHED: u64 = 50;
/// Clients asking through nginx at once.
const CLIENTS: usize = 6;
/// Longer than `fail_timeout` in `conf/fleet/nginx.conf` (3 s).
const BACK_IN_ROTATION: Duration = Duration::from_secs(4);

/// One request of the load and the answer it must get.
#[derive(Clone)]
enum Ask {
    /// A cached record: 200 and that record.
    Cached(String),
    /// A RUC never asked before: the replica's taxpayer (200) or SUNAT's
    /// "no such RUC" (404), each with its RUC.
    New(String),
}

/// Three cached records, then a new RUC asked twice (two clients at once).
fn plan() -> Vec<Ask> {
    let taxpayers = TAXPAYERS.iter().map(|ruc| ruc.to_string());
    let unknown = (0..2000).map(|n| valid_ruc(100_000 + n));
    let mut plan = Vec::new();
    for (n, new) in taxpayers.chain(unknown).enumerate() {
        for k in 0..3 {
            plan.push(Ask::Cached(valid_ruc((n as u64 * 3 + k) % CACHED)));
        }
        plan.push(Ask::New(new.clone()));
        plan.push(Ask::New(new));
    }
    plan
}

/// What was asked and what went wrong, shared by the clients.
#[derive(Default)]
struct Tally {
    next: AtomicUsize,
    asked_new: Mutex<Vec<String>>,
    wrong: Mutex<Vec<String>>,
}

async fn client(base: String, plan: Arc<Vec<Ask>>, tally: Arc<Tally>, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder().timeout(CLIENT_TIMEOUT).build().unwrap();
    while !stop.load(Ordering::SeqCst) {
        let ask = plan[tally.next.fetch_add(1, Ordering::SeqCst) % plan.len()].clone();
        let ruc = match &ask {
            Ask::Cached(ruc) | Ask::New(ruc) => ruc.clone(),
        };
        if let Ask::New(ruc) = &ask {
            tally.asked_new.lock().unwrap().push(ruc.clone());
        }
        let answer = match http.get(format!("{base}/obtener-ruc/{ruc}")).send().await {
            Ok(response) => (response.status().as_u16(), response.text().await.unwrap_or_default()),
            Err(error) => (0, error.to_string()),
        };
        if let Some(why) = wrong(&ask, &ruc, answer) {
            tally.wrong.lock().unwrap().push(why);
        }
    }
}

/// Why an answer is not the right one, if it is not.
fn wrong(ask: &Ask, ruc: &str, (status, body): (u16, String)) -> Option<String> {
    let json: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
    let right = match ask {
        Ask::Cached(_) => status == 200 && json == record(ruc),
        Ask::New(_) if TAXPAYERS.contains(&ruc) => status == 200 && json["ruc"] == ruc,
        Ask::New(_) => status == 404 && json["ruc"] == ruc && json["message"] == "Error al consultar RUC",
    };
    (!right).then(|| format!("{ruc}: {status} {body}"))
}

async fn start_scraper(replica: &Replica, address: &str) -> Scraper {
    let env = [
        ("SCRAPER_LISTEN", address),
        ("SCRAPER_SESSIONS", "4"),
        // Longer than the proxies' health checks (every second, 2 s timeout).
        ("SCRAPER_DRAIN_SECS", "3"),
    ];
    Scraper::start_without_browser(replica, &env).await
}

async fn start_proxy(redis: &RedisServer, scrapers: &str, address: &str) -> Proxy {
    let env = [
        ("PROXY_LISTEN", address),
        ("PROXY_DRAIN_DELAY_SECS", "1"),
        ("SCRAPER_HEALTH_INTERVAL_SECS", "1"),
        ("UPSTREAM_MAX_INFLIGHT", "4"),
        ("UPSTREAM_GLOBAL_MAX_INFLIGHT", "8"),
    ];
    Proxy::start(&redis.url(), scrapers, &env).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rolling_restart_of_proxies_then_scrapers_under_load_loses_nothing() {
    let (redis, replica) = (RedisServer::start(), replica().await);
    replica.set_behaviour(Behaviour {
        delay_ms: 1500,
        ..Behaviour::default()
    });
    for n in 0..CACHED {
        redis.set(&key(&valid_ruc(n)), &record(&valid_ruc(n)).to_string(), None);
    }
    let scraper_addresses: Vec<String> = (0..2).map(|_| format!("127.0.0.1:{}", free_port())).collect();
    let mut scrapers = Vec::new();
    for address in &scraper_addresses {
        scrapers.push(start_scraper(&replica, address).await);
    }
    let scraper_urls: Vec<String> = scraper_addresses.iter().map(|a| format!("http://{a}")).collect();
    let scraper_urls = scraper_urls.join(",");
    let proxy_addresses: Vec<String> = (0..3).map(|_| format!("127.0.0.1:{}", free_port())).collect();
    let mut proxies = Vec::new();
    for address in &proxy_addresses {
        proxies.push(start_proxy(&redis, &scraper_urls, address).await);
    }
    let balancer = Balancer::start(&proxy_addresses).await;

    let (plan, tally, stop) = (
        Arc::new(plan()),
        Arc::new(Tally::default()),
        Arc::new(AtomicBool::new(false)),
    );
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(balancer.base.clone(), plan.clone(), tally.clone(), stop.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;

    for (n, address) in proxy_addresses.iter().enumerate() {
        let old = proxies.remove(n);
        assert_eq!(old.stop().await.code(), Some(0), "proxy {address} drained");
        proxies.insert(n, start_proxy(&redis, &scraper_urls, address).await);
        // nginx takes a replica it left out back after its fail_timeout.
        tokio::time::sleep(BACK_IN_ROTATION).await;
    }
    for (n, address) in scraper_addresses.iter().enumerate() {
        let old = scrapers.remove(n);
        old.stop().await;
        scrapers.insert(n, start_scraper(&replica, address).await);
        tokio::time::sleep(Duration::from_secs(2)).await;
    }

    stop.store(true, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    let wrong = tally.wrong.lock().unwrap().clone();
    assert!(wrong.is_empty(), "{} wrong answers: {wrong:#?}", wrong.len());
    let mut asked = tally.asked_new.lock().unwrap().clone();
    asked.sort();
    asked.dedup();
    assert!(asked.len() >= 10, "new RUCs asked during the roll: {}", asked.len());
    for ruc in &asked {
        assert_eq!(replica.searches_for(ruc), 1, "{ruc}: SUNAT asked once");
        let stored = redis
            .get(&key(ruc))
            .or_else(|| redis.get(&format!("sunat:notfound:{ruc}")));
        assert!(stored.is_some(), "{ruc} stored");
    }
    for proxy in proxies {
        assert_eq!(proxy.stop().await.code(), Some(0));
    }
    for scraper in scrapers {
        scraper.stop().await;
    }
    drop(balancer);
}
