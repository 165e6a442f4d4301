//! Redis outages under load cost SUNAT nothing extra: two replicas read
//! known records in a loop while Redis is killed, or a Cluster master
//! until its replica takes over.
//! What a replica holds in memory is served while Redis cannot be read,
//! every client gets its record, and a RUC no replica could read is looked
//! up at most once per replica for the outage, counted at the scraper.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{key, spread, wait_for_redis};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::redis_cluster::RedisCluster;
use crate::support::stub::{record, StubScraper};
use crate::support::{valid_ruc, wait_until_async};

/// Records cached and read by both replicas before the outage.
const KNOWN: u64 = 300;
/// Records cached but never read before the outage.
const UNREAD: u64 = 20;
/// Clients per replica, each reading the known records in a loop.
const CLIENTS: usize = 2;
/// How long Redis stays down.
const OUTAGE: Duration = Duration::from_secs(5);

fn known() -> Vec<String> {
    (0..KNOWN).map(valid_ruc).collect()
}

fn unread() -> Vec<String> {
    (KNOWN..KNOWN + UNREAD).map(valid_ruc).collect()
}

/// Clients reading `rucs` on every replica in a loop until stopped; every
/// answer must be the record asked for.
struct Load {
    stop: Arc<AtomicBool>,
    answered_from_memory: Arc<AtomicU64>,
    clients: Vec<tokio::task::JoinHandle<u64>>,
}

impl Load {
    fn start(replicas: &[Arc<Proxy>], rucs: Vec<String>) -> Load {
        let (stop, answered_from_memory) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)));
        let mut clients = Vec::new();
        for proxy in replicas {
            for client in 0..CLIENTS {
                let (proxy, rucs) = (proxy.clone(), rucs.clone());
                let (stop, from_memory) = (stop.clone(), answered_from_memory.clone());
                clients.push(tokio::spawn(async move {
                    let mut answers = 0;
                    for ruc in rucs.iter().cycle().skip(client * 37) {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let answer = proxy.lookup(ruc).await;
                        assert_eq!((answer.status, answer.json()), (200, record(ruc)), "{ruc}");
                        if answer.header("cache-status").ends_with("detail=redis-unavailable") {
                            assert_eq!(answer.header("x-cache"), "STALE");
                            from_memory.fetch_add(1, Ordering::SeqCst);
                        }
                        answers += 1;
                    }
                    answers
                }));
            }
        }
        Load {
            stop,
            answered_from_memory,
            clients,
        }
    }

    /// Stops the clients; how many answers they got, and how many of those
    /// came from a replica's memory for want of Redis.
    async fn stop(self) -> (u64, u64) {
        self.stop.store(true, Ordering::SeqCst);
        let mut answers = 0;
        for client in self.clients {
            answers += client.await.expect("every answer was the record asked for");
        }
        (answers, self.answered_from_memory.load(Ordering::SeqCst))
    }
}

/// Two replicas on `redis_url`, each having read every known record.
async fn warm_replicas(redis_url: &str, stub: &StubScraper, env: &[(&str, &str)]) -> Vec<Arc<Proxy>> {
    let mut replicas = Vec::new();
    for _ in 0..2 {
        let proxy = Arc::new(Proxy::start(redis_url, &stub.url(), env).await);
        for ruc in known() {
            assert_eq!(proxy.lookup(&ruc).await.header("x-cache"), "HIT", "{ruc}");
        }
        replicas.push(proxy);
    }
    replicas
}

/// While Redis cannot be read, each unread RUC asked many times on every
/// replica, in bursts.
async fn ask_unread_repeatedly(replicas: &[Arc<Proxy>]) {
    for _ in 0..3 {
        let rucs: Vec<String> = unread().into_iter().flat_map(|ruc| [ruc.clone(), ruc]).collect();
        let rucs: Vec<String> = rucs.iter().chain(&rucs).cloned().collect();
        for answer in spread(replicas, rucs).await {
            assert_eq!(answer.status, 200, "{}", answer.body);
        }
    }
}

/// SUNAT's count: no known record was looked up, and each unread one at
/// most once per replica.
fn assert_asked_at_most_once_per_replica_for_unread(asked: &BTreeMap<String, u64>, replicas: u64) {
    for ruc in known() {
        assert_eq!(asked.get(&ruc), None, "{ruc} was held in memory: {asked:?}");
    }
    for ruc in unread() {
        let times = asked.get(&ruc).copied().unwrap_or(0);
        assert!(times <= replicas, "{ruc} looked up {times} times: {asked:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_redis_outage_under_load_costs_sunat_nothing_for_what_the_replicas_hold() {
    let (mut redis, stub) = (RedisServer::start_persistent(), StubScraper::start().await);
    for ruc in known().iter().chain(&unread()) {
        redis.set(&key(ruc), &record(ruc).to_string(), None);
    }
    let replicas = warm_replicas(&redis.url(), &stub, &[]).await;
    for proxy in &replicas {
        wait_until_async("Redis tracks the copy", || async {
            proxy.get("/health").await.json()["l1"] == "tracked"
        })
        .await;
    }
    let load = Load::start(&replicas, known());

    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.kill();
    for proxy in &replicas {
        wait_until_async("the replica sees Redis down", || async {
            proxy.get("/health").await.json()["redis"] == "disconnected"
        })
        .await;
    }
    ask_unread_repeatedly(&replicas).await;
    tokio::time::sleep(OUTAGE).await;
    redis.restart();
    for proxy in &replicas {
        wait_for_redis(proxy).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;

    let (answers, from_memory) = load.stop().await;
    assert!(from_memory > 0, "{from_memory} of {answers} answers came from memory");
    assert_asked_at_most_once_per_replica_for_unread(&stub.asked(), replicas.len() as u64);
    for proxy in replicas {
        assert_eq!(proxy.lookup(&valid_ruc(0)).await.header("x-cache"), "HIT");
        Arc::into_inner(proxy).unwrap().stop().await;
    }
}

/// A Cluster master killed, under load, until its replica takes over (the
/// nodes' 2 s timeout, then an election): its slots cannot be read
/// meanwhile. The proxies do not track a Cluster, so their copies were a
/// second old at most when it died.
#[tokio::test(flavor = "multi_thread")]
async fn a_cluster_failover_under_load_costs_sunat_nothing_for_what_the_replicas_hold() {
    let (mut cluster, stub) = (RedisCluster::start_with_replicas(1).await, StubScraper::start().await);
    for ruc in known().iter().chain(&unread()) {
        cluster.set(&key(ruc), &record(ruc).to_string(), 1_209_600);
    }
    let urls = cluster.urls();
    let replicas = warm_replicas(&urls, &stub, &[("REDIS_MODE", "cluster")]).await;
    let load = Load::start(&replicas, known());

    tokio::time::sleep(Duration::from_secs(1)).await;
    let victim = unread()[0].clone();
    cluster.owner(&key(&victim)).kill();
    ask_unread_repeatedly(&replicas).await;
    for proxy in &replicas {
        wait_until_async("the replica took over: the record is read again", || async {
            proxy.lookup(&victim).await.header("x-cache") == "HIT"
        })
        .await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (answers, from_memory) = load.stop().await;
    assert!(from_memory > 0, "{from_memory} of {answers} answers came from memory");
    assert_asked_at_most_once_per_replica_for_unread(&stub.asked(), replicas.len() as u64);
    for proxy in replicas {
        Arc::into_inner(proxy).unwrap().stop().await;
    }
}
