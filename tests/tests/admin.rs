//! The cache operations on the admin listener (`METRICS_LISTEN`): purge and
//! background refresh behind `ADMIN_TOKEN`, with the real proxy, a real
//! `redis-server` and a counting stub of the scraper.

use crate::support;

use std::time::Duration;

use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{record, StubScraper};
use reqwest::Method;

const RUC: &str = "20131312955";
const TOKEN: &str = "5d0c8a7e3f19b246e8a1c07d94f3b62a";

/// Unset and empty are the same: what Compose passes when the shell has no
/// `ADMIN_TOKEN`.
#[tokio::test(flavor = "multi_thread")]
async fn without_admin_token_there_are_no_cache_operations_and_metrics_still_work() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    redis.set(&format!("sunat:ruc:{RUC}"), &record(RUC).to_string(), None);
    for env in [&[][..], &[("ADMIN_TOKEN", "")]] {
        let proxy = Proxy::start(&redis.url(), &stub.url(), env).await;
        let purge = proxy.admin(Method::DELETE, &format!("/cache/{RUC}"), Some(TOKEN)).await;
        assert_eq!(purge.status, 404, "{env:?}");
        assert!(redis.get(&format!("sunat:ruc:{RUC}")).is_some());
        assert!(proxy.metrics_page().await.contains("ruc_proxy_requests_total"));
        assert!(proxy.stop().await.success());
    }
}

/// A token that could be guessed never switches the cache operations on:
/// the proxy does not start (exit 2), names the variable, and does not
/// print the token.
#[test]
fn a_weak_admin_token_stops_the_proxy_at_start() {
    let conf = support::repo_file("conf/proxy.yaml");
    let uniform = "x".repeat(40);
    for token in [
        "${ADMIN_TOKEN:-}",
        "$ADMIN_TOKEN",
        "admin-token-for-tests-0123",
        &uniform,
        "abcdefghijklmnopqrstuvwxyz0123456789",
    ] {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_proxy-under-test"))
            .arg("-c")
            .arg(&conf)
            .env("ADMIN_TOKEN", token)
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{token}: {stderr}");
        assert!(stderr.contains("invalid ADMIN_TOKEN"), "{stderr}");
        assert!(stderr.contains("openssl rand -hex 32"), "{stderr}");
        if !token.contains('$') {
            assert!(!stderr.contains(token), "the token is printed: {stderr}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_or_wrong_token_is_refused_and_changes_nothing() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("ADMIN_TOKEN", TOKEN)]).await;
    redis.set(&format!("sunat:ruc:{RUC}"), &record(RUC).to_string(), None);
    for (method, path) in [
        (Method::DELETE, format!("/cache/{RUC}")),
        (Method::POST, format!("/cache/{RUC}/refresh")),
    ] {
        for token in [None, Some("wrong-token-0123456789"), Some(&TOKEN[1..])] {
            let answer = proxy.admin(method.clone(), &path, token).await;
            assert_eq!(
                (answer.status, answer.header("www-authenticate")),
                (401, "Bearer"),
                "{path} {token:?}"
            );
        }
    }
    assert!(redis.get(&format!("sunat:ruc:{RUC}")).is_some(), "nothing purged");
    assert_eq!(
        proxy
            .metric(r#"ruc_proxy_admin_requests_total{result="unauthorized"}"#)
            .await,
        6.0
    );
    // A refresh starts before its request is answered: had a refused
    // request started one, it would be in flight or done by now. So an
    // authorized refresh must start a new one, and be the only one to reach
    // the scraper.
    let refresh = proxy
        .admin(Method::POST, &format!("/cache/{RUC}/refresh"), Some(TOKEN))
        .await;
    assert_eq!(refresh.json()["refresh"], "started", "no refresh was in flight");
    let stored = r#"ruc_proxy_background_refreshes_total{outcome="stored"}"#;
    support::wait_until_async("the refresh ends", || async { proxy.metric(stored).await == 1.0 }).await;
    assert_eq!(stub.lookups(), 1, "no refresh ran before the authorized one");
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn purge_removes_the_record_and_the_remembered_not_found() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("ADMIN_TOKEN", TOKEN)]).await;
    redis.set(&format!("sunat:ruc:{RUC}"), &record(RUC).to_string(), None);
    redis.set(&format!("sunat:notfound:{RUC}"), "{}", None);
    assert_eq!(proxy.lookup(RUC).await.header("x-cache"), "HIT");

    let purge = proxy.admin(Method::DELETE, &format!("/cache/{RUC}"), Some(TOKEN)).await;
    assert_eq!(purge.status, 200, "{}", purge.body);
    assert_eq!(purge.json()["deleted"], 2);
    assert_eq!(redis.cache_keys(), Vec::<String>::new());
    assert_eq!(
        proxy.lookup(RUC).await.header("x-cache"),
        "MISS",
        "read from SUNAT again"
    );
    assert_eq!(stub.lookups(), 1);

    let invalid = proxy.admin(Method::DELETE, "/cache/12345", Some(TOKEN)).await;
    assert_eq!(invalid.status, 400);
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_fetches_in_the_background_while_the_current_record_is_served() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("ADMIN_TOKEN", TOKEN)]).await;
    let mut old = record(RUC);
    old["razonSocial"] = "NOMBRE ANTERIOR".into();
    redis.set(&format!("sunat:ruc:{RUC}"), &old.to_string(), None);
    stub.delay(Duration::from_secs(1));

    let refresh = proxy
        .admin(Method::POST, &format!("/cache/{RUC}/refresh"), Some(TOKEN))
        .await;
    assert_eq!(
        (refresh.status, refresh.json()["refresh"].as_str()),
        (202, Some("started"))
    );
    let during = proxy.lookup(RUC).await;
    assert_eq!((during.header("x-cache"), during.json()), ("HIT", old.clone()));

    support::wait_until("the refreshed record is stored", || {
        redis.get(&format!("sunat:ruc:{RUC}")) == Some(record(RUC).to_string())
    })
    .await;
    assert_eq!(stub.lookups(), 1);
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_main_listener_never_exposes_cache_operations() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("ADMIN_TOKEN", TOKEN)]).await;
    redis.set(&format!("sunat:ruc:{RUC}"), &record(RUC).to_string(), None);
    for method in [Method::DELETE, Method::POST] {
        let answer = proxy.send(method, &format!("/cache/{RUC}")).await;
        assert_eq!(answer.status, 404);
    }
    assert!(redis.get(&format!("sunat:ruc:{RUC}")).is_some());
    assert!(proxy.stop().await.success());
}
