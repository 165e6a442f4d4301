//! A stand-in for the scraper in benchmarks: answers every
//! `GET /obtener-ruc/<ruc>` with a complete ~2 KB record of that RUC after a
//! configurable delay, and counts those requests, so that a benchmark can
//! tell how many lookups reached "SUNAT".
//!
//! - `STUB_LISTEN` (default `127.0.0.1:8001`): where it listens;
//! - `GET /health`: 200, as a healthy scraper (the proxy checks it);
//! - `GET /__stub/lookups`: the lookups counted so far;
//! - `PUT /__stub/delay?ms=N`: the delay before each answer (default 0).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use startup::Env;
use tokio::net::TcpListener;
use tracing::{debug, error, info};

/// The record served, with `00000000000` standing for the requested RUC.
const RECORD: &str = include_str!("../../record.json");
const PLACEHOLDER: &str = "00000000000";

/// The stub's counters and its settable answer delay.
#[derive(Default)]
struct Stub {
    lookups: AtomicU64,
    delay_ms: AtomicU64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let var = |name: &str| std::env::var(name).ok();
    let Ok(addr) = startup::begin("ruc-stub-scraper", || {
        Env::new(&var).parse::<SocketAddr>("STUB_LISTEN", "127.0.0.1:8001", "an address such as 127.0.0.1:8001")
    }) else {
        return ExitCode::from(2);
    };
    let listener = match TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(e) => {
            error!("cannot listen on {addr} (STUB_LISTEN): {e}");
            return ExitCode::FAILURE;
        }
    };
    info!(addr = %listener.local_addr().unwrap_or(addr), "stub scraper listening");
    let stub = Arc::new(Stub::default());
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let stub = stub.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(stub.clone(), request));
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                debug!("connection ended: {e}");
            }
        });
    }
}

async fn answer(stub: Arc<Stub>, request: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path();
    let reply = match (request.method(), path.strip_prefix("/obtener-ruc/")) {
        (&Method::GET, Some(ruc)) if ruc.len() == PLACEHOLDER.len() => {
            stub.lookups.fetch_add(1, Ordering::SeqCst);
            let body = RECORD.trim_end().replace(PLACEHOLDER, ruc);
            tokio::time::sleep(Duration::from_millis(stub.delay_ms.load(Ordering::SeqCst))).await;
            (StatusCode::OK, body)
        }
        (&Method::GET, _) if path == "/health" => (StatusCode::OK, r#"{"status":"healthy"}"#.to_string()),
        (&Method::GET, _) if path == "/__stub/lookups" => {
            (StatusCode::OK, stub.lookups.load(Ordering::SeqCst).to_string())
        }
        (&Method::PUT, _) if path == "/__stub/delay" => match delay_from(request.uri().query()) {
            Some(ms) => {
                stub.delay_ms.store(ms, Ordering::SeqCst);
                (StatusCode::OK, ms.to_string())
            }
            None => (StatusCode::BAD_REQUEST, "expected ?ms=<milliseconds>".to_string()),
        },
        _ => (StatusCode::NOT_FOUND, "not found".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(reply.1)));
    *response.status_mut() = reply.0;
    response.headers_mut().insert(
        "content-type",
        hyper::header::HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

fn delay_from(query: Option<&str>) -> Option<u64> {
    query?.strip_prefix("ms=")?.parse().ok()
}
