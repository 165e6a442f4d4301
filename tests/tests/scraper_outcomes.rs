//! One road to the scrapers: a GET that missed, a HEAD that missed and an
//! operator's refresh ask them through the same client, and each thing a
//! scraper can do (answer, answer with a 5xx, answer larger than the cache
//! takes or than the proxy keeps, cut its answer short, close the
//! connection, answer too late) ends the same way for the client, its
//! followers, the store, the breaker and the scraper's health, whoever
//! asked. Each case runs on its own Redis, stub and proxy.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use crate::support::lookups::{key, RUC};
use crate::support::proxy::{Answer, Proxy};
use crate::support::redis::RedisServer;
use crate::support::stub::{Reply, StubScraper};
use reqwest::Method;

const TOKEN: &str = "5d0c8a7e3f19b246e8a1c07d94f3b62a";
/// Answers above this are passed on but not stored.
const CACHE_MAX_BODY_BYTES: usize = 4096;
/// Lookups asked at once: one leads, the others follow it.
const AT_ONCE: usize = 3;

/// Who asks the scraper.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Asker {
    Get,
    Head,
    Refresh,
}

/// What a case left behind, besides its answers.
#[derive(Debug, PartialEq)]
struct Aftermath {
    stored: bool,
    breaker_opened: f64,
    scraper_failures: f64,
    upstream_errors: f64,
}

/// What the clients of one case saw: the status, `Cache-Status` without
/// `; collapsed`, and the body's length (announced, for HEAD).
type Seen = (u16, String, usize);

/// `AT_ONCE` requests of `asker` while the stub gives `reply` after
/// `delay`: what each client saw (none for a refresh) and the aftermath.
async fn case(reply: Reply, delay: Duration, asker: Asker) -> (Vec<Seen>, Aftermath) {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.reply(reply);
    stub.delay(delay);
    let env = [
        ("ADMIN_TOKEN", TOKEN),
        ("BREAKER_FAILURES", "1"),
        ("BREAKER_OPEN_SECS", "600"),
        ("UPSTREAM_TIMEOUT_SECS", "1"),
        ("CACHE_MAX_BODY_BYTES", "4096"),
    ];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    let path = format!("/obtener-ruc/{RUC}");
    let seen = match asker {
        Asker::Refresh => {
            let started = proxy
                .admin(Method::POST, &format!("/cache/{RUC}/refresh"), Some(TOKEN))
                .await;
            assert_eq!(started.status, 202, "{}", started.body);
            support::wait_until_async("the refresh ends", || async {
                let page = proxy.metrics_page().await;
                support::sum_samples(&page, "ruc_proxy_background_refreshes_total", &[]) == 1.0
            })
            .await;
            Vec::new()
        }
        Asker::Get | Asker::Head => {
            let method = if asker == Asker::Get { Method::GET } else { Method::HEAD };
            let asking: Vec<_> = (0..AT_ONCE)
                .map(|_| {
                    let (proxy, method, path) = (proxy.clone(), method.clone(), path.clone());
                    tokio::spawn(async move { proxy.send(method, &path).await })
                })
                .collect();
            let mut seen = Vec::new();
            for answer in asking {
                seen.push(seen_by_client(&answer.await.unwrap(), asker));
            }
            seen
        }
    };
    proxy.lookups_settled().await;
    let failures = format!(
        r#"ruc_proxy_scraper_backend_failures_total{{backend="{}"}}"#,
        stub.address()
    );
    let aftermath = Aftermath {
        stored: redis.get(&key(RUC)).is_some(),
        breaker_opened: proxy.metric("ruc_proxy_breaker_opened_total").await,
        scraper_failures: proxy.metric(&failures).await,
        upstream_errors: proxy.metric("ruc_proxy_upstream_errors_total").await,
    };
    assert_eq!(stub.lookups(), 1, "{asker:?}: one lookup for the {AT_ONCE} asking");
    assert!(Arc::try_unwrap(proxy).ok().unwrap().stop().await.success());
    (seen, aftermath)
}

fn seen_by_client(answer: &Answer, asker: Asker) -> Seen {
    let cache_status = answer.header("cache-status").replace("; collapsed", "");
    let length = match asker {
        Asker::Head => answer.header("content-length").parse().unwrap(),
        _ => answer.body.len(),
    };
    (answer.status, cache_status, length)
}

/// Runs `reply` for every asker; checks that the clients of a GET and of a
/// HEAD, leader and followers, saw the same, and that every asker left the
/// same aftermath; returns what a client saw and that aftermath.
async fn for_every_asker(reply: Reply, delay: Duration) -> (Seen, Aftermath) {
    let ((get, after_get), (head, after_head), (refresh, after_refresh)) = tokio::join!(
        case(reply.clone(), delay, Asker::Get),
        case(reply.clone(), delay, Asker::Head),
        case(reply, delay, Asker::Refresh),
    );
    assert!(refresh.is_empty());
    assert!(
        get.iter().all(|seen| *seen == get[0]),
        "the GET's followers got the leader's answer: {get:?}"
    );
    assert_eq!(head, get, "a HEAD's clients saw what a GET's saw");
    assert_eq!(after_head, after_get, "a HEAD ends as a GET");
    assert_eq!(after_refresh, after_get, "a refresh ends as a GET");
    (get[0].clone(), after_get)
}

fn aftermath(stored: bool, breaker_opened: f64, scraper_failures: f64, upstream_errors: f64) -> Aftermath {
    Aftermath {
        stored,
        breaker_opened,
        scraper_failures,
        upstream_errors,
    }
}

const QUICK: Duration = Duration::from_millis(300);

#[tokio::test(flavor = "multi_thread")]
async fn a_record_is_passed_on_and_stored() {
    let (seen, after) = for_every_asker(Reply::Record, QUICK).await;
    assert_eq!((seen.0, seen.1.as_str()), (200, "ruc-proxy; fwd=miss; fwd-status=200"));
    assert_eq!(after, aftermath(true, 0.0, 0.0, 0.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_5xx_is_passed_on_and_counts_against_the_scraper() {
    let body = format!(r#"{{"message":"Error al consultar RUC","detail":"firewall","ruc":"{RUC}"}}"#);
    let (seen, after) = for_every_asker(Reply::Status(502, body.clone()), QUICK).await;
    assert_eq!(
        seen,
        (502, "ruc-proxy; fwd=miss; fwd-status=502".to_string(), body.len())
    );
    assert_eq!(after, aftermath(false, 1.0, 1.0, 0.0));
}

/// `CACHE_MAX_BODY_BYTES` keeps its promise: passed on, to the followers
/// too, never stored; the scraper answered, so neither the breaker nor its
/// health hears of a failure.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_above_the_cache_limit_is_passed_on_to_everyone_and_not_stored() {
    let (seen, after) = for_every_asker(Reply::Large(CACHE_MAX_BODY_BYTES), QUICK).await;
    assert_eq!((seen.0, seen.1.as_str()), (200, "ruc-proxy; fwd=miss; fwd-status=200"));
    assert!(seen.2 > CACHE_MAX_BODY_BYTES, "{seen:?}");
    assert_eq!(after, aftermath(false, 0.0, 0.0, 0.0));
}

/// Beyond what the proxy keeps in memory (1 MiB), nobody gets the answer:
/// a 502 for every client alike, and still no failure of the scraper's.
#[tokio::test(flavor = "multi_thread")]
async fn an_answer_larger_than_the_proxy_keeps_is_a_502_for_everyone() {
    let (seen, after) = for_every_asker(Reply::Large(1_200_000), QUICK).await;
    assert_eq!(
        (seen.0, seen.1.as_str()),
        (502, "ruc-proxy; fwd=miss; detail=scraper-answer-too-large")
    );
    assert_eq!(after, aftermath(false, 0.0, 0.0, 0.0));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_cut_short_or_a_closed_connection_is_a_502() {
    for reply in [Reply::CutShort, Reply::Reset] {
        let (seen, after) = for_every_asker(reply.clone(), QUICK).await;
        assert_eq!(
            (seen.0, seen.1.as_str()),
            (502, "ruc-proxy; fwd=miss; detail=scraper-unreachable"),
            "{reply:?}"
        );
        assert_eq!(after, aftermath(false, 1.0, 1.0, 1.0), "{reply:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn an_answer_later_than_the_upstream_timeout_is_a_504() {
    let (seen, after) = for_every_asker(Reply::Record, Duration::from_secs(3)).await;
    assert_eq!(
        (seen.0, seen.1.as_str()),
        (504, "ruc-proxy; fwd=miss; detail=scraper-timeout")
    );
    assert_eq!(after, aftermath(false, 1.0, 1.0, 1.0));
}
