//! Checks of the files operators touch: the Prometheus and Grafana
//! configuration and the Pingora YAML, against the real programs (the
//! Compose file and the Dockerfiles: `containers.rs`; the OpenAPI
//! description: `openapi.rs`).

mod support;

use std::collections::BTreeSet;
use std::process::Command;

use serde_json::Value;
use support::proxy::Proxy;
use support::redis::RedisServer;
use support::stub::StubScraper;
use support::{read_repo_file, repo_file, require_program, run_in_repo};

#[test]
fn promtool_accepts_the_prometheus_config_and_it_scrapes_both_services() {
    require_program("promtool", "prometheus");
    let output = run_in_repo("promtool", &["check", "config", "conf/prometheus.yml"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let config = read_repo_file("conf/prometheus.yml");
    let compose = read_repo_file("docker-compose.yml");
    // The targets are the ports the services listen on in the compose file.
    assert!(config.contains(r#""proxy:9091""#) && compose.contains("METRICS_LISTEN: 0.0.0.0:9091"));
    assert!(config.contains(r#""scraper:8001""#) && compose.contains("SCRAPER_LISTEN: 0.0.0.0:8001"));
}

#[test]
fn the_proxy_loads_its_pingora_yaml_and_refuses_a_broken_one() {
    let proxy = env!("CARGO_BIN_EXE_proxy-under-test");
    let ok = Command::new(proxy)
        .args(["-t", "-c"])
        .arg(repo_file("conf/proxy.yaml"))
        .output()
        .unwrap();
    assert!(ok.status.success(), "{}", String::from_utf8_lossy(&ok.stderr));

    let broken = support::unique_tmpdir().join("broken.yaml");
    std::fs::write(&broken, "threads: [not a number\n").unwrap();
    let refused = Command::new(proxy).args(["-t", "-c"]).arg(&broken).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("Pingora configuration"));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_queries_only_metrics_the_services_export() {
    let dashboard: Value =
        serde_json::from_str(&read_repo_file("conf/grafana/dashboards/ruc.json")).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let mut queried = BTreeSet::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        assert!(panel["title"].as_str().is_some_and(|t| !t.is_empty()));
        assert_eq!(panel["datasource"]["uid"], "prometheus", "{}", panel["title"]);
        for target in panel["targets"].as_array().expect("targets") {
            queried.extend(metric_names(target["expr"].as_str().expect("an expression")));
        }
    }
    let exported = exported_metrics().await;
    for name in &queried {
        let family = name
            .trim_end_matches("_bucket")
            .trim_end_matches("_sum")
            .trim_end_matches("_count");
        assert!(
            exported.contains(family),
            "{name} is queried but exported by neither service"
        );
    }
    for wanted in [
        "ruc_proxy_cache_hits_total",
        "ruc_proxy_coalesced_total",
        "ruc_proxy_request_duration_seconds_bucket",
        "ruc_scraper_lookups_total",
        "ruc_scraper_session_restarts_total",
        "ruc_scraper_driver_restarts_total",
        "ruc_scraper_queue_depth",
        "ruc_proxy_redis_errors_total",
        "ruc_proxy_upstream_errors_total",
        "ruc_proxy_fleet_slots_in_use",
        "ruc_proxy_fleet_followed_total",
        "ruc_proxy_fleet_takeovers_total",
        "ruc_proxy_fleet_fallbacks_total",
        "ruc_proxy_breaker_state",
        "ruc_proxy_scraper_backend_up",
        "ruc_proxy_scraper_backend_lookups_total",
        "ruc_proxy_scraper_backend_failures_total",
        "ruc_proxy_batch_requests_total",
        "ruc_proxy_batch_items_total",
        "ruc_proxy_lookups_total",
    ] {
        assert!(queried.contains(wanted), "the dashboard shows {wanted}");
    }
    // The provisioning points Grafana at this file and this datasource.
    assert!(read_repo_file("conf/grafana/provisioning/datasources/prometheus.yml").contains("uid: prometheus"));
    assert!(
        read_repo_file("conf/grafana/provisioning/dashboards/ruc.yml").contains("path: /var/lib/grafana/dashboards")
    );
    assert!(read_repo_file("docker-compose.yml").contains("./conf/grafana/dashboards:/var/lib/grafana/dashboards:ro"));
}

/// Families in the text format of the scraper's registry and of a running
/// proxy's metrics (with a scraper, so that the per-scraper ones exist).
async fn exported_metrics() -> BTreeSet<String> {
    let scraper = scraper::metrics::Metrics::new().render();
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let running = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let proxy = running.metrics_page().await;
    assert!(running.stop().await.success());
    [scraper, proxy]
        .iter()
        .flat_map(|text| {
            text.lines()
                .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next())
                .map(String::from)
        })
        .collect()
}

fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("ruc_") {
        let name: String = rest[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        rest = &rest[at + name.len()..];
        names.push(name);
    }
    names
}
