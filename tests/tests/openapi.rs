//! The OpenAPI description (`openapi.json`) against the wire: real answers
//! of both services validated against it, and schemathesis run against
//! every listener, with the deliberate exceptions listed in
//! `tests/openapi/schemathesis.toml` and below.

use crate::support;

use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::stub::StubScraper;
use crate::support::{conforms_to_openapi, read_repo_file, replica, repo_file};
use serde_json::{json, Value};

/// Real answers of the proxy and the scraper (real Chromium, the SUNAT
/// replica, Redis) validated against `openapi.json`.
#[tokio::test(flavor = "multi_thread")]
async fn real_answers_match_the_openapi_description() {
    let spec: Value = serde_json::from_str(&read_repo_file("openapi.json")).expect("valid JSON");
    assert_eq!(spec["openapi"], "3.1.0");
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1")]).await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(&redis.url(), &scraper.base, &[]).await;

    let miss = proxy.lookup("20550263948").await;
    assert_eq!(miss.status, 200);
    conforms_to_openapi(&spec, "Record", &miss.json());
    header_conforms(&spec, "Cache-Status", miss.header("cache-status"));
    support::wait_until("the record is stored", || redis.get("sunat:ruc:20550263948").is_some()).await;
    let hit = proxy.lookup("20550263948").await;
    conforms_to_openapi(&spec, "Record", &hit.json());
    header_conforms(&spec, "Cache-Status", hit.header("cache-status"));
    assert!(hit.header("age").parse::<u64>().is_ok());

    for (ruc, status) in [("20000000001", 404), ("20131312954", 400)] {
        let answer = proxy.lookup(ruc).await;
        assert_eq!(answer.status, status);
        conforms_to_openapi(&spec, "ErrorBody", &answer.json());
        header_conforms(&spec, "X-Cache", answer.header("x-cache"));
        header_conforms(&spec, "Cache-Status", answer.header("cache-status"));
        let (scraper_status, body) = scraper.lookup(ruc).await;
        assert_eq!(scraper_status, status);
        conforms_to_openapi(&spec, "ErrorBody", &body);
    }
    support::wait_until("the 404 is remembered", || {
        redis.get("sunat:notfound:20000000001").is_some()
    })
    .await;
    let not_found_hit = proxy.lookup("20000000001").await;
    assert_eq!((not_found_hit.status, not_found_hit.header("x-cache")), (404, "HIT"));
    conforms_to_openapi(&spec, "ErrorBody", &not_found_hit.json());
    header_conforms(&spec, "Cache-Status", not_found_hit.header("cache-status"));
    let page = proxy.get("/obtener-ruc/20440374248/establecimientos").await;
    assert_eq!(page.status, 200, "{}", page.body);
    conforms_to_openapi(&spec, "SecondaryPage", &page.json());
    header_conforms(&spec, "Cache-Status", page.header("cache-status"));
    let batch = proxy
        .batch(&["20550263948".into(), "20000000001".into(), "123".into()])
        .await;
    for item in batch.json().as_array().expect("an array of items") {
        conforms_to_openapi(&spec, "BatchItem", item);
    }
    let refused = proxy.post("/obtener-ruc", &[("Content-Type", "text/plain")], "x").await;
    assert_eq!(refused.status, 415);
    conforms_to_openapi(&spec, "RouteError", &refused.json());
    conforms_to_openapi(&spec, "ProxyHealth", &proxy.get("/health").await.json());
    conforms_to_openapi(&spec, "ScraperHealth", &scraper.get("/health").await.1);
    conforms_to_openapi(&spec, "Alive", &proxy.get("/livez").await.json());
    conforms_to_openapi(&spec, "Alive", &scraper.get("/livez").await.1);
    let without_browser = Scraper::start_without_browser(&replica, &[]).await;
    conforms_to_openapi(&spec, "ScraperHealth", &without_browser.get("/health").await.1);
    without_browser.stop().await;
    conforms_to_openapi(&spec, "RouteError", &proxy.get("/nope").await.json());
    let (_, route_error) = scraper.get("/nope").await;
    conforms_to_openapi(&spec, "RouteError", &route_error);
    let (status, record) = scraper.lookup("17155542071").await;
    assert_eq!(status, 200);
    conforms_to_openapi(&spec, "Record", &record);
    for page in ["representantes", "trabajadores", "establecimientos", "deuda-coactiva"] {
        for ruc in ["20440374248", "20987654326"] {
            let (status, body) = scraper.get(&format!("/obtener-ruc/{ruc}/{page}")).await;
            assert_eq!(status, 200, "{ruc} {page}: {body}");
            conforms_to_openapi(&spec, "SecondaryPage", &body);
        }
    }

    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

fn header_conforms(spec: &Value, header: &str, value: &str) {
    let schema = &spec["components"]["headers"][header]["schema"];
    let validator = jsonschema::validator_for(schema).expect("a valid schema");
    assert!(validator.is_valid(&json!(value)), "{header}: {value:?}");
}

const TOKEN: &str = "5d0c8a7e3f19b246e8a1c07d94f3b62a";

/// Schemathesis on the operations whose path matches `paths`, against the
/// listener at `url`; the test fails with its report.
async fn schemathesis(url: &str, paths: &str, extra: &[&str]) {
    support::require_program_installed_by("st", "python3 -m pip install schemathesis");
    let config = repo_file("tests/openapi/schemathesis.toml");
    let output = tokio::process::Command::new("st")
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(repo_file("openapi.json"))
        .args(["--url", url, "--include-path-regex", paths, "--checks", "all"])
        .args(extra)
        .env("NO_COLOR", "1")
        .output()
        .await
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "schemathesis on {url} {paths}:\n{report}");
    assert!(report.contains("passed"), "schemathesis ran no test case:\n{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn schemathesis_finds_nothing_on_any_listener() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("ADMIN_TOKEN", TOKEN)]).await;
    schemathesis(&proxy.base, "^/(obtener-ruc|health|livez)", &[]).await;
    let bearer = format!("Authorization: Bearer {TOKEN}");
    schemathesis(&proxy.metrics_base, "^/(metrics|cache)/?", &["-H", &bearer]).await;
    assert!(proxy.stop().await.success());

    // HEAD and the batch route are the proxy's alone (the description
    // says so): the scraper answers HEAD 405, as it does every method but
    // GET, and has no batch route.
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_ADMIN_TOKEN", TOKEN)]).await;
    schemathesis(
        &scraper.base,
        "^/(obtener-ruc/|health|livez|metrics|debug/)",
        &["--exclude-method", "HEAD", "-H", &bearer],
    )
    .await;
    scraper.stop().await;
}
