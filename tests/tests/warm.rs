//! `ruc-warm` against the real proxy, Redis and a stub scraper: how each
//! RUC ended and the exit status, a second run that finds everything done,
//! a run killed mid-batch that resumes without a second scraper lookup,
//! CSV from standard input, failures and bad usage.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::support::lookups::{distinct_rucs, key};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::stub::{Reply, StubScraper};
use crate::support::{sum_samples, unique_tmpdir, wait_until};

const WARM: &str = env!("CARGO_BIN_EXE_warm-under-test");

/// What a run of `ruc-warm` gave: its exit code, standard output and
/// standard error.
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

async fn warm(args: &[&str], stdin: &str) -> Run {
    let mut child = Command::new(WARM)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("ruc-warm runs");
    let mut input = child.stdin.take().unwrap();
    // A run that stops on bad usage may exit before it reads: a broken pipe.
    let _ = input.write_all(stdin.as_bytes()).await;
    drop(input);
    let output = tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
        .await
        .expect("ruc-warm ends")
        .unwrap();
    Run {
        code: output.status.code().expect("an exit code"),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

fn not_found(ruc: &str) -> Reply {
    let body = json!({"message": "Error al consultar RUC", "detail": "no existe", "ruc": ruc});
    Reply::Status(404, body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_file_is_warmed_once_and_a_second_run_finds_it_done() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let rucs = distinct_rucs(4);
    stub.reply_for(&rucs[3], not_found(&rucs[3]));
    let dir = unique_tmpdir();
    let (file, state) = (dir.join("rucs.txt"), dir.join("state"));
    let lines = [
        &rucs[0],
        &rucs[1],
        &rucs[0],
        "",
        &format!(" {} ", rucs[2]),
        "123",
        &rucs[3],
    ];
    std::fs::write(&file, lines.map(|line| format!("{line}\n")).concat()).unwrap();
    let args = [
        "--proxy",
        &proxy.base,
        "--state",
        state.to_str().unwrap(),
        file.to_str().unwrap(),
    ];

    let first = warm(&args, "").await;
    assert_eq!(
        first.code, 1,
        "some not found or invalid: {}{}",
        first.stdout, first.stderr
    );
    assert_eq!(
        first.stdout.trim(),
        "5 RUCs: 3 records, 1 not found, 1 invalid, 0 failed (0 from an earlier run)"
    );
    assert!(first.stderr.contains("ruc-warm: 5/5 (100 %)"), "{}", first.stderr);
    for ruc in &rucs[..3] {
        assert!(redis.get(&key(ruc)).is_some(), "{ruc} stored");
    }
    assert!(redis.get(&format!("sunat:notfound:{}", rucs[3])).is_some());
    assert_eq!(stub.lookups(), 4, "each valid RUC once: {:?}", stub.asked());

    let second = warm(&args, "").await;
    assert_eq!(second.code, 1);
    assert_eq!(
        second.stdout.trim(),
        "5 RUCs: 3 records, 1 not found, 1 invalid, 0 failed (5 from an earlier run)"
    );
    assert_eq!(stub.lookups(), 4, "nothing asked again");
    let metrics = proxy.metrics_page().await;
    let batches = sum_samples(&metrics, "ruc_proxy_batch_requests_total", &["outcome=\"complete\""]);
    assert_eq!(batches, 1.0, "no second batch");
    assert!(proxy.stop().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_killed_mid_batch_resumes_without_a_second_scraper_lookup() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    stub.delay(Duration::from_millis(300));
    let rucs = distinct_rucs(12);
    let dir = unique_tmpdir();
    let (file, state) = (dir.join("rucs.txt"), dir.join("state"));
    std::fs::write(&file, rucs.join("\n")).unwrap();
    let args = [
        "--proxy",
        &proxy.base,
        "--state",
        state.to_str().unwrap(),
        "--batch",
        "3",
        file.to_str().unwrap(),
    ];

    let mut killed = Command::new(WARM)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let state_lines = || std::fs::read_to_string(&state).unwrap_or_default().lines().count();
    wait_until("a batch kept in the state file", || state_lines() >= 3).await;
    wait_until("the next batch under way", || stub.lookups() >= 4).await;
    killed.kill().await.unwrap();

    let resumed = warm(&args, "").await;
    assert_eq!(resumed.code, 0, "{}{}", resumed.stdout, resumed.stderr);
    assert!(resumed
        .stdout
        .starts_with("12 RUCs: 12 records, 0 not found, 0 invalid, 0 failed ("));
    assert!(
        !resumed.stdout.contains("(0 from an earlier run)"),
        "{}",
        resumed.stdout
    );
    assert_eq!(stub.asked().len(), 12);
    assert!(
        stub.asked().values().all(|&asked| asked == 1),
        "no RUC looked up twice: {:?}",
        stub.asked()
    );
    assert!(proxy.stop().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_csv_column_from_stdin_failures_and_bad_usage() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let rucs = distinct_rucs(3);
    let csv = format!("nombre;ruc\nA;{}\n\"B; C\";{}\n", rucs[0], rucs[1]);

    let by_name = warm(&["--proxy", &proxy.base, "--column", "RUC", "-"], &csv).await;
    assert_eq!(by_name.code, 0, "{}{}", by_name.stdout, by_name.stderr);
    assert!(by_name.stdout.starts_with("2 RUCs: 2 records,"), "{}", by_name.stdout);

    stub.reply(Reply::Status(
        502,
        json!({"message": "x", "detail": "y", "ruc": "z"}).to_string(),
    ));
    let failing = warm(&["--proxy", &proxy.base, "-"], &rucs[2]).await;
    assert_eq!(failing.code, 2, "{}{}", failing.stdout, failing.stderr);
    assert!(failing.stdout.contains("1 failed"), "{}", failing.stdout);
    assert!(redis.get(&key(&rucs[2])).is_none());

    for (args, says) in [
        (vec!["--column", "nope", "-"], "no column"),
        (vec!["/nonexistent/rucs.txt"], "cannot read"),
        (vec!["--rate", "0", "-"], "--rate"),
        (vec!["--batch", "5000", "-"], "--batch"),
        (vec![], "Usage"),
    ] {
        let run = warm(&[&["--proxy", proxy.base.as_str()][..], &args].concat(), &csv).await;
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(run.stderr.contains(says), "{args:?}: {}", run.stderr);
    }
    let unreachable = warm(&["--proxy", "http://127.0.0.1:9", "-"], &rucs[2]).await;
    assert_eq!(unreachable.code, 2, "{}", unreachable.stderr);
    assert!(proxy.stop().await.success());
}
