//! The alerting rules (`conf/prometheus/alerts.yml`): promtool's checks and
//! the rules' unit tests (`alerts.test.yml`), the Kubernetes
//! `PrometheusRule` made from them, their annotations and runbook sections,
//! and the metrics they read, against the running services.

use std::collections::BTreeSet;

use crate::support::exported::{self, family_of};
use crate::support::{read_repo_file, require_program, run_in_repo};
use serde_yaml::Value;

const RULES: &str = "conf/prometheus/alerts.yml";
const PROMETHEUS_RULE: &str = "deploy/kubernetes/components/prometheus-operator/prometheusrule.yaml";

fn rules() -> Value {
    serde_yaml::from_str(&read_repo_file(RULES)).expect("the rules file is YAML")
}

/// Every rule of every group.
fn each_rule(rules: &Value) -> Vec<&Value> {
    let groups = rules["groups"].as_sequence().expect("groups");
    groups
        .iter()
        .flat_map(|group| group["rules"].as_sequence().expect("rules"))
        .collect()
}

fn alerts(rules: &Value) -> Vec<&Value> {
    each_rule(rules)
        .into_iter()
        .filter(|rule| rule["alert"].is_string())
        .collect()
}

#[test]
fn promtool_checks_the_rules_and_runs_their_unit_tests() {
    require_program("promtool", "prometheus");
    let checked = run_in_repo("promtool", &["check", "rules", RULES]);
    assert!(checked.status.success(), "{}", String::from_utf8_lossy(&checked.stderr));
    let tested = run_in_repo("promtool", &["test", "rules", "conf/prometheus/alerts.test.yml"]);
    let report = String::from_utf8_lossy(&tested.stdout);
    assert!(
        tested.status.success() && report.contains("SUCCESS"),
        "{report}{}",
        String::from_utf8_lossy(&tested.stderr)
    );
    // Each alert has a unit test.
    let tests = read_repo_file("conf/prometheus/alerts.test.yml");
    for alert in alerts(&rules()) {
        let name = alert["alert"].as_str().unwrap();
        assert!(
            tests.contains(&format!("alertname: {name}\n")),
            "{name} has no unit test"
        );
    }
}

#[test]
fn the_prometheus_rule_for_kubernetes_is_the_rules_file() {
    let rule: Value = serde_yaml::from_str(&read_repo_file(PROMETHEUS_RULE)).expect("YAML");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert_eq!(
        rule["spec"]["groups"],
        rules()["groups"],
        "{PROMETHEUS_RULE} differs from {RULES}: run `make prometheus-rule`"
    );
    let component = read_repo_file("deploy/kubernetes/components/prometheus-operator/kustomization.yaml");
    assert!(component.contains("- prometheusrule.yaml"));
}

#[test]
fn the_compose_prometheus_loads_the_rules() {
    require_program("promtool", "prometheus");
    for config in ["conf/prometheus/prometheus.yml", "conf/fleet/prometheus.yml"] {
        let checked = run_in_repo("promtool", &["check", "config", config]);
        let report = String::from_utf8_lossy(&checked.stdout);
        assert!(
            checked.status.success(),
            "{report}{}",
            String::from_utf8_lossy(&checked.stderr)
        );
        assert!(report.contains("SUCCESS: 1 rule files found"), "{config}: {report}");
        assert!(
            report.contains("Checking conf/prometheus/alerts.yml"),
            "{config}: {report}"
        );
    }
    // Mounted where both configurations look for it.
    assert!(read_repo_file("docker-compose.yml").contains("./conf/prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro"));
}

#[test]
fn every_alert_has_a_severity_its_annotations_and_a_runbook_section() {
    let runbook = read_repo_file("docs/runbook.md");
    let rules = rules();
    let alerts = alerts(&rules);
    let names: BTreeSet<&str> = alerts.iter().map(|a| a["alert"].as_str().unwrap()).collect();
    assert_eq!(names.len(), alerts.len(), "alert names are unique");
    for alert in &alerts {
        let name = alert["alert"].as_str().unwrap();
        let severity = alert["labels"]["severity"].as_str().unwrap_or_default();
        assert!(
            ["critical", "warning"].contains(&severity),
            "{name}: severity {severity:?}"
        );
        let annotations = &alert["annotations"];
        assert!(
            annotations["summary"].as_str().is_some_and(|s| !s.is_empty()),
            "{name}: summary"
        );
        assert!(
            annotations["description"]
                .as_str()
                .is_some_and(|d| d.contains("$value")),
            "{name}: the description shows the current value"
        );
        assert_eq!(
            annotations["runbook_url"].as_str(),
            Some(&*format!("docs/runbook.md#{name}"))
        );
        assert!(
            runbook.contains(&format!("<a id=\"{name}\"></a>\n## {name}\n")),
            "docs/runbook.md has no section {name}"
        );
    }
    // And no section of an alert that does not exist.
    for line in runbook.lines().filter_map(|l| l.strip_prefix("<a id=\"")) {
        let section = line.split('"').next().unwrap();
        assert!(names.contains(section), "docs/runbook.md: {section} is not an alert");
    }
}

/// The metrics and labels the rules read are the services' own: a rule on
/// a renamed metric would never fire.
#[tokio::test(flavor = "multi_thread")]
async fn every_metric_and_label_the_rules_read_is_exported_by_the_services() {
    let families = exported::from_running_services().await;
    let rules = rules();
    let mut read = BTreeSet::new();
    for rule in each_rule(&rules) {
        let expr = rule["expr"].as_str().unwrap();
        let reader = rule["alert"].as_str().or(rule["record"].as_str()).unwrap();
        for name in exported::assert_exported(&families, expr, reader) {
            read.insert(family_of(&name).to_string());
        }
    }
    for wanted in [
        "ruc_scraper_unknown_pages_total",
        "ruc_scraper_lookups_total",
        "ruc_proxy_redis_up",
        "process_start_time_seconds",
    ] {
        assert!(read.contains(wanted), "no rule reads {wanted}");
    }
}

#[test]
fn queried_finds_the_names_and_the_labels_matched() {
    let expr = r#"sum by (le) (rate(ruc_a_bucket{cache="hit", le!="1", x=~"y"}[5m])) / ruc:rec:rate1h + ruc_b"#;
    let found = exported::queried(expr, &["ruc_"]);
    let labels = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(
        found,
        vec![
            ("ruc_a_bucket".to_string(), labels(&["cache", "le", "x"])),
            ("ruc_b".to_string(), labels(&[])),
        ]
    );
}
