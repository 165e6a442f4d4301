//! SUNAT changes its page: the chain from a result page in a layout the
//! scraper does not know to the operator's alert. The replica switches one
//! taxpayer to a changed layout; through the proxy the lookup is a 502 that
//! is not cached; the scraper keeps the page (listed and read at `GET
//! /debug/unknown-pages` with its admin token), counts it, and a real
//! Prometheus with the repository's rules fires `SunatUnknownPages`.

use crate::support::prometheus::Prometheus;
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::{conforms_to_openapi, read_repo_file, replica, unique_tmpdir, TAXPAYERS};
use ruc_tests::replica::Behaviour;
use serde_json::Value;

/// As made by `openssl rand -hex 32`.
const TOKEN: &str = "9f2c4e71a0b35d86e4f17c2a09b8d6e35f1a7c40e2b9d8163a5f07c4e2d91b68";
const KEPT: &str = "ruc_scraper_unknown_pages_total{reason=\"result_unreadable\"}";

/// `GET` of the scraper's `path` with `Authorization: Bearer <token>`.
async fn debug(scraper: &Scraper, path: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().get(format!("{}{path}", scraper.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.expect("the scraper answers");
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_changed_page_is_a_502_never_cached_kept_counted_and_alerted() {
    let replica = replica().await;
    let changed = TAXPAYERS[0];
    let dir = unique_tmpdir();
    let dir_text = dir.to_string_lossy().into_owned();
    let env = [
        ("SCRAPER_ADMIN_TOKEN", TOKEN),
        ("SCRAPER_UNKNOWN_PAGES_DIR", dir_text.as_str()),
        ("SCRAPER_MAX_ATTEMPTS", "1"),
    ];
    let scraper = Scraper::start_without_browser(&replica, &env).await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(&redis.url(), &scraper.base, &[]).await;
    let scraper_address = scraper.base.trim_start_matches("http://").to_string();
    // Prometheus sees the counter at zero before the page changes.
    let prometheus = Prometheus::start("scraper", &[&scraper_address]).await;
    assert!(prometheus
        .firing()
        .await
        .iter()
        .all(|a| a["labels"]["alertname"] != "SunatUnknownPages"));

    replica.set_behaviour(Behaviour {
        changed_layout: vec![changed.to_string()],
        ..Behaviour::default()
    });
    let answer = proxy.lookup(changed).await;
    assert_eq!(answer.status, 502, "{}", answer.body);
    let body = answer.json();
    assert_eq!(body["ruc"], changed);
    assert!(body["detail"].as_str().unwrap().contains("no sabemos leer"), "{body}");
    proxy.lookups_settled().await;
    assert_eq!(
        redis.get(&format!("sunat:ruc:{changed}")),
        None,
        "a changed page is never cached"
    );
    // Other taxpayers still read.
    assert_eq!(proxy.lookup(TAXPAYERS[1]).await.status, 200);

    // Kept: behind the token only.
    assert_eq!(debug(&scraper, "/debug/unknown-pages", None).await.0, 401);
    assert_eq!(debug(&scraper, "/debug/unknown-pages", Some(&TOKEN[1..])).await.0, 401);
    let (status, listed) = debug(&scraper, "/debug/unknown-pages", Some(TOKEN)).await;
    assert_eq!(status, 200);
    let pages = listed["pages"].as_array().expect("a list");
    assert_eq!(pages.len(), 1, "{listed}");
    let summary = &pages[0];
    assert_eq!(
        (
            &summary["reason"],
            &summary["ruc"],
            &summary["page"],
            &summary["method"]
        ),
        (
            &Value::from("result_unreadable"),
            &Value::from(changed),
            &Value::from("record"),
            &Value::from("http")
        )
    );
    assert!(
        summary["why"].as_str().unwrap().contains("Estado del Contribuyente"),
        "{summary}"
    );
    assert!(summary["keptAt"].as_str().unwrap().ends_with('Z'));
    let id = summary["id"].as_str().unwrap();
    let (status, kept) = debug(&scraper, &format!("/debug/unknown-pages/{id}"), Some(TOKEN)).await;
    assert_eq!(status, 200);
    let spec: Value = serde_json::from_str(&read_repo_file("openapi.json")).unwrap();
    conforms_to_openapi(&spec, "UnknownPageSummary", summary);
    conforms_to_openapi(&spec, "UnknownPage", &kept);
    let html = kept["pages"][0]["html"].as_str().unwrap();
    assert!(
        html.contains("tributaria") && html.contains(changed),
        "the page as SUNAT showed it"
    );
    assert!(
        dir.join(format!("{id}.json")).is_file(),
        "kept in SCRAPER_UNKNOWN_PAGES_DIR"
    );
    let (status, _) = debug(&scraper, "/debug/unknown-pages/0000000000000-000000", Some(TOKEN)).await;
    assert_eq!(status, 404);

    // Counted, and alerted.
    assert_eq!(scraper.metric(KEPT).await, 1.0);
    let alert = prometheus.wait_for_alert("SunatUnknownPages").await;
    assert_eq!(alert["labels"]["reason"], "result_unreadable");
    assert_eq!(alert["labels"]["severity"], "warning");
    assert_eq!(alert["annotations"]["runbook_url"], "docs/runbook.md#SunatUnknownPages");

    drop(prometheus);
    assert!(proxy.stop().await.success());
    scraper.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// The browser meets the same page: kept with its method, not searched
/// again (retries are for what may pass); without a token the debug
/// routes do not exist.
#[tokio::test(flavor = "multi_thread")]
async fn the_browser_keeps_the_changed_page_too_and_without_a_token_nothing_is_served() {
    let replica = replica().await;
    let changed = TAXPAYERS[2];
    replica.set_behaviour(Behaviour {
        changed_layout: vec![changed.to_string()],
        ..Behaviour::default()
    });
    let dir = unique_tmpdir();
    let dir_text = dir.to_string_lossy().into_owned();
    let env = [
        ("SCRAPER_UNKNOWN_PAGES_DIR", dir_text.as_str()),
        ("SCRAPER_MAX_ATTEMPTS", "2"),
        ("SCRAPER_RETRY_BACKOFF_MS", "0"),
    ];
    let scraper = Scraper::start(&replica, &env).await;
    let (status, body) = scraper.lookup(changed).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(
        replica.searches_for(changed),
        1,
        "a page that cannot be parsed is not asked for again"
    );
    assert_eq!(scraper.metric(KEPT).await, 1.0, "one lookup, kept once");
    let kept: Vec<_> = std::fs::read_dir(&dir).unwrap().flatten().collect();
    assert_eq!(kept.len(), 1);
    let kept: Value = serde_json::from_slice(&std::fs::read(kept[0].path()).unwrap()).unwrap();
    assert_eq!(kept["method"], "browser");
    assert!(kept["pages"][0]["html"].as_str().unwrap().contains("tributaria"));
    assert_eq!(debug(&scraper, "/debug/unknown-pages", Some(TOKEN)).await.0, 404);
    scraper.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
