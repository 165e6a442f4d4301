//! Traces from the client to SUNAT: a lookup through a proxy and a scraper
//! that export to an OTLP receiver is one trace under the client's trace
//! id, with a span for each stage; with traces off in the proxy, the
//! client's `traceparent` still reaches the scraper; the access log names
//! the trace either way; a trace is sampled once, at its start, and kept
//! or dropped by both services alike; a request that waits for another's
//! lookup links to it. Span names never carry a RUC.

use std::collections::BTreeSet;
use std::time::Duration;

use crate::support::otlp::{OtlpReceiver, ReceivedSpan};
use crate::support::proxy::Proxy;
use crate::support::redis::RedisServer;
use crate::support::scraper::Scraper;
use crate::support::stub::StubScraper;
use crate::support::{replica, wait_until, TAXPAYERS};

const TRACE_ID: &str = "0af7651916cd43dd8448eb211c80319c";
const CALLER_SPAN: &str = "b7ad6b7169203331";

fn traceparent() -> String {
    format!("00-{TRACE_ID}-{CALLER_SPAN}-01")
}

/// Exporting to `receiver`, in batches sent every 100 ms.
fn exporting(receiver: &OtlpReceiver) -> Vec<(&'static str, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT", receiver.endpoint.clone()),
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_string()),
    ]
}

fn env<'a>(pairs: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    pairs.iter().map(|(k, v)| (*k, v.as_str())).collect()
}

async fn get(proxy: &Proxy, path: &str, traceparent: Option<&str>) -> u16 {
    let mut request = reqwest::Client::new().get(format!("{}{path}", proxy.base));
    if let Some(traceparent) = traceparent {
        request = request.header("traceparent", traceparent);
    }
    request.send().await.expect("the proxy answers").status().as_u16()
}

fn names(spans: &[ReceivedSpan], service: &str, trace_id: &str) -> BTreeSet<String> {
    spans
        .iter()
        .filter(|s| s.service == service && s.trace_id == trace_id)
        .map(|s| s.name.clone())
        .collect()
}

/// The span names of trace `trace_id` from the proxy, and from the scraper.
fn names_in_both(spans: &[ReceivedSpan], trace_id: &str) -> (BTreeSet<String>, BTreeSet<String>) {
    (
        names(spans, "ruc-proxy", trace_id),
        names(spans, "ruc-scraper", trace_id),
    )
}

fn one<'a>(spans: &'a [ReceivedSpan], service: &str, name: &str) -> &'a ReceivedSpan {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.service == service && s.name == name)
        .collect();
    assert_eq!(found.len(), 1, "{service} {name}: {found:#?}");
    found[0]
}

const PROXY_STAGES: [&str; 6] = [
    "request",
    "cache.read",
    "lease.join",
    "gate.admit",
    "scraper.fetch",
    "cache.store",
];
const SCRAPER_STAGES: [&str; 6] = ["lookup", "queue", "attempt", "form", "search", "parse"];

#[tokio::test(flavor = "multi_thread")]
async fn one_lookup_is_one_trace_from_the_caller_through_the_proxy_to_the_scraper() {
    let receiver = OtlpReceiver::start().await;
    let replica = replica().await;
    let ruc = TAXPAYERS[0];
    let otel = exporting(&receiver);
    let scraper = Scraper::start_without_browser(&replica, &env(&otel)).await;
    let redis = RedisServer::start();
    let mut proxy_env = otel.clone();
    // Hits are logged at debug level: their lines name their trace too.
    proxy_env.push(("RUST_LOG", "info,proxy::front=debug".to_string()));
    let proxy = Proxy::start(&redis.url(), &scraper.base, &env(&proxy_env)).await;

    assert_eq!(
        get(&proxy, &format!("/obtener-ruc/{ruc}"), Some(&traceparent())).await,
        200
    );
    let spans = receiver
        .wait_for("the lookup's spans from both services", |spans| {
            let (proxy, scraper) = names_in_both(spans, TRACE_ID);
            PROXY_STAGES.iter().all(|n| proxy.contains(*n)) && SCRAPER_STAGES.iter().all(|n| scraper.contains(*n))
        })
        .await;
    let ours: Vec<ReceivedSpan> = spans.iter().filter(|s| s.trace_id == TRACE_ID).cloned().collect();
    // The proxy's request is the caller's child; the scraper's lookup the
    // child of the proxy's call to it.
    let request = one(&ours, "ruc-proxy", "request");
    assert_eq!(request.parent_span_id, CALLER_SPAN);
    assert_eq!(request.attribute("ruc"), Some(ruc));
    let fetch = one(&ours, "ruc-proxy", "scraper.fetch");
    let lookup = one(&ours, "ruc-scraper", "lookup");
    assert_eq!(lookup.parent_span_id, fetch.span_id);
    assert_eq!(lookup.attribute("ruc"), Some(ruc));
    // One tree: every other span's parent is a span of the trace.
    let ids: BTreeSet<&str> = ours.iter().map(|s| s.span_id.as_str()).collect();
    for span in ours.iter().filter(|s| s.span_id != request.span_id) {
        assert!(
            ids.contains(span.parent_span_id.as_str()),
            "{span:#?} hangs outside the trace"
        );
    }
    for span in &spans {
        assert!(!span.name.contains(ruc), "a RUC in a span name: {span:#?}");
    }
    // The access log names the trace.
    let trace_field = format!("trace_id={TRACE_ID}");
    proxy.wait_for_log_line(&["answered", ruc, &trace_field]).await;

    // A hit without a traceparent starts a trace of its own, named in its
    // (debug) log line.
    assert_eq!(get(&proxy, &format!("/obtener-ruc/{ruc}"), None).await, 200);
    let is_hit =
        |s: &ReceivedSpan| s.name == "request" && s.parent_span_id.is_empty() && s.attribute("ruc") == Some(ruc);
    let spans = receiver
        .wait_for("the hit's trace", |spans| spans.iter().any(is_hit))
        .await;
    let hit = spans.iter().find(|s| is_hit(s)).unwrap();
    assert_ne!(hit.trace_id, TRACE_ID);
    assert!(spans
        .iter()
        .any(|s| s.trace_id == hit.trace_id && s.name == "cache.read"));
    let line = proxy
        .wait_for_log_line(&["answered", &format!("trace_id={}", hit.trace_id)])
        .await;
    assert!(line.contains("cache=\"hit\"") && line.contains("DEBUG"), "{line}");

    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn with_traces_off_the_proxy_passes_the_callers_traceparent_on_as_it_came() {
    let receiver = OtlpReceiver::start().await;
    let replica = replica().await;
    let ruc = TAXPAYERS[1];
    let scraper = Scraper::start_without_browser(&replica, &env(&exporting(&receiver))).await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(&redis.url(), &scraper.base, &[]).await;

    assert_eq!(
        get(&proxy, &format!("/obtener-ruc/{ruc}"), Some(&traceparent())).await,
        200
    );
    let spans = receiver
        .wait_for("the scraper's lookup", |spans| {
            spans.iter().any(|s| s.name == "lookup" && s.trace_id == TRACE_ID)
        })
        .await;
    let lookup = one(&spans, "ruc-scraper", "lookup");
    assert_eq!(
        lookup.parent_span_id, CALLER_SPAN,
        "the caller's traceparent, unchanged"
    );
    assert!(
        spans.iter().all(|s| s.service == "ruc-scraper"),
        "the proxy exports nothing"
    );
    let trace_field = format!("trace_id={TRACE_ID}");
    proxy.wait_for_log_line(&["answered", ruc, &trace_field]).await;

    // Without one, the scraper gets none and starts its own trace.
    let other = TAXPAYERS[2];
    assert_eq!(get(&proxy, &format!("/obtener-ruc/{other}"), None).await, 200);
    let spans = receiver
        .wait_for("the second lookup", |spans| {
            spans
                .iter()
                .any(|s| s.name == "lookup" && s.attribute("ruc") == Some(other))
        })
        .await;
    let second = spans
        .iter()
        .find(|s| s.name == "lookup" && s.attribute("ruc") == Some(other))
        .unwrap();
    assert!(second.parent_span_id.is_empty() && second.trace_id != TRACE_ID);

    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

/// The `trace_id` an access-log line of `ruc` names.
async fn logged_trace_id(proxy: &Proxy, ruc: &str) -> String {
    let line = proxy.wait_for_log_line(&["answered", ruc, "trace_id="]).await;
    let id = line.split("trace_id=").nth(1).expect("a trace_id field");
    id.chars().take_while(char::is_ascii_hexdigit).collect()
}

/// The proxy decides at a request's start whether its trace is sampled:
/// one that is not makes no span in the proxy, and the scraper, told so
/// by the `traceparent` it gets, exports none either; a caller's sampled
/// flag is still followed.
#[tokio::test(flavor = "multi_thread")]
async fn a_trace_the_sampler_drops_is_exported_by_neither_service() {
    let receiver = OtlpReceiver::start().await;
    let replica = replica().await;
    let (dropped, followed) = (TAXPAYERS[3], TAXPAYERS[4]);
    let otel = exporting(&receiver);
    let scraper = Scraper::start_without_browser(&replica, &env(&otel)).await;
    let redis = RedisServer::start();
    let mut proxy_env = otel.clone();
    proxy_env.push(("OTEL_TRACES_SAMPLER", "parentbased_always_off".to_string()));
    let proxy = Proxy::start(&redis.url(), &scraper.base, &env(&proxy_env)).await;

    assert_eq!(get(&proxy, &format!("/obtener-ruc/{dropped}"), None).await, 200);
    let dropped_trace = logged_trace_id(&proxy, dropped).await;
    assert_eq!(dropped_trace.len(), 32, "a trace id is logged all the same");
    assert_eq!(
        get(&proxy, &format!("/obtener-ruc/{followed}"), Some(&traceparent())).await,
        200
    );
    // Exported after the first lookup's spans would have been.
    let spans = receiver
        .wait_for("the caller's sampled trace from both services", |spans| {
            let (proxy, scraper) = names_in_both(spans, TRACE_ID);
            proxy.contains("scraper.fetch") && scraper.contains("lookup")
        })
        .await;
    let unsampled: Vec<_> = spans
        .iter()
        .filter(|s| s.trace_id == dropped_trace || s.attribute("ruc") == Some(dropped))
        .collect();
    assert!(unsampled.is_empty(), "spans of a dropped trace: {unsampled:#?}");

    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

/// With a ratio sampler in both services, a trace the proxy starts is
/// exported whole or not at all: the scraper decides on the same trace id.
#[tokio::test(flavor = "multi_thread")]
async fn a_ratio_sampler_keeps_or_drops_each_trace_in_both_services() {
    let receiver = OtlpReceiver::start().await;
    let replica = replica().await;
    let mut otel = exporting(&receiver);
    otel.push(("OTEL_TRACES_SAMPLER", "traceidratio".to_string()));
    otel.push(("OTEL_TRACES_SAMPLER_ARG", "0.5".to_string()));
    let scraper = Scraper::start_without_browser(&replica, &env(&otel)).await;
    let redis = RedisServer::start();
    let proxy = Proxy::start(&redis.url(), &scraper.base, &env(&otel)).await;

    let mut traces = Vec::new();
    for ruc in TAXPAYERS {
        assert_eq!(get(&proxy, &format!("/obtener-ruc/{ruc}"), None).await, 200);
        traces.push((ruc, logged_trace_id(&proxy, ruc).await));
    }
    // A trace id in the sampled half, sent last: once both services'
    // spans of it are in, so are the ones before it.
    let last = "00-00000000000000000000000000000001-b7ad6b7169203331-01";
    let page = format!("/obtener-ruc/{}/representantes", TAXPAYERS[0]);
    assert_eq!(get(&proxy, &page, Some(last)).await, 200);
    let last_id = "00000000000000000000000000000001";
    let spans = receiver
        .wait_for("the last trace from both services", |spans| {
            let (proxy, scraper) = names_in_both(spans, last_id);
            proxy.contains("request") && scraper.contains("lookup")
        })
        .await;
    for (ruc, trace) in &traces {
        let exported_by = |service: &str, name: &str| {
            spans.iter().any(|s| {
                s.service == service && s.name == name && &s.trace_id == trace && s.attribute("ruc") == Some(*ruc)
            })
        };
        assert_eq!(
            exported_by("ruc-proxy", "request"),
            exported_by("ruc-scraper", "lookup"),
            "{ruc}: trace {trace} kept by one service only"
        );
    }

    assert!(proxy.stop().await.success());
    scraper.stop().await;
}

/// A request that waits for another's lookup, in the same proxy or in
/// another replica, links its `lease.follow` span to the request that led
/// the lookup: the trace that shows where the wait went.
#[tokio::test(flavor = "multi_thread")]
async fn a_follower_links_to_the_request_that_led_the_lookup_here_or_on_another_replica() {
    let receiver = OtlpReceiver::start().await;
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    stub.delay(Duration::from_secs(3));
    let otel = exporting(&receiver);
    let first = Proxy::start(&redis.url(), &stub.url(), &env(&otel)).await;
    let second = Proxy::start(&redis.url(), &stub.url(), &env(&otel)).await;
    let path = format!("/obtener-ruc/{}", TAXPAYERS[5]);
    let caller = |n: u128| format!("00-{:032x}-{CALLER_SPAN}-01", 0xabc0 + n);
    let (leader, here, elsewhere) = (caller(1), caller(2), caller(3));

    let lead = get(&first, &path, Some(&leader));
    let follow = async {
        wait_until("the lookup reached the scraper", || stub.active() == 1).await;
        tokio::join!(get(&first, &path, Some(&here)), get(&second, &path, Some(&elsewhere)))
    };
    let (led, followed) = tokio::join!(lead, follow);
    assert_eq!((led, followed), (200, (200, 200)));
    assert_eq!(stub.lookups(), 1, "one lookup for the three requests");

    let id = |traceparent: &str| traceparent[3..35].to_string();
    let follows = |spans: &[ReceivedSpan]| {
        [&here, &elsewhere].map(|trace| {
            spans
                .iter()
                .find(|s| s.name == "lease.follow" && s.trace_id == id(trace))
                .cloned()
        })
    };
    let spans = receiver
        .wait_for("the leader's request and both waits", |spans| {
            names(spans, "ruc-proxy", &id(&leader)).contains("request") && follows(spans).iter().all(Option::is_some)
        })
        .await;
    let request = spans
        .iter()
        .find(|s| s.name == "request" && s.trace_id == id(&leader))
        .unwrap();
    let link = (request.trace_id.clone(), request.span_id.clone());
    for wait in follows(&spans).into_iter().flatten() {
        assert_eq!(wait.links, vec![link.clone()], "{wait:#?}");
    }

    assert!(first.stop().await.success());
    assert!(second.stop().await.success());
}

/// In a browser, a page behind the record: the form, the search, the page
/// and the parse, under the caller's trace.
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_lookup_of_a_page_has_a_span_for_each_step() {
    let receiver = OtlpReceiver::start().await;
    let replica = replica().await;
    let ruc = TAXPAYERS[0];
    let scraper = Scraper::start(&replica, &env(&exporting(&receiver))).await;
    let response = reqwest::Client::new()
        .get(format!("{}/obtener-ruc/{ruc}/representantes", scraper.base))
        .header("traceparent", traceparent())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    let steps = ["lookup", "queue", "attempt", "form", "search", "page", "parse"];
    let spans = receiver
        .wait_for("the browser's steps", |spans| {
            let seen = names(spans, "ruc-scraper", TRACE_ID);
            steps.iter().all(|step| seen.contains(*step))
        })
        .await;
    let lookup = one(&spans, "ruc-scraper", "lookup");
    assert_eq!(lookup.parent_span_id, CALLER_SPAN);
    assert_eq!(lookup.attribute("page"), Some("representantes"));
    scraper.stop().await;
}
