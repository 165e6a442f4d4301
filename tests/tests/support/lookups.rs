//! What the proxy's end-to-end tests share: the RUC they look up, its
//! Redis key, a stale record, and concurrent lookups.

use std::sync::Arc;
use std::time::Duration;

use super::proxy::{Answer, Proxy};
use super::redis::RedisServer;
use super::stub::record;
use super::valid_ruc;

/// The RUC the tests look up (SUNAT's own).
pub const RUC: &str = "20131312955";

/// The record's Redis key, `sunat:ruc:<ruc>`.
pub fn key(ruc: &str) -> String {
    format!("sunat:ruc:{ruc}")
}

/// A record stored 7 days and 1 hour... ago: past `CACHE_TTL_SECONDS`, an
/// hour into its default 7-day stale window.
pub fn store_stale_record(redis: &RedisServer) {
    redis.set(&key(RUC), &record(RUC).to_string(), Some(604_800 - 3600));
}

/// `answer` is the stale record of [`RUC`], served for `detail`.
pub fn assert_stale(answer: &Answer, detail: &str) {
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

/// Waits (up to 30 s) until the proxy's health check sees Redis.
pub async fn wait_for_redis(proxy: &Proxy) {
    for _ in 0..300 {
        if proxy.get("/health").await.json()["redis"] == "connected" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the proxy never saw Redis again");
}

/// Lookups of `rucs`, all at the same time; their answers, in order.
pub async fn concurrent_lookups(proxy: &Arc<Proxy>, rucs: Vec<String>) -> Vec<Answer> {
    spread(std::slice::from_ref(proxy), rucs).await
}

/// Lookups of `rucs`, all at once, spread over `replicas` in turn; their
/// answers, in order.
pub async fn spread(replicas: &[Arc<Proxy>], rucs: Vec<String>) -> Vec<Answer> {
    let lookups: Vec<_> = rucs
        .into_iter()
        .enumerate()
        .map(|(i, ruc)| {
            let proxy = replicas[i % replicas.len()].clone();
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
pub fn distinct_rucs(count: u64) -> Vec<String> {
    (0..count).map(|n| valid_ruc(10_000_000 + n)).collect()
}

/// `count` lookups of [`RUC`].
pub fn same_ruc(count: usize) -> Vec<String> {
    vec![RUC.to_string(); count]
}
