//! Harness of the end-to-end tests. Every server a test needs is started by
//! the test on a free loopback port and stopped by it: the real scraper and
//! proxy binaries, chromedriver, `redis-server`, the SUNAT replica and a
//! counting stub of the scraper. Nothing already running on the machine is
//! used.

pub mod balancer;
pub mod compose;
pub mod dockerfile;
pub mod exported;
pub mod grid;
pub mod lookups;
pub mod otlp;
pub mod procfs;
pub mod prometheus;
pub mod proxy;
pub mod raw;
pub mod redis;
pub mod redis_cluster;
pub mod redis_sentinel;
pub mod scraper;
pub mod stub;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use ruc_tests::replica::Replica;
use serde_json::Value;

/// Generous bound on a server's start; only hit when something is broken.
pub const START_WITHIN: Duration = Duration::from_secs(90);
/// Bound on any single HTTP exchange; only hit if a server hangs.
pub const CLIENT_TIMEOUT: Duration = Duration::from_secs(120);

/// Fails the test with an install hint when a program it needs is missing:
/// these tests use the real thing, never a silent skip.
pub fn require_program(program: &str, package: &str) {
    require_program_installed_by(program, &format!("apt-get install {package}"));
}

/// Like [`require_program`], for a program that `install` installs.
pub fn require_program_installed_by(program: &str, install: &str) {
    let found = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{program}` is not installed and this test needs it. \
         Install it with `{install}` (or run `make test`, which installs what is missing)."
    );
}

/// A path in the repository.
pub fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

/// A file of the repository, whole.
pub fn read_repo_file(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Runs a program in the repository's root and returns what it printed.
pub fn run_in_repo(program: &str, args: &[&str]) -> std::process::Output {
    std::process::Command::new(program)
        .args(args)
        .current_dir(repo_file(""))
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

/// Sends raw bytes to `address` on a new connection; the status of the
/// answer, or `None` when the server closed the connection without one.
/// Bounded by 10 s (a bound against hangs).
pub async fn raw(address: &str, request: Vec<u8>) -> Option<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(address).await.ok()?;
        stream.write_all(&request).await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(10), exchange)
        .await
        .expect("every request is answered or dropped in time")
}

/// Starts a replica on a free loopback port.
pub async fn replica() -> Replica {
    Replica::start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("the replica starts")
}

/// A fresh directory under the system temp dir, unique in this run.
pub fn unique_tmpdir() -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "ruc-e2e-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir
}

/// The exit code of `binary --healthcheck` (the images' HEALTHCHECK) told
/// by `variable` that its service listens on `listen`.
pub fn healthcheck(binary: &str, variable: &str, listen: &str) -> Option<i32> {
    std::process::Command::new(binary)
        .arg("--healthcheck")
        .env(variable, listen)
        .status()
        .expect("the binary runs")
        .code()
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A valid RUC for generated load: `20`, `number` in 8 digits, and the
/// check digit.
pub fn valid_ruc(number: u64) -> String {
    let digits = format!("20{number:08}");
    let sum: u32 = digits
        .bytes()
        .zip([5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
        .map(|(d, w)| u32::from(d - b'0') * w)
        .sum();
    format!("{digits}{}", (11 - sum % 11) % 10)
}

/// Polls `condition` for up to 30 s (a bound against hangs, not a timing).
pub async fn wait_until(what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what} never happened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls an async `condition` for up to 30 s (a bound against hangs, not a
/// timing), every 50 ms.
pub async fn wait_until_async<F, Fut>(what: &str, condition: F)
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let started = Instant::now();
    while !condition().await {
        assert!(started.elapsed() < Duration::from_secs(30), "{what} never happened");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The value of one sample in a Prometheus text page, e.g.
/// `ruc_scraper_lookups_total{outcome="ok"}`; 0 when absent.
pub fn sample(page: &str, name: &str) -> f64 {
    page.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or(0.0)
}

/// The sum of every sample of `metric` whose labels include all of
/// `labels` (e.g. `outcome="ok"`), whatever its other labels; 0 when absent.
pub fn sum_samples(page: &str, metric: &str, labels: &[&str]) -> f64 {
    page.lines()
        .filter_map(|line| {
            let rest = line.strip_prefix(metric)?.strip_prefix('{')?;
            let (set, value) = rest.split_once("} ")?;
            let names: Vec<&str> = set.split(',').collect();
            labels
                .iter()
                .all(|label| names.contains(label))
                .then(|| value.trim().parse::<f64>().ok())?
        })
        .sum()
}

/// Validates `instance` against `components.schemas.<name>` of `spec`
/// (openapi.json).
pub fn conforms_to_openapi(spec: &Value, name: &str, instance: &Value) {
    let mut schema = spec.clone();
    schema["$ref"] = serde_json::json!(format!("#/components/schemas/{name}"));
    let validator = jsonschema::validator_for(&schema).expect("a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(instance)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{name}: {errors:#?}\n{instance}");
}

/// Every taxpayer of the replica: the two pages captured from the real
/// site, the design notes' fixture, and five rendered taxpayer types.
pub const TAXPAYERS: [&str; 8] = [
    "20440374248",
    "10401510465",
    "20987654326",
    "20550263948",
    "20493919271",
    "20146806679",
    "10471234562",
    "17155542071",
];

/// The record a replica RUC must give (without `consultadoEn`), from the
/// parser's fixtures in `scraper/tests/`.
pub fn expected_record(ruc: &str) -> Value {
    let dir = repo_file("scraper/tests");
    let own = dir.join("expected").join(format!("{ruc}.json"));
    if let Ok(text) = std::fs::read_to_string(&own) {
        return serde_json::from_str(&text).expect("valid expected JSON");
    }
    let captured: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("pages/captured/expected.json")).expect("captured expectations"),
    )
    .unwrap();
    captured["records"][ruc].clone()
}

/// Compares a record with its expectation field by field (so a failure names
/// the field), and checks `consultadoEn` is an RFC 3339 UTC timestamp.
pub fn assert_record(actual: &Value, expected: &Value) {
    let expected = expected.as_object().expect("an expected record");
    assert!(!expected.is_empty(), "no expectation");
    for (field, want) in expected {
        assert_eq!(&actual[field], want, "field {field} of {}", actual["ruc"]);
    }
    let consultado = actual["consultadoEn"].as_str().expect("consultadoEn is a string");
    assert!(
        consultado.len() == 20 && consultado.ends_with('Z'),
        "consultadoEn {consultado}"
    );
    assert_eq!(actual.as_object().unwrap().len(), expected.len() + 1, "no extra fields");
}
