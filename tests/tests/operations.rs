//! Checks of the files operators touch: the Prometheus and Grafana
//! configuration and the Pingora YAML, against the real programs (the
//! Compose file and the Dockerfiles: `containers.rs`; the OpenAPI
//! description: `openapi.rs`).

use crate::support;

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::exported;
use crate::support::{read_repo_file, repo_file, require_program, run_in_repo};
use serde_json::Value;

#[test]
fn promtool_accepts_the_prometheus_config_and_it_scrapes_both_services() {
    require_program("promtool", "prometheus");
    let output = run_in_repo("promtool", &["check", "config", "conf/prometheus/prometheus.yml"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let config = read_repo_file("conf/prometheus/prometheus.yml");
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

/// Every panel has a title and a unit, and every query reads a metric (and
/// labels) that the running services export.
#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_queries_only_metrics_the_services_export() {
    let dashboard: Value =
        serde_json::from_str(&read_repo_file("conf/grafana/dashboards/ruc.json")).expect("valid JSON");
    let panels = dashboard["panels"].as_array().expect("panels");
    let exported = exported::from_running_services().await;
    let mut queried = BTreeSet::new();
    for panel in panels.iter().filter(|p| p["type"] != "row") {
        let title = panel["title"].as_str().unwrap_or_default();
        assert!(!title.is_empty(), "a panel without a title: {panel}");
        let unit = panel["fieldConfig"]["defaults"]["unit"].as_str().unwrap_or_default();
        assert!(!unit.is_empty(), "{title}: no unit");
        assert_eq!(panel["datasource"]["uid"], "prometheus", "{title}");
        for target in panel["targets"].as_array().expect("targets") {
            let expr = target["expr"].as_str().expect("an expression");
            let read = exported::assert_exported(&exported, expr, title);
            assert!(!read.is_empty(), "{title}: {expr} reads none of the services' metrics");
            queried.extend(read);
        }
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
        // What the alerts watch (conf/prometheus/alerts.yml).
        "ruc_scraper_unknown_pages_total",
        "ruc_scraper_lookup_duration_seconds_bucket",
        "ruc_scraper_direct_suspended",
        "ruc_scraper_fallbacks_total",
        "ruc_proxy_cache_l1_tracked",
        "ruc_proxy_upstream_waiting",
        "process_start_time_seconds",
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
