//! A stand-in for the scraper in the proxy's tests: a minimal HTTP/1.1
//! server written on raw TCP (so that it can also misbehave: answer slowly,
//! cut a body short), which counts the requests it gets.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// What the stub answers to `GET /obtener-ruc/<ruc>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// 200 and a complete record of the requested RUC.
    Record,
    /// This status and body, as JSON.
    Status(u16, String),
    /// 503 with `Retry-After: 5`, as the scraper says when its queue is full.
    Busy,
    /// 200 announcing the full record's length, then half of it and a close.
    CutShort,
    /// 200 and a complete record of another RUC.
    OtherRuc,
    /// 200 and a complete record of the requested RUC, its `razonSocial`
    /// padded so that the body is this many bytes at least.
    Large(usize),
    /// Closes the connection without answering.
    Reset,
}

pub struct StubScraper {
    port: u16,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

struct State {
    reply: Mutex<Reply>,
    /// Replies for some RUCs instead of `reply`.
    replies: Mutex<BTreeMap<String, Reply>>,
    /// The status of `/health` (and any other path).
    health: AtomicU64,
    delay: Mutex<Duration>,
    lookups: AtomicU64,
    /// Lookups received, by RUC.
    asked: Mutex<BTreeMap<String, u64>>,
    /// The RUCs asked, in the order they arrived.
    order: Mutex<Vec<String>>,
    /// Lookups being answered now, and the most at any time.
    active: AtomicU64,
    most_active: AtomicU64,
}

impl StubScraper {
    pub async fn start() -> StubScraper {
        StubScraper::start_on(0).await
    }

    /// A stub on `port` (0: any free one), e.g. one that was stopped before.
    pub async fn start_on(port: u16) -> StubScraper {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(State {
            reply: Mutex::new(Reply::Record),
            replies: Mutex::default(),
            health: AtomicU64::new(200),
            delay: Mutex::new(Duration::ZERO),
            lookups: AtomicU64::new(0),
            asked: Mutex::default(),
            order: Mutex::default(),
            active: AtomicU64::new(0),
            most_active: AtomicU64::new(0),
        });
        let task = tokio::spawn(accept(listener, state.clone()));
        StubScraper { port, state, task }
    }

    /// The value for `SCRAPER_URL`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `127.0.0.1:<port>`, as the proxy names its scrapers.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The status `/health` answers with from now on.
    pub fn health(&self, status: u16) {
        self.state.health.store(u64::from(status), Ordering::SeqCst);
    }

    pub fn reply(&self, reply: Reply) {
        *self.state.reply.lock().unwrap() = reply;
    }

    /// What it answers for `ruc` from now on, whatever `reply` says.
    pub fn reply_for(&self, ruc: &str, reply: Reply) {
        self.state.replies.lock().unwrap().insert(ruc.to_string(), reply);
    }

    /// How long each lookup takes before it is answered.
    pub fn delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// `/obtener-ruc/…` requests received so far.
    pub fn lookups(&self) -> u64 {
        self.state.lookups.load(Ordering::SeqCst)
    }

    /// How many lookups of each RUC it received.
    pub fn asked(&self) -> BTreeMap<String, u64> {
        self.state.asked.lock().unwrap().clone()
    }

    /// The RUCs asked so far, in the order they arrived.
    pub fn order(&self) -> Vec<String> {
        self.state.order.lock().unwrap().clone()
    }

    /// Lookups it is answering now.
    pub fn active(&self) -> u64 {
        self.state.active.load(Ordering::SeqCst)
    }

    /// The most lookups it was answering at the same time.
    pub fn most_concurrent(&self) -> u64 {
        self.state.most_active.load(Ordering::SeqCst)
    }
}

impl Drop for StubScraper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The record the stub gives for `ruc`: a real one (from the captured
/// pages' expectations) with the RUC replaced.
pub fn record(ruc: &str) -> Value {
    let mut record = super::expected_record("20440374248");
    record["ruc"] = ruc.into();
    record["consultadoEn"] = "2026-11-26T13:00:00Z".into();
    record
}

/// The page behind `ruc`'s record the stub gives for `kind`
/// (`/obtener-ruc/<ruc>/<kind>`): its list empty.
pub fn page(ruc: &str, kind: &str) -> Value {
    let list = match kind {
        "trabajadores" => "periodos",
        "deuda-coactiva" => "deudas",
        other => other,
    };
    serde_json::json!({"ruc": ruc, list: [], "consultadoEn": "2026-11-26T13:00:00Z"})
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((stream, _)) = listener.accept().await {
        connections.spawn(serve(stream, state.clone()));
    }
}

/// Serves requests on one keep-alive connection until it closes.
async fn serve(mut stream: TcpStream, state: Arc<State>) {
    let mut buffer = Vec::new();
    loop {
        let Some(path) = read_request(&mut stream, &mut buffer).await else {
            return;
        };
        let Some(ruc) = path.strip_prefix("/obtener-ruc/") else {
            let status = state.health.load(Ordering::SeqCst) as u16;
            let body = if status == 200 {
                r#"{"status":"healthy"}"#
            } else {
                r#"{"status":"unhealthy"}"#
            };
            if write(&mut stream, status, body, body.len()).await.is_err() {
                return;
            }
            continue;
        };
        state.lookups.fetch_add(1, Ordering::SeqCst);
        *state.asked.lock().unwrap().entry(ruc.to_string()).or_default() += 1;
        state.order.lock().unwrap().push(ruc.to_string());
        let active = state.active.fetch_add(1, Ordering::SeqCst) + 1;
        state.most_active.fetch_max(active, Ordering::SeqCst);
        let delay = *state.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        state.active.fetch_sub(1, Ordering::SeqCst);
        let reply = match state.replies.lock().unwrap().get(ruc) {
            Some(reply) => reply.clone(),
            None => state.reply.lock().unwrap().clone(),
        };
        let written = match reply {
            Reply::Record => {
                let body = match ruc.split_once('/') {
                    None => record(ruc).to_string(),
                    Some((ruc, kind)) => page(ruc, kind).to_string(),
                };
                write(&mut stream, 200, &body, body.len()).await
            }
            Reply::Status(status, body) => write(&mut stream, status, &body, body.len()).await,
            Reply::Busy => {
                let body = busy_body(ruc);
                write_with(&mut stream, 503, "Retry-After: 5\r\n", &body, body.len()).await
            }
            Reply::OtherRuc => {
                let body = record("20100070970").to_string();
                write(&mut stream, 200, &body, body.len()).await
            }
            Reply::Large(bytes) => {
                let mut record = record(ruc);
                record["razonSocial"] = "X".repeat(bytes).into();
                let body = record.to_string();
                write(&mut stream, 200, &body, body.len()).await
            }
            Reply::Reset => return,
            Reply::CutShort => {
                let body = record(ruc).to_string();
                let _ = write(&mut stream, 200, &body[..body.len() / 2], body.len()).await;
                return;
            }
        };
        if written.is_err() {
            return;
        }
    }
}

/// Reads one request head; returns its path.
async fn read_request(stream: &mut TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).into_owned();
            buffer.drain(..end + 4);
            return head.split(' ').nth(1).map(str::to_string);
        }
        let mut chunk = [0; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// The scraper's body for a full queue.
pub fn busy_body(ruc: &str) -> String {
    serde_json::json!({"message": "Error al consultar RUC", "detail": "ocupado", "ruc": ruc}).to_string()
}

async fn write(stream: &mut TcpStream, status: u16, body: &str, announced: usize) -> std::io::Result<()> {
    write_with(stream, status, "", body, announced).await
}

async fn write_with(
    stream: &mut TcpStream,
    status: u16,
    extra_headers: &str,
    body: &str,
    announced: usize,
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra_headers}Content-Length: {announced}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.flush().await
}
