//! Batch requests (`POST /obtener-ruc`) through the real proxy, Redis and a
//! stub scraper: one item per distinct RUC with what its own `GET` gives,
//! the whole request's errors, lines streamed as they finish, a scraper
//! failing halfway, a client hanging up, the deadline, and fairness:
//! single lookups ahead of batch items fleet-wide, batches in turns.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::lookups::{distinct_rucs, key, RUC};
use crate::support::proxy::{Answer, Proxy};
use crate::support::redis::RedisServer;
use crate::support::stub::{record, Reply, StubScraper};
use crate::support::{sum_samples, wait_until};

const JSON: (&str, &str) = ("Content-Type", "application/json");

fn items(answer: &Answer) -> Vec<Value> {
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.header("content-type"), "application/json");
    answer.json().as_array().expect("an array").clone()
}

fn body(rucs: &[String]) -> String {
    json!({ "rucs": rucs }).to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn each_distinct_ruc_is_one_item_in_request_order_with_what_its_get_gives() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    assert_eq!(proxy.lookup(RUC).await.status, 200, "cached before the batch");
    let new = distinct_rucs(2);
    let asked: Vec<String> = [RUC, &new[0], "123", &new[0], &new[1], "20131312956", RUC]
        .iter()
        .map(|ruc| ruc.to_string())
        .collect();

    let answer = proxy.batch(&asked).await;
    let items = items(&answer);
    let rucs: Vec<&str> = items.iter().map(|item| item["ruc"].as_str().unwrap()).collect();
    assert_eq!(
        rucs,
        [RUC, &new[0], "123", &new[1], "20131312956"],
        "distinct, first asked first"
    );
    assert_eq!(
        (items[0]["status"].clone(), items[0]["cache"].clone()),
        (json!(200), json!("HIT"))
    );
    assert_eq!(items[0]["record"], record(RUC));
    for (item, ruc) in [(&items[1], &new[0]), (&items[3], &new[1])] {
        assert_eq!(
            (item["status"].clone(), item["cache"].clone()),
            (json!(200), json!("MISS"))
        );
        assert_eq!(item["record"], record(ruc));
        let get = proxy.lookup(ruc).await;
        assert_eq!(
            (get.header("x-cache"), get.json()),
            ("HIT", item["record"].clone()),
            "stored"
        );
    }
    for (item, text) in [(&items[2], "123"), (&items[4], "20131312956")] {
        let get = proxy.lookup(text).await;
        assert_eq!(item["status"], json!(get.status), "{text}");
        assert_eq!(item["cache"], json!(get.header("x-cache")));
        assert_eq!(item["error"], get.json(), "the error body of its GET");
        assert!(item.get("record").is_none());
    }
    assert_eq!(
        stub.lookups(),
        3,
        "the cached RUC once before, each new one once, no invalid one"
    );

    let metrics = proxy.metrics_page().await;
    assert_eq!(
        sum_samples(&metrics, "ruc_proxy_batch_requests_total", &["outcome=\"complete\""]),
        1.0
    );
    assert_eq!(
        sum_samples(&metrics, "ruc_proxy_batch_items_total", &["outcome=\"record\""]),
        3.0
    );
    assert_eq!(
        sum_samples(&metrics, "ruc_proxy_batch_items_total", &["outcome=\"invalid\""]),
        2.0
    );
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_whole_request_that_cannot_be_taken_gets_a_route_error_and_nothing_is_looked_up() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("BATCH_MAX_RUCS", "3")]).await;
    let four = body(&distinct_rucs(4));
    let huge = body(&vec!["20131312955".to_string(); 6000]);
    for (headers, request_body, status) in [
        (vec![("Content-Type", "text/plain")], body(&[RUC.to_string()]), 415),
        (vec![], body(&[RUC.to_string()]), 415),
        (vec![JSON], "not json".to_string(), 400),
        (vec![JSON], r#"{"ruc": ["20131312955"]}"#.to_string(), 400),
        (vec![JSON], r#"{"rucs": [20131312955]}"#.to_string(), 400),
        (vec![JSON], String::new(), 400),
        (vec![JSON], four, 413),
        (vec![JSON], huge, 413),
        (vec![JSON, ("Accept", "text/html")], body(&[RUC.to_string()]), 406),
    ] {
        let answer = proxy.post("/obtener-ruc", &headers, request_body.clone()).await;
        assert_eq!(
            answer.status,
            status,
            "{headers:?} {}",
            &request_body[..request_body.len().min(60)]
        );
        let error = answer.json();
        assert!(error["message"].is_string() && error["detail"].is_string(), "{error}");
        assert_eq!(error.as_object().unwrap().len(), 2, "the route-error body: {error}");
    }
    let get = proxy.get("/obtener-ruc").await;
    assert_eq!((get.status, get.header("allow")), (405, "POST"));
    let post = proxy.post(&format!("/obtener-ruc/{RUC}"), &[], "").await;
    assert_eq!((post.status, post.header("allow")), (405, "GET, HEAD"));
    assert_eq!(stub.lookups(), 0);
    assert!(redis.cache_keys().is_empty());
    let metrics = proxy.metrics_page().await;
    assert_eq!(
        sum_samples(&metrics, "ruc_proxy_batch_requests_total", &["outcome=\"refused\""]),
        9.0
    );
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chunked_body_is_read_and_the_connection_carries_the_next_request() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    let json = body(&[RUC.to_string()]);
    let (first, rest) = json.split_at(10);
    let request = format!(
        "POST /obtener-ruc HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n\
         {:x}\r\n{first}\r\n{:x};ext=1\r\n{rest}\r\n0\r\n\r\nGET /livez HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n",
        first.len(),
        rest.len()
    );
    let mut stream = TcpStream::connect(proxy.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).await.unwrap();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\n"), "{text}");
    assert!(
        text.contains(&format!(r#"[{{"ruc":"{RUC}","status":200,"cache":"MISS","record":"#)),
        "{text}"
    );
    assert!(
        text.contains(r#"{"status":"alive"}"#),
        "the pipelined request answered too: {text}"
    );
    assert!(proxy.stop().await.success());
}

/// Reads an NDJSON answer's lines from a raw connection as they come.
struct Lines {
    stream: TcpStream,
    /// What was read and not taken yet.
    buffer: Vec<u8>,
    head_read: bool,
}

impl Lines {
    async fn post(proxy: &Proxy, rucs: &[String]) -> Lines {
        let json = body(rucs);
        let request = format!(
            "POST /obtener-ruc HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\n\
             Accept: application/x-ndjson\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        );
        let mut stream = TcpStream::connect(proxy.base.trim_start_matches("http://"))
            .await
            .unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        Lines {
            stream,
            buffer: Vec::new(),
            head_read: false,
        }
    }

    /// The next line of the body (one per chunk), `None` at its end.
    async fn next(&mut self) -> Option<Value> {
        loop {
            let find = |what: &[u8]| self.buffer.windows(what.len()).position(|w| w == what);
            if !self.head_read {
                if let Some(end) = find(b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&self.buffer[..end]).into_owned();
                    assert!(head.starts_with("HTTP/1.1 200 OK"), "{head}");
                    assert!(head.contains("Content-Type: application/x-ndjson"), "{head}");
                    assert!(head.contains("Transfer-Encoding: chunked"), "{head}");
                    self.buffer.drain(..end + 4);
                    self.head_read = true;
                    continue;
                }
            } else if let Some(line_end) = find(b"\r\n") {
                let size = std::str::from_utf8(&self.buffer[..line_end]).unwrap();
                let size = usize::from_str_radix(size, 16).unwrap();
                if size == 0 {
                    return None;
                }
                let data = line_end + 2;
                if self.buffer.len() >= data + size + 2 {
                    let line = serde_json::from_slice(&self.buffer[data..data + size]).unwrap();
                    assert_eq!(self.buffer[data + size - 1], b'\n', "one line per chunk");
                    self.buffer.drain(..data + size + 2);
                    return Some(line);
                }
            }
            let mut chunk = [0; 4096];
            let read = tokio::time::timeout(Duration::from_secs(60), self.stream.read(&mut chunk))
                .await
                .expect("a line within a minute")
                .unwrap();
            assert!(read > 0, "the connection closed before the end of the answer");
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn lines_stream_hits_at_once_and_each_miss_as_it_finishes() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[]).await;
    assert_eq!(proxy.lookup(RUC).await.status, 200);
    stub.delay(Duration::from_secs(3));
    let new = distinct_rucs(1).remove(0);

    let mut lines = Lines::post(&proxy, &[new.clone(), RUC.to_string()]).await;
    let first = lines.next().await.expect("a first line");
    assert_eq!(
        (first["ruc"].as_str(), first["cache"].as_str()),
        (Some(RUC), Some("HIT"))
    );
    assert!(
        redis.get(&key(&new)).is_none(),
        "the hit came while the miss was still being looked up"
    );
    let second = lines.next().await.expect("a second line");
    assert_eq!(
        (second["ruc"].as_str(), second["status"].as_u64()),
        (Some(new.as_str()), Some(200))
    );
    assert_eq!(second["record"], record(&new));
    assert!(redis.get(&key(&new)).is_some(), "stored by the time its line came");
    assert!(lines.next().await.is_none(), "the end of the answer");
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_scraper_failing_halfway_gives_error_items_and_only_records_are_stored() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("UPSTREAM_GLOBAL_MAX_INFLIGHT", "1")]).await;
    let rucs = distinct_rucs(6);
    // SUNAT starts failing after the third lookup (the batch asks in order).
    let error = json!({"message": "Error al consultar RUC", "detail": "SUNAT falló", "ruc": "x"});
    for ruc in &rucs[3..] {
        stub.reply_for(ruc, Reply::Status(502, error.to_string()));
    }

    let items = items(&proxy.batch(&rucs).await);
    let statuses: Vec<u64> = items.iter().map(|item| item["status"].as_u64().unwrap()).collect();
    assert_eq!(statuses, [200, 200, 200, 502, 502, 502]);
    for (item, ruc) in items.iter().zip(&rucs) {
        assert_eq!(item["ruc"], json!(ruc), "request order");
        match item["status"].as_u64() {
            Some(200) => assert!(redis.get(&key(ruc)).is_some(), "{ruc} stored"),
            _ => {
                assert_eq!(item["error"]["detail"], "SUNAT falló", "the scraper's error body");
                assert!(redis.get(&key(ruc)).is_none(), "{ruc}: a failure is never stored");
            }
        }
    }
    assert!(stub.asked().values().all(|&asked| asked == 1), "{:?}", stub.asked());
    assert_eq!(stub.lookups(), 6);
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_hanging_up_cancels_what_only_waited_but_not_the_lookup_sent() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let proxy = Proxy::start(&redis.url(), &stub.url(), &[("UPSTREAM_GLOBAL_MAX_INFLIGHT", "1")]).await;
    stub.delay(Duration::from_secs(2));
    let rucs = distinct_rucs(10);
    let json = body(&rucs);
    let request = format!(
        "POST /obtener-ruc HTTP/1.1\r\nHost: p\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
        json.len()
    );
    let mut stream = TcpStream::connect(proxy.base.trim_start_matches("http://"))
        .await
        .unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    wait_until("the first lookup sent", || stub.lookups() == 1).await;
    drop(stream);

    // The items ask for leave together: any one of them may be the one sent.
    let sent = stub.order();
    assert!(sent.len() == 1 && rucs.contains(&sent[0]), "{sent:?}");
    let first = key(&sent[0]);
    wait_until("the lookup sent stored", || redis.get(&first).is_some()).await;
    // Had the batch gone on, its next item would be sent now.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(stub.order(), sent, "nothing that only waited was sent");
    assert_eq!(redis.cache_keys(), [first]);
    let metrics = proxy.metrics_page().await;
    assert_eq!(
        sum_samples(&metrics, "ruc_proxy_batch_requests_total", &["outcome=\"cancelled\""]),
        1.0
    );
    assert!(proxy.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn at_the_deadline_what_is_missing_is_a_504_item_and_its_lookup_carries_on_and_is_stored() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    let env = [("UPSTREAM_GLOBAL_MAX_INFLIGHT", "1"), ("BATCH_TIMEOUT_SECS", "1")];
    let proxy = Proxy::start(&redis.url(), &stub.url(), &env).await;
    stub.delay(Duration::from_millis(1500));
    let rucs = [distinct_rucs(3), vec![RUC.to_string()]].concat();

    let first = items(&proxy.batch(&rucs).await);
    assert_eq!(first.len(), 4);
    for (item, ruc) in first.iter().zip(&rucs) {
        assert_eq!(item["ruc"], json!(ruc));
        assert_eq!(
            (item["status"].clone(), item["cache"].clone()),
            (json!(504), json!("MISS"))
        );
        assert_eq!(item["error"]["ruc"], json!(ruc));
        assert!(item["error"]["detail"]
            .as_str()
            .unwrap()
            .contains("no terminó a tiempo"));
    }
    assert!(
        stub.lookups() <= 1,
        "answered at the deadline, while the first lookup ran"
    );
    for ruc in &rucs {
        wait_until("every lookup carried on and stored", || redis.get(&key(ruc)).is_some()).await;
    }
    assert_eq!(stub.lookups(), 4, "each once: {:?}", stub.order());
    let again = items(&proxy.batch(&rucs).await);
    assert!(
        again.iter().all(|item| item["cache"] == "HIT"),
        "the next time: {again:?}"
    );
    let metrics = proxy.metrics_page().await;
    assert_eq!(
        sum_samples(&metrics, "ruc_proxy_batch_items_total", &["outcome=\"timed_out\""]),
        4.0
    );
    assert_eq!(
        sum_samples(&metrics, "ruc_proxy_batch_requests_total", &["outcome=\"timed_out\""]),
        1.0
    );
    assert!(proxy.stop().await.success());
}

/// Where `ruc` came in the scraper's order of lookups.
fn position(stub: &StubScraper, ruc: &str) -> usize {
    stub.order().iter().position(|asked| asked == ruc).expect("looked up")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_single_lookup_on_another_replica_goes_before_the_next_batch_item() {
    let (redis, stub) = (RedisServer::start(), Arc::new(StubScraper::start().await));
    // One slot for the fleet: the batch items can take all of it.
    let env = [("UPSTREAM_GLOBAL_MAX_INFLIGHT", "1")];
    let (a, b) = (
        Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await),
        Proxy::start(&redis.url(), &stub.url(), &env).await,
    );
    stub.delay(Duration::from_secs(2));
    let rucs = distinct_rucs(6);
    let batch = tokio::spawn({
        let (a, rucs) = (a.clone(), rucs.clone());
        async move { a.batch(&rucs).await }
    });
    wait_until("the first batch item sent", || stub.lookups() == 1).await;

    let single = support::valid_ruc(99_000_001);
    assert_eq!(b.lookup(&single).await.status, 200);
    assert_eq!(
        position(&stub, &single),
        1,
        "right after the item in flight: {:?}",
        stub.order()
    );
    assert!(items(&batch.await.unwrap()).iter().all(|item| item["status"] == 200));
    assert_eq!(stub.most_concurrent(), 1, "the fleet's limit held");
    assert!(stub.asked().values().all(|&asked| asked == 1));
    assert!(Arc::into_inner(a).unwrap().stop().await.success());
    assert!(b.stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_items_leave_a_slot_to_single_lookups_fleet_wide() {
    let (redis, stub) = (RedisServer::start(), Arc::new(StubScraper::start().await));
    // Two slots for the fleet, of which batch items take one.
    let env = [("UPSTREAM_GLOBAL_MAX_INFLIGHT", "2")];
    let (a, b) = (
        Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await),
        Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await),
    );
    stub.delay(Duration::from_millis(500));
    let rucs = distinct_rucs(16);
    let batches: Vec<_> = [(a.clone(), &rucs[..8]), (b.clone(), &rucs[8..])]
        .into_iter()
        .map(|(proxy, rucs)| {
            let rucs = rucs.to_vec();
            tokio::spawn(async move { proxy.batch(&rucs).await })
        })
        .collect();
    wait_until("two batch items sent", || stub.lookups() >= 2).await;
    assert_eq!(stub.most_concurrent(), 1, "two batches on two replicas hold one slot");

    let single = support::valid_ruc(99_000_002);
    let sent_before = stub.lookups() as usize;
    assert_eq!(b.lookup(&single).await.status, 200);
    assert!(
        position(&stub, &single) <= sent_before,
        "the single took the free slot at once: {:?}",
        stub.order()
    );
    for batch in batches {
        assert!(items(&batch.await.unwrap()).iter().all(|item| item["status"] == 200));
    }
    assert_eq!(stub.most_concurrent(), 2, "never more than the fleet's limit");
    assert_eq!(stub.lookups(), 17, "each RUC once");
    for proxy in [a, b] {
        assert!(Arc::into_inner(proxy).unwrap().stop().await.success());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn two_batches_take_turns() {
    let (redis, stub) = (RedisServer::start(), Arc::new(StubScraper::start().await));
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &[("UPSTREAM_GLOBAL_MAX_INFLIGHT", "1")]).await);
    stub.delay(Duration::from_millis(300));
    let rucs = distinct_rucs(15);
    let (long, short) = (rucs[..12].to_vec(), rucs[12..].to_vec());
    let long_batch = tokio::spawn({
        let proxy = proxy.clone();
        async move { proxy.batch(&long).await }
    });
    wait_until("the long batch under way", || stub.lookups() == 1).await;
    assert!(items(&proxy.batch(&short).await)
        .iter()
        .all(|item| item["status"] == 200));
    let last_short = short.iter().map(|ruc| position(&stub, ruc)).max().unwrap();
    assert!(
        last_short <= 7,
        "the short batch took every other turn, not the end of the line: {:?}",
        stub.order()
    );
    assert!(items(&long_batch.await.unwrap())
        .iter()
        .all(|item| item["status"] == 200));
    assert!(Arc::into_inner(proxy).unwrap().stop().await.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_proxy_told_to_stop_answers_what_is_missing_and_stores_the_lookup_sent_before_it_exits() {
    let (redis, stub) = (RedisServer::start(), StubScraper::start().await);
    // A loaded machine must not make the store miss its Redis deadline.
    let env = [("UPSTREAM_GLOBAL_MAX_INFLIGHT", "1"), ("REDIS_TIMEOUT_MS", "2000")];
    let proxy = Arc::new(Proxy::start(&redis.url(), &stub.url(), &env).await);
    stub.delay(Duration::from_secs(3));
    let rucs = distinct_rucs(4);
    let batch = tokio::spawn({
        let (proxy, rucs) = (proxy.clone(), rucs.clone());
        async move { proxy.batch(&rucs).await }
    });
    wait_until("the first lookup sent", || stub.lookups() == 1).await;

    proxy.terminate();
    let answer = batch.await.unwrap();
    assert_eq!(answer.header("connection"), "close");
    let statuses: Vec<u64> = items(&answer)
        .iter()
        .map(|item| item["status"].as_u64().unwrap())
        .collect();
    assert_eq!(statuses, [504; 4], "answered at the stop, not after the lookups");
    // The items ask for leave together: any one of them may be the one sent.
    let sent = stub.order();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(rucs.contains(&sent[0]), "{sent:?}");
    assert!(
        redis.get(&key(&sent[0])).is_none(),
        "answered before the lookup sent ended"
    );
    let exit = Arc::into_inner(proxy).unwrap().stop_after_signal().await;
    assert!(exit.success());
    assert!(
        redis.get(&key(&sent[0])).is_some(),
        "the lookup sent was stored before the exit"
    );
    assert_eq!(stub.order(), sent, "nothing that only waited was sent");
}
