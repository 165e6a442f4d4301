//! Direct-HTTP lookups (`SCRAPER_MODE=http|auto`) end to end: the real
//! scraper binary against the SUNAT replica, which answers a direct post as
//! it answers Chrome and is as strict as SUNAT is known to be (fields,
//! session cookie, an optional browser check only Chrome passes).

use crate::support::lookups::key;
use crate::support::procfs::Proc;
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::{assert_record, expected_record, healthcheck, replica, wait_until_async, TAXPAYERS};
use ruc_tests::replica::{Behaviour, BrowserCheck, Charset, ContentEncoding};

/// Quick failures: one attempt, short timeouts.
const ONE_QUICK_ATTEMPT: [(&str, &str); 5] = [
    ("SCRAPER_SESSIONS", "1"),
    ("SCRAPER_MAX_ATTEMPTS", "1"),
    ("SCRAPER_PAGE_LOAD_TIMEOUT_SECS", "2"),
    ("SCRAPER_LOOKUP_TIMEOUT_SECS", "5"),
    ("SCRAPER_RESULT_TIMEOUT_SECS", "2"),
];

#[tokio::test(flavor = "multi_thread")]
async fn both_methods_give_byte_identical_records_and_the_same_errors() {
    let replica = replica().await;
    let browser = Scraper::start(&replica, &ONE_QUICK_ATTEMPT).await;
    let direct = Scraper::start_without_browser(&replica, &ONE_QUICK_ATTEMPT).await;
    // Chromium's own headers pass the header check: the direct client's
    // must too; both take compressed pages.
    replica.set_behaviour(Behaviour {
        header_check: true,
        content_encoding: Some(ContentEncoding::Gzip),
        ..Behaviour::default()
    });
    for ruc in TAXPAYERS {
        let (by_browser, by_http) = (raw_lookup(&browser, ruc).await, raw_lookup(&direct, ruc).await);
        assert_eq!(by_browser.0, 200, "{ruc}: {}", by_browser.1);
        assert_eq!(
            without_consultado_en(&by_http.1),
            without_consultado_en(&by_browser.1),
            "{ruc}"
        );
        assert_record(&serde_json::from_str(&by_http.1).unwrap(), &expected_record(ruc));
    }
    let faults = [
        ("20000000001", Behaviour::default()),
        ("20131312954", Behaviour::default()),
        (
            "20146806679",
            Behaviour {
                error_pages: 2,
                ..Behaviour::default()
            },
        ),
        (
            "20146806679",
            Behaviour {
                firewall: true,
                ..Behaviour::default()
            },
        ),
        (
            "20146806679",
            Behaviour {
                reset: true,
                ..Behaviour::default()
            },
        ),
        (
            "20146806679",
            Behaviour {
                hang: true,
                ..Behaviour::default()
            },
        ),
    ];
    for (ruc, behaviour) in faults {
        replica.set_behaviour(behaviour.clone());
        let (by_browser, by_http) = (raw_lookup(&browser, ruc).await, raw_lookup(&direct, ruc).await);
        let (browser_kind, http_kind) = (error_kind(&by_browser.1), error_kind(&by_http.1));
        assert_eq!(
            (by_http.0, &http_kind),
            (by_browser.0, &browser_kind),
            "{ruc} {behaviour:?}"
        );
    }
    // Cut short: Chrome shows the rows that came and never finishes the
    // load (504); the direct client sees the short body (502). No record.
    replica.set_behaviour(Behaviour {
        truncate: true,
        ..Behaviour::default()
    });
    for scraper in [&browser, &direct] {
        let (status, body) = raw_lookup(scraper, "20146806679").await;
        assert!(matches!(status, 502 | 504), "a cut page gave {status}: {body}");
    }
    assert_eq!(browser.answered_by("http").await, 0.0);
    assert_eq!(direct.answered_by("browser").await, 0.0);
    assert_eq!(direct.answered_by("http").await, 15.0);
    browser.stop().await;
    direct.stop().await;
}

/// Also behind a firewall that checks a post's headers agree with the
/// Chrome its `User-Agent` names (client hints, fetch metadata).
#[tokio::test(flavor = "multi_thread")]
async fn http_mode_runs_without_chrome_and_reuses_its_session() {
    let replica = replica().await;
    replica.set_behaviour(Behaviour {
        header_check: true,
        ..Behaviour::default()
    });
    let scraper = Scraper::start_without_browser(&replica, &[("SCRAPER_SESSIONS", "1")]).await;
    let (status, health) = scraper.get("/health").await;
    assert_eq!(status, 200, "{health}");
    assert_eq!(
        (health["mode"].as_str(), health["webdriver"].as_str()),
        (Some("http"), Some("not used"))
    );
    for ruc in TAXPAYERS {
        let (status, body) = scraper.lookup(ruc).await;
        assert_eq!(status, 200, "{body}");
    }
    assert_eq!(replica.form_loads(), 1, "one form load for the session's cookie");
    assert_eq!(replica.searches(), 8);
    assert_eq!(replica.check_rejections(), 0, "the headers agree with the User-Agent");
    let browsers: Vec<Proc> = scraper
        .processes()
        .into_iter()
        .filter(|p| p.cmdline.contains("chrom"))
        .collect();
    assert!(browsers.is_empty(), "no browser or driver: {browsers:?}");
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dropped_session_is_replaced_with_a_fresh_cookie() {
    let replica = replica().await;
    let scraper = Scraper::start_without_browser(&replica, &[("SCRAPER_SESSIONS", "1")]).await;
    assert_eq!(scraper.lookup("20146806679").await.0, 200);
    replica.expire_sessions();
    let (status, body) = scraper.lookup("20440374248").await;
    assert_eq!(status, 200, "{body}");
    assert_record(&body, &expected_record("20440374248"));
    assert_eq!(replica.expired_session_posts(), 1, "the old cookie was tried once");
    assert_eq!(replica.form_loads(), 2, "then the form gave a new one");
    assert_eq!(replica.searches_for("20440374248"), 1);
    assert_eq!(scraper.lookup("20550263948").await.0, 200);
    assert_eq!(replica.form_loads(), 2, "the new session is kept");
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn http_mode_faults_fail_cleanly_and_the_next_lookup_works() {
    let replica = replica().await;
    let env = [
        ("SCRAPER_SESSIONS", "1"),
        ("SCRAPER_MAX_ATTEMPTS", "2"),
        ("SCRAPER_RETRY_BACKOFF_MS", "10"),
        ("SCRAPER_PAGE_LOAD_TIMEOUT_SECS", "1"),
        ("SCRAPER_LOOKUP_TIMEOUT_SECS", "4"),
    ];
    let scraper = Scraper::start_without_browser(&replica, &env).await;
    let faults = [
        (
            Behaviour {
                truncate: true,
                ..Behaviour::default()
            },
            502,
            "ERR_CONTENT_LENGTH_MISMATCH",
        ),
        (
            Behaviour {
                reset: true,
                ..Behaviour::default()
            },
            502,
            "ERR_CONNECTION_RESET",
        ),
        (
            Behaviour {
                delay_ms: 2500,
                ..Behaviour::default()
            },
            504,
            "no cargó a tiempo",
        ),
        (
            Behaviour {
                browser_check: Some(BrowserCheck::UnknownPage),
                ..Behaviour::default()
            },
            502,
            "página inesperada",
        ),
    ];
    for (behaviour, status, detail) in faults {
        replica.set_behaviour(behaviour.clone());
        let before = replica.searches_for("20146806679");
        let (got, body) = scraper.lookup("20146806679").await;
        assert_eq!(got, status, "{behaviour:?}: {body}");
        assert!(
            body["detail"].as_str().unwrap().contains(detail),
            "{behaviour:?}: {body}"
        );
        let tries = replica.searches_for("20146806679") - before;
        assert!(
            tries <= 2,
            "{behaviour:?}: at most SCRAPER_MAX_ATTEMPTS searches, got {tries}"
        );
        replica.set_behaviour(Behaviour::default());
        let (got, body) = scraper.lookup("20440374248").await;
        assert_eq!(got, 200, "after {behaviour:?}: {body}");
    }
    let charsets = [Charset::Latin1, Charset::Latin1DeclaredUtf8Sent].map(|charset| Behaviour {
        charset,
        ..Behaviour::default()
    });
    scraper.assert_records_under(&replica, &charsets).await;
    let compressed = [ContentEncoding::Gzip, ContentEncoding::Deflate].map(|coding| Behaviour {
        content_encoding: Some(coding),
        charset: Charset::Latin1,
        ..Behaviour::default()
    });
    scraper.assert_records_under(&replica, &compressed).await;
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn auto_falls_back_to_chrome_then_suspends_and_resumes_the_direct_path() {
    let replica = replica().await;
    let env = [
        ("SCRAPER_MODE", "auto"),
        ("SCRAPER_SESSIONS", "1"),
        ("SCRAPER_DIRECT_FAILURES", "2"),
        ("SCRAPER_DIRECT_SUSPEND_SECS", "3"),
    ];
    let scraper = Scraper::start(&replica, &env).await;
    let check = |browser_check| Behaviour {
        browser_check,
        ..Behaviour::default()
    };

    replica.set_behaviour(check(Some(BrowserCheck::Firewall)));
    let (status, body) = scraper.lookup("20146806679").await;
    assert_eq!(status, 200, "{body}");
    assert_record(&body, &expected_record("20146806679"));
    assert_eq!(replica.check_rejections(), 1, "the direct post met the firewall");
    assert_eq!(
        scraper.metric("ruc_scraper_fallbacks_total{reason=\"firewall\"}").await,
        1.0
    );

    replica.set_behaviour(check(Some(BrowserCheck::UnknownPage)));
    assert_eq!(scraper.lookup("20440374248").await.0, 200);
    assert_eq!(
        scraper
            .metric("ruc_scraper_fallbacks_total{reason=\"unknown_page\"}")
            .await,
        1.0
    );
    assert_eq!(scraper.get("/health").await.1["direct"], "suspended");
    assert_eq!(scraper.metric("ruc_scraper_direct_suspensions_total").await, 1.0);

    assert_eq!(scraper.lookup("20550263948").await.0, 200);
    assert_eq!(replica.check_rejections(), 2, "no direct post while suspended");
    assert_eq!(scraper.answered_by("browser").await, 3.0);

    replica.set_behaviour(Behaviour::default());
    wait_until_async("the direct path resumes", || async {
        scraper.get("/health").await.1["direct"] == "active"
    })
    .await;
    let (status, body) = scraper.lookup("10471234562").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(scraper.answered_by("http").await, 1.0);
    assert_eq!(scraper.metric("ruc_scraper_direct_suspended").await, 0.0);
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_proxy_caches_what_an_http_mode_scraper_reads() {
    let (replica, redis) = (replica().await, RedisServer::start());
    let scraper = Scraper::start_without_browser(&replica, &[]).await;
    let proxy = Proxy::start(&redis.url(), &scraper.base, &[]).await;
    let miss = proxy.lookup("20440374248").await;
    assert_eq!((miss.status, miss.header("x-cache")), (200, "MISS"), "{}", miss.body);
    assert_record(&miss.json(), &expected_record("20440374248"));
    proxy.lookups_settled().await;
    let hit = proxy.lookup("20440374248").await;
    assert_eq!((hit.status, hit.header("x-cache")), (200, "HIT"));
    assert_eq!(hit.body, miss.body);
    assert_eq!(replica.searches_for("20440374248"), 1);
    let stored: Option<String> = redis::cmd("GET")
        .arg(key("20440374248"))
        .query(&mut redis.connection().unwrap())
        .unwrap();
    assert_eq!(stored.as_deref(), Some(miss.body.as_str()));
    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

async fn raw_lookup(scraper: &Scraper, ruc: &str) -> (u16, String) {
    let (status, _, body) = scraper.get_raw(&format!("/obtener-ruc/{ruc}")).await;
    (status, body)
}

/// The body with the time of reading blanked out.
fn without_consultado_en(body: &str) -> String {
    const FIELD: &str = "\"consultadoEn\":\"";
    match body.find(FIELD) {
        Some(at) => {
            let start = at + FIELD.len();
            let end = start + body[start..].find('"').unwrap_or(0);
            format!("{}{}", &body[..start], &body[end..])
        }
        None => body.to_string(),
    }
}

/// What an error body says happened: its message and the first clause of
/// its detail ("SUNAT rechazó la consulta", "SUNAT no respondió a tiempo"…),
/// without what varies between requests (support IDs, timings).
fn error_kind(body: &str) -> (String, String) {
    let value: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let detail = value["detail"].as_str().unwrap_or_default();
    let clause = detail.split(':').next().unwrap_or_default().to_string();
    (value["message"].as_str().unwrap_or_default().to_string(), clause)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_replica_is_as_strict_with_a_post_as_sunat_is_known_to_be() {
    let replica = replica().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let servlet = format!("{}/cl-ti-itmrconsruc/jcrS00Alias", replica.url());
    let token = "k".repeat(52);
    // A form post, with one more header when given (a cookie, a User-Agent).
    let post = |body: String, header: Option<(&'static str, String)>| {
        let mut request = http
            .post(&servlet)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((name, value)) = header {
            request = request.header(name, value);
        }
        request.send()
    };
    let page = |body: String, header: Option<(&'static str, String)>| {
        let sent = post(body, header);
        async move { sent.await.unwrap().text().await.unwrap() }
    };
    let title = |page: &str| {
        page.split("<TITLE>")
            .nth(1)
            .map(|t| t[..t.find('<').unwrap_or(0)].to_string())
    };
    let error_page = Some(".:: Pagina de Error ::.".to_string());
    let complete = format!("accion=consPorRuc&nroRuc=20440374248&token={token}&modo=1");
    for incomplete in [
        "accion=consPorRuc&nroRuc=20440374248&modo=1".to_string(),
        "accion=consPorRuc&nroRuc=20440374248&token=&modo=1".to_string(),
        "accion=consPorRuc&nroRuc=20440374248&token=abc&modo=1".to_string(),
        format!("accion=consPorRuc&nroRuc=20440374248&token={token}"),
    ] {
        let answered = page(incomplete.clone(), None).await;
        assert_eq!(title(&answered), error_page, "{incomplete}");
    }
    let not_form = http.post(&servlet).body(complete.clone()).send().await.unwrap();
    assert_eq!(title(&not_form.text().await.unwrap()), error_page, "not form-encoded");
    let cold = page(complete.clone(), None).await;
    assert!(
        cold.contains("GOBIERNO REGIONAL LA LIBERTAD"),
        "a complete cold post is answered"
    );

    let form = http.get(format!(
        "{}/cl-ti-itmrconsruc/FrameCriterioBusquedaWeb.jsp",
        replica.url()
    ));
    let form = form.send().await.unwrap();
    let cookie = form.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    assert_eq!(
        post(complete.clone(), Some(("cookie", cookie.clone())))
            .await
            .unwrap()
            .status(),
        200
    );
    replica.expire_sessions();
    let expired = post(complete.clone(), Some(("cookie", cookie))).await.unwrap();
    assert_eq!(expired.status(), 302, "an expired session goes back to the form");
    assert!(expired.headers()["location"]
        .to_str()
        .unwrap()
        .ends_with("FrameCriterioBusquedaWeb.jsp"));

    replica.set_behaviour(Behaviour {
        header_check: true,
        ..Behaviour::default()
    });
    let chrome =
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";
    let bare_chrome = page(complete.clone(), Some(("user-agent", chrome.into()))).await;
    assert!(
        bare_chrome.contains("Request Rejected"),
        "a Chrome User-Agent without Chrome's other headers: {bare_chrome}"
    );
    let honest = page(complete.clone(), None).await;
    assert!(
        honest.contains("GOBIERNO REGIONAL LA LIBERTAD"),
        "no User-Agent claims nothing"
    );

    replica.set_behaviour(Behaviour {
        browser_check: Some(BrowserCheck::Firewall),
        ..Behaviour::default()
    });
    let checked = page(complete.clone(), None).await;
    assert!(checked.contains("Request Rejected"), "{checked}");
    let passed = page(complete, Some(("cookie", "TSbc01=7-14-21".into()))).await;
    assert!(
        passed.contains("GOBIERNO REGIONAL LA LIBERTAD"),
        "the script's cookie passes"
    );
}

/// `scraper --healthcheck`, the images' HEALTHCHECK: 0 while the scraper
/// at `SCRAPER_LISTEN` is healthy, 1 once it is gone.
#[tokio::test(flavor = "multi_thread")]
async fn the_binary_checks_its_own_health_for_the_images_healthcheck() {
    let replica = replica().await;
    let scraper = Scraper::start_without_browser(&replica, &[]).await;
    let address = scraper.base.trim_start_matches("http://").to_string();
    let check = || healthcheck(env!("CARGO_BIN_EXE_scraper-under-test"), "SCRAPER_LISTEN", &address);
    assert_eq!(check(), Some(0));
    scraper.stop().await;
    assert_eq!(check(), Some(1));
}
