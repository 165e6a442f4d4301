//! Static checks of what the images are built from and how Compose runs
//! them: the Dockerfiles, `docker-compose.yml`, Debian's own accounts, and
//! what each Compose implementation passes to the proxy as `ADMIN_TOKEN`.
//! `make images-check` builds and runs the images for real, but it needs a
//! container engine and a quarter of an hour, so it is a release check;
//! these catch the same classes of bug in seconds, in `make test`.

use crate::support;

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use crate::support::compose;
use crate::support::dockerfile::{self, created_accounts, Account, Stage};
use crate::support::{read_repo_file, repo_file, require_program, run_in_repo};
use serde_yaml::Value;

/// The services built from our Dockerfiles.
const SERVICES: [&str; 2] = ["proxy", "scraper"];

fn compose() -> Value {
    serde_yaml::from_str(&read_repo_file("docker-compose.yml")).expect("valid YAML")
}

fn compose_service(compose: &Value, name: &str) -> Value {
    compose["services"][name].clone()
}

fn stages(service: &str) -> Vec<Stage> {
    dockerfile::stages(&read_repo_file(&format!("Dockerfiles/{service}.Dockerfile")))
}

/// The stage the image is made of: the last one.
fn runtime_stage(service: &str) -> Stage {
    stages(service).pop().expect("a stage")
}

#[test]
fn docker_compose_accepts_the_compose_file() {
    require_program("docker-compose", "docker-compose");
    let output = run_in_repo("docker-compose", &["-f", "docker-compose.yml", "config", "-q"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn the_dockerfiles_share_one_builder_that_copies_what_exists_and_every_workspace_member() {
    let builders: Vec<Stage> = SERVICES.iter().map(|s| stages(s).remove(0)).collect();
    assert_eq!(
        builders[0], builders[1],
        "one builder stage, so both images compile once"
    );
    let builder = &builders[0];
    for copy in dockerfile::all(builder, "COPY") {
        let sources: Vec<&str> = copy.split_whitespace().collect();
        for source in &sources[..sources.len() - 1] {
            assert!(repo_file(source).exists(), "COPY {source}: it does not exist");
        }
    }
    let runs = dockerfile::all(builder, "RUN").join("\n");
    for member in workspace_members() {
        assert!(
            dockerfile::all(builder, "COPY").contains(&format!("{member}/Cargo.toml {member}/").as_str())
                && runs.contains(&format!(" {member} ")) | runs.contains(&format!(" {member};")),
            "cargo needs every workspace member's manifest and sources, {member} is missing"
        );
    }
    assert!(runs.contains("--locked --bin proxy --bin scraper"));
    assert!(dockerfile::one(builder, "ENV").contains("CARGO_PROFILE_RELEASE_STRIP=symbols"));
    for service in SERVICES {
        let runtime = runtime_stage(service);
        assert_eq!(dockerfile::one(&runtime, "FROM"), "debian:bookworm-slim");
        assert!(dockerfile::all(&runtime, "COPY")
            .contains(&format!("--from=builder /src/target/release/{service} /usr/local/bin/{service}").as_str()));
    }
}

/// The `members` of the workspace's `Cargo.toml`.
fn workspace_members() -> Vec<String> {
    let manifest = read_repo_file("Cargo.toml");
    let members = manifest
        .lines()
        .find_map(|line| line.strip_prefix("members = "))
        .expect("a members line");
    members
        .trim_matches(['[', ']'])
        .split(',')
        .map(|member| member.trim().trim_matches('"').to_string())
        .collect()
}

/// Names and ids of one of Debian's standard account lists (`base-passwd`,
/// the accounts every Debian image has), e.g. `proxy` → 13.
fn base_accounts(file: &str) -> Vec<(String, u32)> {
    let path = format!("/usr/share/base-passwd/{file}");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{path}: {e}; install it with `apt-get install base-passwd`"));
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(':').collect();
            Some((fields.first()?.to_string(), fields.get(2)?.parse().ok()?))
        })
        .collect()
}

/// What of `accounts` already exists in Debian's base image: the name as a
/// user or a group (`useradd` makes a group of the user's name), or the id.
fn collisions(accounts: &[Account]) -> Vec<String> {
    let users = base_accounts("passwd.master");
    let groups = base_accounts("group.master");
    let mut found = Vec::new();
    for account in accounts {
        let own_kind = if account.command.contains("user") {
            "user"
        } else {
            "group"
        };
        for (kind, list) in [("user", &users), ("group", &groups)] {
            for (name, id) in list {
                let (who, what) = (&account.command, &account.name);
                if *name == account.name {
                    found.push(format!("{who} {what}: Debian already has the {kind} {name}"));
                }
                if kind == own_kind && account.id == Some(*id) {
                    found.push(format!("{who} {what}: {kind} id {id} is Debian's {name}"));
                }
            }
        }
    }
    found
}

#[test]
fn no_dockerfile_creates_a_user_or_group_that_debian_already_has() {
    for service in SERVICES {
        let accounts: Vec<Account> = dockerfile::all(&runtime_stage(service), "RUN")
            .iter()
            .flat_map(|run| created_accounts(run))
            .collect();
        assert!(!accounts.is_empty(), "{service}: the image creates its own user");
        assert_eq!(collisions(&accounts), Vec::<String>::new(), "{service}");
    }
}

#[test]
fn the_account_check_finds_the_user_that_broke_the_proxy_image() {
    let accounts = created_accounts("apt-get update && useradd --system --uid 10001 proxy");
    assert_eq!(
        collisions(&accounts),
        [
            "useradd proxy: Debian already has the user proxy",
            "useradd proxy: Debian already has the group proxy"
        ]
    );
    let accounts = created_accounts("groupadd --gid 13 ruc");
    assert_eq!(collisions(&accounts), ["groupadd ruc: group id 13 is Debian's proxy"]);
}

#[test]
fn each_image_runs_as_the_unprivileged_user_it_creates_and_compose_agrees() {
    let compose = compose();
    for service in SERVICES {
        let runtime = runtime_stage(service);
        let accounts: Vec<Account> = dockerfile::all(&runtime, "RUN")
            .iter()
            .flat_map(|run| created_accounts(run))
            .collect();
        let id_of = |command: &str| {
            accounts
                .iter()
                .find(|a| a.command == command)
                .and_then(|a| a.id)
                .unwrap_or_else(|| panic!("{service}: {command} with an explicit id"))
        };
        let user = format!("{}:{}", id_of("useradd"), id_of("groupadd"));
        assert_eq!(
            dockerfile::one(&runtime, "USER"),
            user,
            "{service}: numeric, for runAsNonRoot"
        );
        assert!(!user.starts_with("0:"), "{service} runs as root");
        assert_eq!(
            compose_service(&compose, service)["user"].as_str(),
            Some(user.as_str()),
            "{service}: compose runs the image's user"
        );
    }
}

/// `HEALTHCHECK --interval=10s … CMD ["/usr/local/bin/proxy", …]`: its
/// options and command.
fn healthcheck(stage: &Stage) -> (Vec<(String, String)>, Vec<String>) {
    let (options, command) = dockerfile::one(stage, "HEALTHCHECK")
        .split_once("CMD ")
        .expect("HEALTHCHECK … CMD");
    let options = options
        .split_whitespace()
        .map(|option| {
            let (name, value) = option.trim_start_matches("--").split_once('=').expect("--name=value");
            (name.replace('-', "_"), value.to_string())
        })
        .collect();
    (options, serde_json::from_str(command).expect("CMD in exec form"))
}

fn port_of(address: &str) -> u16 {
    let port = address.rsplit(':').next().expect("host:port");
    port.trim_end_matches(|c: char| !c.is_ascii_digit())
        .split('/')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {address}"))
}

#[test]
fn compose_and_dockerfiles_agree_on_ports_and_healthchecks() {
    let compose = compose();
    for name in SERVICES {
        let (runtime, service) = (runtime_stage(name), compose_service(&compose, name));
        let dockerfile_name = format!("Dockerfiles/{name}.Dockerfile");
        assert_eq!(service["build"]["dockerfile"].as_str(), Some(dockerfile_name.as_str()));
        let exposed: BTreeSet<u16> = dockerfile::one(&runtime, "EXPOSE")
            .split_whitespace()
            .map(|p| p.parse().expect("a port"))
            .collect();
        let image_env: Vec<&str> = dockerfile::one(&runtime, "ENV").split_whitespace().collect();
        let environment = service["environment"].as_mapping().expect("environment");
        let mut listening = BTreeSet::new();
        for (variable, value) in environment
            .iter()
            .filter(|(k, _)| k.as_str().unwrap().ends_with("_LISTEN"))
        {
            let (variable, value) = (variable.as_str().unwrap(), value.as_str().expect("an address"));
            assert!(
                image_env.contains(&format!("{variable}={value}").as_str()),
                "{name}: {variable}"
            );
            assert!(exposed.contains(&port_of(value)), "{name}: {variable} is not exposed");
            listening.insert(port_of(value));
        }
        for published in service["ports"].as_sequence().into_iter().flatten() {
            assert!(
                exposed.contains(&port_of(published.as_str().unwrap())),
                "{name}: {published:?}"
            );
        }
        for (_, other) in compose["services"].as_mapping().unwrap() {
            for value in other["environment"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(_, v)| v.as_str())
            {
                if let Some(address) = value.strip_prefix(&format!("http://{name}:")) {
                    assert!(
                        listening.contains(&port_of(address)),
                        "{value}: {name} does not listen there"
                    );
                }
            }
        }

        let (options, command) = healthcheck(&runtime);
        let compose_check = &service["healthcheck"];
        let compose_test: Vec<String> = serde_yaml::from_value(compose_check["test"].clone()).unwrap();
        assert_eq!(compose_test[0], "CMD");
        assert_eq!(compose_test[1..], command[..], "{name}: the same healthcheck command");
        // The binary checks itself, on the address of its `*_LISTEN`.
        assert_eq!(command, [format!("/usr/local/bin/{name}"), "--healthcheck".to_string()]);
        let listen = format!("{}_LISTEN=", name.to_uppercase());
        assert!(
            image_env.iter().any(|variable| variable.starts_with(&listen)),
            "{name} checks itself where {listen} says, and the image sets it"
        );
        for (option, value) in options {
            let in_compose = match &compose_check[option.as_str()] {
                Value::Number(n) => n.to_string(),
                other => other.as_str().unwrap_or_default().to_string(),
            };
            assert_eq!(in_compose, value, "{name}: healthcheck {option}");
        }
    }
}

fn seconds(duration: &str) -> Duration {
    match duration.split_at(duration.len() - 1) {
        (n, "s") => Duration::from_secs(n.parse().expect("seconds")),
        (n, "m") => Duration::from_secs(60 * n.parse::<u64>().expect("minutes")),
        _ => panic!("{duration}: use 30s or 2m"),
    }
}

#[test]
fn sigterm_gets_each_service_its_drain_before_compose_kills_it() {
    let compose = compose::resolved(&["docker-compose.yml"], None);
    for service in SERVICES {
        assert_eq!(dockerfile::one(&runtime_stage(service), "STOPSIGNAL"), "SIGTERM");
    }
    assert!(dockerfile::one(&runtime_stage("scraper"), "ENTRYPOINT").starts_with(r#"["/usr/bin/tini", "--","#));
    let grace = |service: &str| {
        seconds(
            compose_service(&compose, service)["stop_grace_period"]
                .as_str()
                .unwrap(),
        )
    };

    // The proxy drains itself (the delay, then the longest lookup), then
    // Pingora's grace period and its runtimes' shutdown.
    let proxy_env = |name: &str| {
        compose_service(&compose, "proxy")["environment"][name]
            .as_str()
            .map(String::from)
    };
    let proxy = proxy::config::Config::from_vars(proxy_env).expect("compose's settings are valid");
    let pingora: Value = serde_yaml::from_str(&read_repo_file("conf/proxy.yaml")).unwrap();
    let pingora_stop: u64 = ["grace_period_seconds", "graceful_shutdown_timeout_seconds"]
        .iter()
        .map(|key| pingora[key].as_u64().expect(key))
        .sum();
    let drain = proxy.stop_within() + Duration::from_secs(pingora_stop);
    assert!(grace("proxy") > drain, "the proxy drains for up to {drain:?}");

    // Compose's settings of the scraper, and PATH to find chromedriver.
    let scraper_env = |name: &str| match name {
        "PATH" => std::env::var(name).ok(),
        _ => compose_service(&compose, "scraper")["environment"][name]
            .as_str()
            .map(String::from),
    };
    let scraper = scraper::config::Config::from_vars(scraper_env).expect("compose's settings are valid");
    assert!(
        grace("scraper") > scraper.drain + scraper.shutdown_timeout,
        "the scraper lets balancers notice, then drains its lookups"
    );
}

/// A `podman` that does nothing, so that podman-compose shows what it would
/// run without touching this machine's containers.
fn inert_podman() -> std::path::PathBuf {
    let dir = support::unique_tmpdir();
    let podman = dir.join("podman");
    std::fs::write(&podman, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&podman, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    podman
}

/// `ADMIN_TOKEN` in `docker-compose.yml` must reach the proxy unset when it
/// is unset in the shell, with every Compose implementation: podman-compose
/// 1.0.3 does not expand `${ADMIN_TOKEN:-}` and passed those 16 characters
/// on as a token. Docker Compose v2 cannot be installed here (not in
/// Debian 12, PyPI or npm); it follows the Compose Specification, under
/// which an entry without a value is taken from the shell, unset if the
/// shell has none, and that is the form checked first.
#[test]
fn an_unset_admin_token_reaches_the_proxy_unset_with_every_compose_implementation() {
    let text = read_repo_file("docker-compose.yml");
    assert!(
        !text.contains(":-}") && !text.contains("-}"),
        "no `${{VAR:-}}`: podman-compose 1.0.3 passes it on unexpanded"
    );
    let compose = compose();
    assert_eq!(
        compose_service(&compose, "proxy")["environment"]["ADMIN_TOKEN"],
        Value::Null,
        "taken from the shell as is"
    );
    assert_eq!(
        compose_service(&compose, "scraper")["environment"]["SCRAPER_ADMIN_TOKEN"],
        Value::Null,
        "taken from the shell as is"
    );

    let resolved = |token| {
        compose_service(&compose::resolved(&["docker-compose.yml"], token), "proxy")["environment"]["ADMIN_TOKEN"]
            .clone()
    };
    assert_eq!(resolved(None), Value::Null, "docker-compose 1.29: unset");
    let token = "5d0c8a7e3f19b246e8a1c07d94f3b62a";
    assert_eq!(
        resolved(Some(token)),
        Value::String(token.into()),
        "docker-compose 1.29: passed on"
    );

    require_program("podman-compose", "podman-compose");
    let podman = inert_podman();
    for token in [None, Some(token)] {
        let mut command = Command::new("podman-compose");
        command
            .arg("--podman-path")
            .arg(&podman)
            .args(["--dry-run", "-f", "docker-compose.yml", "up", "-d", "proxy"])
            .current_dir(repo_file(""));
        match token {
            Some(token) => command.env("ADMIN_TOKEN", token),
            None => command.env_remove("ADMIN_TOKEN"),
        };
        let output = command.output().expect("podman-compose runs");
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        let stdout = String::from_utf8_lossy(&output.stdout);
        let run = stdout
            .lines()
            .find(|line| line.contains(" run ") && line.contains("com.docker.compose.service=proxy"))
            .unwrap_or_else(|| panic!("no `podman run` of the proxy in:\n{stdout}"));
        // `-e NAME` without a value: podman takes it from its own
        // environment, and leaves it unset when that has none.
        assert!(run.contains(" -e ADMIN_TOKEN "), "{run}");
        assert!(!run.contains("ADMIN_TOKEN="), "{run}");
    }
    std::fs::remove_dir_all(podman.parent().unwrap()).unwrap();
}

#[test]
fn scrapers_scale_with_compose_and_the_proxy_finds_them_by_name() {
    let compose = compose::resolved(&["docker-compose.yml"], None);
    let scraper = compose_service(&compose, "scraper");
    // `--scale scraper=N` needs no fixed name and no published host port.
    assert!(scraper["container_name"].is_null(), "a container_name forbids --scale");
    assert!(scraper["ports"].is_null(), "a published port forbids --scale");
    // The service name resolves to every replica's address: each one is a
    // scraper of the proxy's pool.
    let url = compose_service(&compose, "proxy")["environment"]["SCRAPER_URL"].clone();
    assert_eq!(url.as_str(), Some("http://scraper:8001"));
}

#[test]
fn the_grid_override_points_the_scrapers_at_a_hub_with_room_for_their_sessions() {
    let compose = compose::resolved(&["docker-compose.yml", "docker-compose.grid.yml"], None);
    let scraper = compose_service(&compose, "scraper");
    let url = scraper["environment"]["WEBDRIVER_URL"].as_str().expect("WEBDRIVER_URL");
    assert_eq!(url, "http://selenium-hub:4444/wd/hub");
    assert!(!compose_service(&compose, "selenium-hub").is_null());
    let node = compose_service(&compose, "chromium-node")["environment"].clone();
    let number = |value: &serde_yaml::Value| value.as_str().and_then(|v| v.parse::<u64>().ok()).expect("a number");
    let sessions = number(&scraper["environment"]["SCRAPER_SESSIONS"]);
    // The override's own example: two scrapers, each with its warm sessions.
    assert!(
        number(&node["SE_NODE_MAX_SESSIONS"]) >= 2 * sessions,
        "room for 2 scrapers' sessions"
    );
    assert!(
        number(&node["SE_NODE_SESSION_TIMEOUT"]) >= 3600,
        "warm sessions outlive a quiet hour"
    );
    let scraper_env = |name: &str| match name {
        "PATH" => std::env::var(name).ok(),
        _ => scraper["environment"][name].as_str().map(String::from),
    };
    scraper::config::Config::from_vars(scraper_env).expect("the scraper accepts the Grid settings");
}

/// The scraper Dockerfile's `http` target: from `scratch`, the binary and
/// the libraries `ldd` lists, in http mode, the same user, port and
/// listening address as the browser image, checking itself without curl.
#[test]
fn the_small_http_image_holds_the_scraper_and_its_libraries_alone() {
    let stages = stages("scraper");
    let named = |name: &str| {
        stages
            .iter()
            .find(|stage| dockerfile::one(stage, "FROM").ends_with(&format!(" AS {name}")))
            .unwrap_or_else(|| panic!("a stage {name}"))
    };
    let (rootfs, http, browser) = (named("http-rootfs"), named("http"), runtime_stage("scraper"));
    assert_eq!(dockerfile::one(rootfs, "FROM"), "builder AS http-rootfs");
    let run = dockerfile::one(rootfs, "RUN");
    assert!(
        run.contains("cp target/release/scraper /rootfs/usr/local/bin/scraper"),
        "{run}"
    );
    assert!(run.contains("ldd target/release/scraper"), "{run}");
    assert_eq!(dockerfile::one(http, "FROM"), "scratch AS http");
    let unknown_pages = "/var/lib/ruc-scraper/unknown-pages";
    assert_eq!(
        dockerfile::all(http, "COPY"),
        [
            "--from=http-rootfs /rootfs /".to_string(),
            format!("--from=http-rootfs --chown=10001:10001 /unknown-pages {unknown_pages}")
        ]
    );
    // The kept pages' directory: the user's, a volume, in both images.
    for image in [http, &browser] {
        assert_eq!(dockerfile::one(image, "VOLUME"), format!("[\"{unknown_pages}\"]"));
        assert!(dockerfile::one(image, "ENV").contains(&format!("SCRAPER_UNKNOWN_PAGES_DIR={unknown_pages}")));
    }
    assert_eq!(dockerfile::one(http, "USER"), dockerfile::one(&browser, "USER"));
    assert_eq!(dockerfile::one(http, "EXPOSE"), dockerfile::one(&browser, "EXPOSE"));
    let env = dockerfile::one(http, "ENV");
    assert!(env.contains("SCRAPER_MODE=http"), "{env}");
    assert!(
        env.contains("SCRAPER_LISTEN=0.0.0.0:8001")
            && dockerfile::one(&browser, "ENV").contains("SCRAPER_LISTEN=0.0.0.0:8001")
    );
    let (_, command) = healthcheck(http);
    assert_eq!(command, ["/usr/local/bin/scraper", "--healthcheck"]);
    assert_eq!(dockerfile::one(http, "ENTRYPOINT"), r#"["/usr/local/bin/scraper"]"#);
}
