//! `docker-compose.fleet.yml`: three proxy replicas behind a load balancer
//! on a Redis master, a replica and three sentinels, checked as
//! docker-compose resolves it over `docker-compose.yml`, and each replica's
//! settings as the proxy itself reads them.

use std::collections::BTreeSet;
use std::process::Command;

use crate::support::{compose, read_repo_file, repo_file, require_program, run_in_repo};
use serde_yaml::Value;

const FILES: [&str; 2] = ["docker-compose.yml", "docker-compose.fleet.yml"];

fn text(value: &Value) -> String {
    value.as_str().map(String::from).unwrap_or_default()
}

/// The services built from the proxy's Dockerfile.
fn proxies(resolved: &Value) -> Vec<(String, Value)> {
    let services = resolved["services"].as_mapping().expect("services");
    services
        .iter()
        .filter(|(_, service)| text(&service["build"]["dockerfile"]) == "Dockerfiles/proxy.Dockerfile")
        .map(|(name, service)| (text(name), service.clone()))
        .collect()
}

#[test]
fn three_proxies_on_sentinel_behind_the_load_balancer() {
    let resolved = compose::resolved(&FILES, None);
    let single = compose::resolved(&FILES[..1], None);
    let proxies = proxies(&resolved);
    assert_eq!(proxies.len(), 3, "three proxy replicas");

    let sentinels: Vec<String> = (1..=3).map(|i| format!("sentinel-{i}")).collect();
    for sentinel in &sentinels {
        let command = text(&resolved["services"][sentinel.as_str()]["command"][2]);
        assert!(command.contains("'port 26379'"), "{sentinel}: {command}");
        assert!(
            command.contains("'sentinel monitor ruc redis 6379 2'"),
            "{sentinel}: {command}"
        );
    }
    let replica = text(&resolved["services"]["redis-replica"]["command"].as_sequence().unwrap()[2]);
    assert_eq!(replica, "redis", "the replica follows the master");

    let base_proxy = &single["services"]["proxy"];
    for (name, proxy) in &proxies {
        let environment = &proxy["environment"];
        assert_eq!(text(&environment["REDIS_MODE"]), "sentinel", "{name}");
        assert_eq!(
            text(&environment["REDIS_URL"]),
            "redis://ruc",
            "{name}: the master by its Sentinel name"
        );
        let listed: Vec<String> = text(&environment["REDIS_SENTINELS"])
            .split(',')
            .map(|s| s.trim_end_matches(":26379").to_string())
            .collect();
        assert_eq!(listed, sentinels, "{name}");
        for same in ["user", "healthcheck", "stop_grace_period"] {
            assert_eq!(proxy[same], base_proxy[same], "{name}: {same} as in docker-compose.yml");
        }
        for variable in ["SCRAPER_URL", "PROXY_LISTEN", "METRICS_LISTEN"] {
            assert_eq!(
                environment[variable], base_proxy["environment"][variable],
                "{name}: {variable}"
            );
        }
    }

    // The load balancer and Prometheus reach every replica.
    let nginx = read_repo_file("conf/fleet/nginx.conf");
    let prometheus = read_repo_file("conf/fleet/prometheus.yml");
    for (name, _) in &proxies {
        assert!(
            nginx.contains(&format!("server {name}:8000 ")),
            "the load balancer has {name}"
        );
        assert!(
            prometheus.contains(&format!("\"{name}:9091\"")),
            "Prometheus scrapes {name}"
        );
    }

    // No host port is published twice.
    let mut published = BTreeSet::new();
    for (name, service) in resolved["services"].as_mapping().unwrap() {
        for port in service["ports"].as_sequence().into_iter().flatten() {
            let host = port["published"].as_u64().expect("a published port");
            assert!(published.insert(host), "{} publishes {host} again", text(name));
        }
    }
}

#[test]
fn the_fleet_files_pass_their_programs_checks() {
    require_program("promtool", "prometheus");
    let checked = run_in_repo("promtool", &["check", "config", "conf/fleet/prometheus.yml"]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));

    // Each replica's settings, as the proxy reads them at start (`-t` stops
    // after the checks).
    let resolved = compose::resolved(&FILES, None);
    for (name, proxy) in proxies(&resolved) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_proxy-under-test"));
        command.args(["-t", "-c"]).arg(repo_file("conf/proxy.yaml")).env_clear();
        for (variable, value) in proxy["environment"].as_mapping().unwrap() {
            if let Some(value) = value.as_str() {
                command.env(text(variable), value);
            }
        }
        let output = command.output().expect("the proxy runs");
        assert!(
            output.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}
