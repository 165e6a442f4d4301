//! End-to-end tests of the scraper: the real binary, real chromedriver and
//! Chromium, against the SUNAT replica. Every test ends by stopping the
//! scraper and checking that none of its processes or temp files is left.

use crate::support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crate::support::procfs::{assert_all_exit, Proc};
use crate::support::scraper::{RemoteDriver, Scraper};
use crate::support::{assert_record, expected_record, replica, wait_until, wait_until_async, TAXPAYERS};
use ruc_tests::replica::{Behaviour, Charset, Replica};

#[tokio::test(flavor = "multi_thread")]
async fn every_taxpayer_type_gives_its_whole_record() {
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_RECYCLE_AFTER", "3")]).await;
    for ruc in TAXPAYERS {
        let (status, body) = scraper.lookup(ruc).await;
        assert_eq!(status, 200, "{ruc}: {body}");
        assert_record(&body, &expected_record(ruc));
        assert_eq!(replica.searches_for(ruc), 1, "one visit to SUNAT for {ruc}");
    }
    assert_eq!(scraper.outcomes("ok").await, 8.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn latin1_pages_and_late_inserted_results_give_the_same_records() {
    let replica = replica().await;
    let scraper = one_browser(&replica).await;
    let variants = [
        Behaviour {
            charset: Charset::Latin1,
            ..Behaviour::default()
        },
        Behaviour {
            charset: Charset::Latin1DeclaredUtf8Sent,
            ..Behaviour::default()
        },
        Behaviour {
            late_insert_ms: Some(1200),
            ..Behaviour::default()
        },
    ];
    scraper.assert_records_under(&replica, &variants).await;
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_ruc_is_404_after_one_visit() {
    let replica = replica().await;
    let scraper = one_browser(&replica).await;
    let (status, body) = scraper.lookup("20000000001").await;
    assert_eq!(status, 404, "{body}");
    assert_eq!(body["message"], "Error al consultar RUC");
    assert_eq!(body["ruc"], "20000000001");
    assert!(
        body["detail"].as_str().unwrap().contains("consultado no es válido"),
        "{body}"
    );
    assert_eq!(replica.searches_for("20000000001"), 1, "not found is never retried");
    assert_eq!(scraper.outcomes("not_found").await, 1.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_invalid_ruc_is_400_without_any_visit() {
    let replica = replica().await;
    let scraper = one_browser(&replica).await;
    for ruc in [
        "20131312954",
        "99512333792",
        "20A12333797",
        "2013131295",
        "201313129555",
    ] {
        let (status, body) = scraper.lookup(ruc).await;
        assert_eq!(status, 400, "{ruc}: {body}");
        assert_eq!(body["ruc"], ruc);
        assert_eq!(body["message"], "Error al consultar RUC");
    }
    assert_eq!(
        (replica.searches(), replica.form_loads()),
        (0, 0),
        "SUNAT was never asked"
    );
    assert_eq!(scraper.outcomes("invalid").await, 5.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_error_pages_then_success_answers_on_the_third_attempt() {
    let replica = replica().await;
    let scraper = quick_retries(&replica).await;
    replica.set_behaviour(Behaviour {
        error_pages: 2,
        ..Behaviour::default()
    });
    let (status, body) = scraper.lookup("20987654326").await;
    assert_eq!(status, 200, "{body}");
    assert_record(&body, &expected_record("20987654326"));
    assert_eq!(replica.searches_for("20987654326"), 3);
    assert_eq!(scraper.metric("ruc_scraper_attempts_total").await, 3.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn error_pages_on_every_attempt_give_502() {
    let replica = replica().await;
    let scraper = quick_retries(&replica).await;
    replica.set_behaviour(Behaviour {
        error_pages: 5,
        ..Behaviour::default()
    });
    let (status, body) = scraper.lookup("20987654326").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("Surgieron problemas"),
        "{body}"
    );
    assert_eq!(
        replica.searches_for("20987654326"),
        3,
        "SCRAPER_MAX_ATTEMPTS defaults to 3"
    );
    assert_eq!(scraper.outcomes("error").await, 1.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_firewall_and_connection_resets_give_502_rejected() {
    let replica = replica().await;
    let scraper = quick_retries(&replica).await;
    replica.set_behaviour(Behaviour {
        firewall: true,
        ..Behaviour::default()
    });
    let (status, body) = scraper.lookup("20987654326").await;
    assert_eq!(status, 502, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("Request Rejected"), "{body}");

    replica.set_behaviour(Behaviour {
        reset: true,
        ..Behaviour::default()
    });
    let (status, body) = scraper.lookup("20987654326").await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("ERR_CONNECTION_RESET"),
        "{body}"
    );
    assert_eq!(scraper.outcomes("rejected").await, 2.0);
    assert_eq!(scraper.metric("ruc_scraper_attempts_total").await, 6.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_site_gives_504_and_the_next_lookup_works() {
    let replica = replica().await;
    let scraper = Scraper::start(
        &replica,
        &[
            ("SCRAPER_SESSIONS", "1"),
            ("SCRAPER_PAGE_LOAD_TIMEOUT_SECS", "2"),
            ("SCRAPER_LOOKUP_TIMEOUT_SECS", "6"),
        ],
    )
    .await;
    replica.set_behaviour(Behaviour {
        hang: true,
        ..Behaviour::default()
    });
    let (status, body) = scraper.lookup("20987654326").await;
    assert_eq!(status, 504, "{body}");
    assert_eq!(scraper.outcomes("timeout").await, 1.0);

    replica.set_behaviour(Behaviour::default());
    let (status, body) = scraper.lookup("20987654326").await;
    assert_eq!(status, 200, "{body}");
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_chromedriver_is_restarted_for_the_next_lookup() {
    let replica = replica().await;
    let scraper = one_browser(&replica).await;
    assert_eq!(scraper.lookup("20987654326").await.0, 200);
    assert_eq!(
        scraper.kill_processes(|p| p.is_chromedriver()),
        1,
        "one chromedriver of ours"
    );

    let (status, body) = scraper.lookup("20440374248").await;
    assert_eq!(status, 200, "{body}");
    assert_record(&body, &expected_record("20440374248"));
    assert!(scraper.metric("ruc_scraper_driver_restarts_total").await >= 1.0);
    let browsers = scraper.processes().into_iter().filter(|p| p.is_browser()).count();
    assert_eq!(
        browsers, 1,
        "the old driver's orphaned browser was killed with its group"
    );
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_crashed_tab_is_replaced_by_a_new_session() {
    let replica = replica().await;
    let scraper = one_browser(&replica).await;
    assert_eq!(scraper.lookup("20987654326").await.0, 200);
    assert!(
        scraper.kill_processes(|p| p.is_renderer()) >= 1,
        "the tab has a renderer"
    );

    let (status, body) = scraper.lookup("20440374248").await;
    assert_eq!(status, 200, "{body}");
    assert!(scraper.metric("ruc_scraper_session_restarts_total").await >= 1.0);
    assert_eq!(
        scraper.metric("ruc_scraper_driver_restarts_total").await,
        0.0,
        "the driver was fine"
    );
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn more_lookups_than_sessions_are_all_answered_by_two_browsers() {
    let replica = replica().await;
    let scraper = Arc::new(Scraper::start(&replica, &[("SCRAPER_SESSIONS", "2")]).await);
    replica.set_behaviour(Behaviour {
        delay_ms: 300,
        ..Behaviour::default()
    });

    let sampling = Arc::new(AtomicBool::new(true));
    let most_browsers = Arc::new(AtomicUsize::new(0));
    let sampler = {
        let (scope, sampling, most) = (scraper.scope(), sampling.clone(), most_browsers.clone());
        std::thread::spawn(move || {
            while sampling.load(Ordering::SeqCst) {
                let browsers = scope.processes().iter().filter(|p| p.is_browser()).count();
                most.fetch_max(browsers, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let lookups: Vec<_> = TAXPAYERS
        .iter()
        .map(|ruc| {
            let scraper = scraper.clone();
            tokio::spawn(async move { (ruc, scraper.lookup(ruc).await) })
        })
        .collect();
    for lookup in lookups {
        let (ruc, (status, body)) = lookup.await.unwrap();
        assert_eq!(status, 200, "{ruc}: {body}");
        assert_record(&body, &expected_record(ruc));
    }
    sampling.store(false, Ordering::SeqCst);
    sampler.join().unwrap();
    let most = most_browsers.load(Ordering::SeqCst);
    assert!(most >= 1, "the sampler saw the browsers");
    assert!(most <= 2, "at most SCRAPER_SESSIONS browsers, saw {most}");
    Arc::try_unwrap(scraper).ok().expect("no other owner").stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_503_with_retry_after() {
    let replica = replica().await;
    let scraper = Arc::new(
        Scraper::start(
            &replica,
            &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_QUEUE_TIMEOUT_SECS", "1")],
        )
        .await,
    );
    replica.set_behaviour(Behaviour {
        delay_ms: 4000,
        ..Behaviour::default()
    });
    let first = {
        let scraper = scraper.clone();
        tokio::spawn(async move { scraper.lookup("20987654326").await })
    };
    wait_until("the search reached the replica", || replica.searches() == 1).await;
    let (status, headers, body) = scraper.get_raw("/obtener-ruc/20440374248").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(headers["retry-after"], "5");
    assert_eq!(first.await.unwrap().0, 200, "the lookup that had the browser finished");
    assert_eq!(scraper.outcomes("overloaded").await, 1.0);
    assert_eq!(replica.searches_for("20440374248"), 0);
    Arc::try_unwrap(scraper).ok().expect("no other owner").stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn health_metrics_and_unknown_routes() {
    let replica = replica().await;
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "2")]).await;
    let (status, health) = scraper.get("/health").await;
    assert_eq!(status, 200);
    assert_eq!(health["status"], "healthy");
    assert_eq!(health["webdriver"], "connected");
    assert_eq!(health["sessions"]["idle"], 2);
    assert_eq!(health["sessions"]["busy"], 0);

    let (status, headers, metrics) = scraper.get_raw("/metrics").await;
    assert_eq!(status, 200);
    assert!(headers["content-type"].to_str().unwrap().starts_with("text/plain"));
    for name in [
        "ruc_scraper_lookups_total",
        "ruc_scraper_lookup_duration_seconds",
        "ruc_scraper_attempts_total",
        "ruc_scraper_session_restarts_total",
        "ruc_scraper_driver_restarts_total",
        r#"ruc_scraper_sessions{state="idle"} 2"#,
        "ruc_scraper_queue_depth",
    ] {
        assert!(metrics.contains(name), "{name} in /metrics");
    }

    let (status, body) = scraper.get("/nope").await;
    assert_eq!(status, 404);
    assert!(body["detail"].is_string());
    let response = reqwest::Client::new()
        .post(format!("{}/obtener-ruc/20987654326", scraper.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "GET");
    let address = scraper.base.trim_start_matches("http://");
    let no_host = b"GET /obtener-ruc/20987654326 HTTP/1.1\r\nConnection: close\r\n\r\n".to_vec();
    assert_eq!(
        support::raw(address, no_host).await,
        Some(400),
        "RFC 9112: Host is required"
    );
    assert_eq!(replica.searches(), 0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_turns_health_to_503_and_lets_the_lookup_in_flight_finish() {
    let replica = replica().await;
    let mut scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_DRAIN_SECS", "1")]).await;
    replica.set_behaviour(Behaviour {
        delay_ms: 2000,
        ..Behaviour::default()
    });
    let client = reqwest::Client::new();
    let in_flight = tokio::spawn(client.get(format!("{}/obtener-ruc/20987654326", scraper.base)).send());
    wait_until("the search reached the replica", || replica.searches() == 1).await;
    scraper.terminate();
    // Draining: /health says so as soon as the signal is handled, while
    // connections are still taken.
    wait_until_async("/health says stopping", || async {
        let (status, health) = scraper.get("/health").await;
        (status, health["status"].as_str()) == (503, Some("stopping"))
    })
    .await;
    // Alive all the same, and keep-alive clients are told to go.
    let (status, headers, body) = scraper.get_raw("/livez").await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"alive"}"#));
    assert_eq!(headers.get("connection").map(|v| v.as_bytes()), Some(&b"close"[..]));
    let response = in_flight.await.unwrap().expect("an answer before the exit");
    assert_eq!(response.status(), 200);
    let status = scraper.wait_exit(Duration::from_secs(60)).await;
    assert!(status.success(), "exit status {status}");
    scraper.assert_nothing_left().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_killed_hard_leaves_no_chromedriver_and_no_browser_behind() {
    let replica = replica().await;
    let mut scraper = one_browser(&replica).await;
    let (status, body) = scraper.lookup("20440374248").await;
    assert_eq!(status, 200, "{body}");
    let before = scraper.processes();
    assert!(before.iter().any(Proc::is_chromedriver), "{before:#?}");
    assert!(before.iter().any(Proc::is_browser), "{before:#?}");
    scraper.kill().await;
    assert_all_exit("chromedriver and browsers of a SIGKILLed scraper", || {
        scraper.processes()
    })
    .await;
}

#[test]
fn a_bad_setting_stops_the_start_and_names_the_variable() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_scraper-under-test"))
        .env("SCRAPER_SESSIONS", "many")
        .env("WEBDRIVER_URL", "http://127.0.0.1:9/")
        .output()
        .expect("the binary runs");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("invalid SCRAPER_SESSIONS"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_remote_webdriver_endpoint_is_used_instead_of_our_own() {
    let replica = replica().await;
    let remote = RemoteDriver::start();
    let scraper = Scraper::start(&replica, &[("SCRAPER_SESSIONS", "1"), ("WEBDRIVER_URL", &remote.url())]).await;
    assert!(
        scraper.processes().iter().all(|p| !p.is_chromedriver()),
        "no chromedriver of its own"
    );
    assert_eq!(remote.browsers(), 1, "the warm session lives on the remote endpoint");
    let (status, body) = scraper.lookup("20440374248").await;
    assert_eq!(status, 200, "{body}");
    assert_record(&body, &expected_record("20440374248"));
    scraper.stop().await;
    remote.wait_for_browsers(0).await;
}

/// A scraper with one browser.
async fn one_browser(replica: &Replica) -> Scraper {
    Scraper::start(replica, &[("SCRAPER_SESSIONS", "1")]).await
}

/// A scraper with one browser and short pauses between attempts.
async fn quick_retries(replica: &Replica) -> Scraper {
    Scraper::start(
        replica,
        &[("SCRAPER_SESSIONS", "1"), ("SCRAPER_RETRY_BACKOFF_MS", "100")],
    )
    .await
}
