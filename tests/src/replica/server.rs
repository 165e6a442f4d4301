//! The replica's HTTP server. Besides SUNAT's routes it has an admin API
//! under `/__replica/` so that a replica running as a separate process (the
//! demo, the benchmarks) can be switched and inspected too:
//!
//! - `GET`/`PUT /__replica/behaviour`: the [`Behaviour`] as JSON;
//! - `GET /__replica/requests`: searches per RUC, form loads, searches
//!   refused by the browser check and posts on an expired session;
//! - `POST /__replica/expire-sessions`: forgets every session cookie issued.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full};
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_TYPE, LOCATION, SET_COOKIE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use nix::sys::socket::{setsockopt, sockopt::Linger};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::debug;

use super::checks::{self, BrowserCheck, SESSION_COOKIE};
use super::{dataset, pages, secondary};

const FORM_PATH: &str = "/cl-ti-itmrconsruc/FrameCriterioBusquedaWeb.jsp";
const SERVLET_PATH: &str = "/cl-ti-itmrconsruc/jcrS00Alias";

/// How the replica misbehaves; everything off by default. Failure modes
/// apply to searches (`accion=consPorRuc`), whether a browser or a direct
/// client sends them, except the firewall, which rejects every request to
/// the application, as SUNAT's F5 does.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Behaviour {
    /// Answer the next N searches with SUNAT's error page.
    pub error_pages: u32,
    /// Answer the next N posts of a result page's buttons with SUNAT's
    /// error page.
    pub page_error_pages: u32,
    /// Answer every request with the firewall's "Request Rejected" page.
    pub firewall: bool,
    /// Never answer searches; the connection stays open.
    pub hang: bool,
    /// Reset the connection of every search (TCP RST, no answer).
    pub reset: bool,
    /// Wait this long before answering a search, or a page behind a result.
    pub delay_ms: u64,
    /// Insert the result rows with JavaScript this long after page load.
    pub late_insert_ms: Option<u64>,
    /// How result pages are encoded.
    pub charset: Charset,
    /// Refuse posts to the servlet without the cookie the form page's
    /// script sets (only browsers pass), in this way.
    pub browser_check: Option<BrowserCheck>,
    /// Send half of each search's answer, then close the connection
    /// (`Content-Length` announces the whole page).
    pub truncate: bool,
    /// Answer a post whose headers disagree with its `User-Agent` (a
    /// Chrome one without Chrome's client hints and fetch metadata) with
    /// the firewall's page.
    pub header_check: bool,
    /// Compress the site's answers this way for a client that accepts it.
    pub content_encoding: Option<ContentEncoding>,
    /// RUCs whose result page has a changed layout (the state and
    /// condition rows under other labels), as when SUNAT changes its site.
    pub changed_layout: Vec<String>,
}

/// The compressions Chrome accepts over plain HTTP (the replica's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContentEncoding {
    Gzip,
    /// zlib-wrapped, as RFC 9110 defines it.
    Deflate,
}

impl ContentEncoding {
    fn name(self) -> &'static str {
        match self {
            ContentEncoding::Gzip => "gzip",
            ContentEncoding::Deflate => "deflate",
        }
    }

    fn encode(self, bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let level = flate2::Compression::default();
        let written = match self {
            ContentEncoding::Gzip => {
                let mut encoder = flate2::write::GzEncoder::new(Vec::new(), level);
                encoder.write_all(bytes).and_then(|_| encoder.finish())
            }
            ContentEncoding::Deflate => {
                let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), level);
                encoder.write_all(bytes).and_then(|_| encoder.finish())
            }
        };
        written.expect("compressing in memory")
    }
}

/// The encodings SUNAT's pages have been seen with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Charset {
    #[default]
    Utf8,
    /// Declared and sent as ISO-8859-1.
    Latin1,
    /// Declared ISO-8859-1, sent as UTF-8 (seen on SUNAT's `getinfHis`).
    Latin1DeclaredUtf8Sent,
}

/// What the replica remembers: its behaviour and what it was asked.
#[derive(Default)]
struct State {
    behaviour: Mutex<Behaviour>,
    searches: Mutex<HashMap<String, u64>>,
    /// Posts to the pages behind the result page's buttons, by RUC and
    /// `accion`.
    secondary_visits: Mutex<HashMap<(String, String), u64>>,
    form_loads: AtomicU64,
    support_ids: AtomicU64,
    /// Session cookies issued and not expired.
    sessions: Mutex<HashSet<String>>,
    expired_session_posts: AtomicU64,
    check_rejections: AtomicU64,
}

impl State {
    fn expire_sessions(&self) {
        self.sessions.lock().expect("replica lock").clear();
    }
}

/// A running replica. Dropping it stops the server.
pub struct Replica {
    addr: SocketAddr,
    state: Arc<State>,
    stop: watch::Sender<bool>,
}

/// A handler's answer, or a way to break the connection.
type Reply = Result<Response<Full<Bytes>>, Interrupt>;

/// How a handler breaks the connection instead of answering.
enum Interrupt {
    /// A TCP reset, no answer.
    Reset,
    /// The head and half of this body, then the connection closes.
    Truncate(Response<Bytes>),
}

/// What the connection's service answers with.
type AnyBody = Either<Full<Bytes>, Truncated>;

/// The service's error: the connection ends with a TCP reset.
#[derive(Debug)]
struct ResetConnection;

impl std::fmt::Display for ResetConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection reset on purpose")
    }
}

impl std::error::Error for ResetConnection {}

impl Replica {
    /// Starts the replica on `addr` (use port 0 for a free port).
    pub async fn start(addr: SocketAddr) -> std::io::Result<Replica> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State::default());
        let (stop, stopped) = watch::channel(false);
        tokio::spawn(accept_loop(listener, state.clone(), stopped));
        Ok(Replica { addr, state, stop })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The value for `SUNAT_URL`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().expect("replica lock") = behaviour;
    }

    /// How many searches for `ruc` reached the replica.
    pub fn searches_for(&self, ruc: &str) -> u64 {
        self.state
            .searches
            .lock()
            .expect("replica lock")
            .get(ruc)
            .copied()
            .unwrap_or(0)
    }

    /// How many searches reached the replica in all.
    /// Posts for `ruc`'s page of `action` (`getRepLeg`, …) so far.
    pub fn secondary_visits(&self, ruc: &str, action: &str) -> u64 {
        let visits = self.state.secondary_visits.lock().expect("replica lock");
        visits.get(&(ruc.to_string(), action.to_string())).copied().unwrap_or(0)
    }

    pub fn searches(&self) -> u64 {
        self.state.searches.lock().expect("replica lock").values().sum()
    }

    pub fn form_loads(&self) -> u64 {
        self.state.form_loads.load(Ordering::SeqCst)
    }

    /// Forgets every session cookie issued: posts carrying one are sent
    /// back to the form, as SUNAT does with a session it dropped.
    pub fn expire_sessions(&self) {
        self.state.expire_sessions();
    }

    /// Posts that came with an expired session cookie.
    pub fn expired_session_posts(&self) -> u64 {
        self.state.expired_session_posts.load(Ordering::SeqCst)
    }

    /// Searches refused by the browser check.
    pub fn check_rejections(&self) -> u64 {
        self.state.check_rejections.load(Ordering::SeqCst)
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn accept_loop(listener: TcpListener, state: Arc<State>, mut stopped: watch::Receiver<bool>) {
    loop {
        let stream = tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(_) => continue,
            },
        };
        let fd = stream.as_raw_fd();
        let state = state.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| answer(state.clone(), fd, request));
            let connection = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::select! {
                result = connection => if let Err(e) = result { debug!(error = %e, "replica connection ended") },
                _ = stopped.changed() => {}
            }
        });
    }
}

/// The handler's reply on the wire: an answer, a truncated one, or a reset.
async fn answer(
    state: Arc<State>,
    fd: RawFd,
    request: Request<Incoming>,
) -> Result<Response<AnyBody>, ResetConnection> {
    match handle(state, request).await {
        Ok(response) => Ok(response.map(Either::Left)),
        Err(Interrupt::Truncate(response)) => Ok(response.map(|page| Either::Right(Truncated::new(page)))),
        Err(Interrupt::Reset) => {
            reset(fd);
            Err(ResetConnection)
        }
    }
}

async fn handle(state: Arc<State>, request: Request<Incoming>) -> Reply {
    let path = request.uri().path().to_string();
    let method = request.method().clone();
    if path.starts_with("/__replica/") {
        return Ok(admin(&state, &method, &path, request).await);
    }
    let behaviour = state.behaviour.lock().expect("replica lock").clone();
    let accepted = request
        .headers()
        .get(ACCEPT_ENCODING)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let coding = behaviour.content_encoding;
    let reply = site(state, behaviour, &path, method, request).await?;
    Ok(match coding {
        Some(coding) if accepted.split(',').any(|listed| listed.trim() == coding.name()) => {
            compressed(reply, coding).await
        }
        _ => reply,
    })
}

/// The site's own pages.
async fn site(
    state: Arc<State>,
    behaviour: Behaviour,
    path: &str,
    method: Method,
    request: Request<Incoming>,
) -> Reply {
    if behaviour.firewall && path.starts_with("/cl-ti-itmrconsruc/") {
        return Ok(html(pages::firewall_page(next_support_id(&state)), Charset::Utf8));
    }
    match (method, path) {
        (Method::GET, FORM_PATH) => Ok(form(&state, &behaviour)),
        (Method::POST, SERVLET_PATH) => {
            let headers = request.headers().clone();
            if let Some(refusal) = refusal(&state, &behaviour, &headers) {
                return Ok(refusal);
            }
            let body = body_of(request).await;
            let form: HashMap<String, String> = form_urlencoded::parse(&body).into_owned().collect();
            servlet(&state, &behaviour, &form).await
        }
        (Method::GET, p) if p.starts_with("/a/") => Ok(asset(p)),
        _ => Ok(plain(StatusCode::NOT_FOUND, "Not Found")),
    }
}

/// `response` with its body compressed as `coding`.
async fn compressed(response: Response<Full<Bytes>>, coding: ContentEncoding) -> Response<Full<Bytes>> {
    let (mut parts, body) = response.into_parts();
    let bytes = body.collect().await.map(|body| body.to_bytes()).unwrap_or_default();
    parts
        .headers
        .insert(CONTENT_ENCODING, coding.name().parse().expect("valid header"));
    Response::from_parts(parts, Full::new(Bytes::from(coding.encode(&bytes))))
}

/// The search form, with a new session cookie (and the browser check's
/// script when it is on).
fn form(state: &State, behaviour: &Behaviour) -> Response<Full<Bytes>> {
    state.form_loads.fetch_add(1, Ordering::SeqCst);
    let page = match behaviour.browser_check {
        Some(_) => checks::with_check_script(&pages::form_page()),
        None => pages::form_page(),
    };
    let mut response = html(page, Charset::Utf8);
    let session = format!("{}!-1!-1", random_token(40));
    let cookie = format!("{SESSION_COOKIE}={session}; path=/; HttpOnly");
    state.sessions.lock().expect("replica lock").insert(session);
    response
        .headers_mut()
        .insert(SET_COOKIE, cookie.parse().expect("valid cookie"));
    response
}

/// What answers a post before the application reads it: the browser
/// check's refusal, SUNAT's error page for a body the form cannot have
/// sent, or a redirect to the form for an expired session. A post without
/// any session cookie is served (SUNAT answers a cold post).
fn refusal(state: &State, behaviour: &Behaviour, headers: &HeaderMap) -> Option<Response<Full<Bytes>>> {
    let cookies = checks::cookies(headers);
    if let Some(check) = behaviour
        .browser_check
        .filter(|_| !checks::passes_browser_check(&cookies))
    {
        state.check_rejections.fetch_add(1, Ordering::SeqCst);
        return Some(match check {
            BrowserCheck::Firewall => html(pages::firewall_page(next_support_id(state)), Charset::Utf8),
            BrowserCheck::UnknownPage => html(pages::unknown_page(), Charset::Utf8),
        });
    }
    if behaviour.header_check && !checks::consistent_headers(headers) {
        state.check_rejections.fetch_add(1, Ordering::SeqCst);
        return Some(html(pages::firewall_page(next_support_id(state)), Charset::Utf8));
    }
    if !checks::is_form_post(headers) {
        return Some(html(pages::error_page(), Charset::Latin1));
    }
    let session = cookies.get(SESSION_COOKIE)?;
    if state.sessions.lock().expect("replica lock").contains(session) {
        return None;
    }
    state.expired_session_posts.fetch_add(1, Ordering::SeqCst);
    let mut redirect = plain(StatusCode::FOUND, "");
    redirect
        .headers_mut()
        .insert(LOCATION, FORM_PATH.parse().expect("valid header"));
    Some(redirect)
}

fn next_support_id(state: &State) -> u64 {
    18_446_744_000_000_000_000 + state.support_ids.fetch_add(1, Ordering::SeqCst)
}

/// `jcrS00Alias`: one servlet, the `accion` field picks the operation.
async fn servlet(state: &State, behaviour: &Behaviour, form: &HashMap<String, String>) -> Reply {
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or("").trim().to_string();
    match field("accion").as_str() {
        "consPorRuc" => {
            let complete = checks::is_complete_search(field);
            search(state, behaviour, &field("nroRuc"), complete).await
        }
        "consPorRazonSoc" | "consPorTipdoc" => {
            let wanted = field("razSoc").to_uppercase();
            let entries: Vec<_> = dataset::names()
                .into_iter()
                .filter(|(_, name)| name.contains(&wanted))
                .collect();
            Ok(html(pages::list_page(&entries), behaviour.charset))
        }
        action if action.starts_with("get") => {
            let pagina = field("pagina").parse().unwrap_or(0);
            Ok(secondary(state, behaviour, action, &field("nroRuc"), pagina).await)
        }
        _ => Ok(html(pages::error_page(), Charset::Latin1)),
    }
}

/// A page behind one of the result page's buttons (`accion` = `action`;
/// `pagina` of a paged list), counted; SUNAT's error page for a taxpayer
/// or page it does not have.
async fn secondary(
    state: &State,
    behaviour: &Behaviour,
    action: &str,
    ruc: &str,
    pagina: usize,
) -> Response<Full<Bytes>> {
    if behaviour.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.delay_ms)).await;
    }
    let error_page = {
        let mut current = state.behaviour.lock().expect("replica lock");
        let due = current.page_error_pages > 0;
        current.page_error_pages = current.page_error_pages.saturating_sub(1);
        due
    };
    *state
        .secondary_visits
        .lock()
        .expect("replica lock")
        .entry((ruc.to_string(), action.to_string()))
        .or_default() += 1;
    if error_page {
        return html(pages::error_page(), Charset::Latin1);
    }
    let name = dataset::names().into_iter().find(|(known, _)| *known == ruc);
    match name.and_then(|(_, name)| secondary::page(action, ruc, name, pagina)) {
        Some(Ok(page)) => html(page, behaviour.charset),
        Some(Err(message)) => html(pages::error_page_saying(message), Charset::Latin1),
        None => html(pages::error_page(), Charset::Latin1),
    }
}

/// A search by RUC; `complete` when the post carried what the form sends.
async fn search(state: &State, behaviour: &Behaviour, ruc: &str, complete: bool) -> Reply {
    *state
        .searches
        .lock()
        .expect("replica lock")
        .entry(ruc.to_string())
        .or_default() += 1;
    if behaviour.delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(behaviour.delay_ms)).await;
    }
    if behaviour.hang {
        std::future::pending::<()>().await;
    }
    if behaviour.reset {
        return Err(Interrupt::Reset);
    }
    let error_page = {
        let mut current = state.behaviour.lock().expect("replica lock");
        let due = current.error_pages > 0;
        current.error_pages = current.error_pages.saturating_sub(1);
        due
    };
    if error_page || !complete {
        return Ok(html(pages::error_page(), Charset::Latin1));
    }
    let page = match dataset::find(ruc) {
        Some(source) if behaviour.changed_layout.iter().any(|changed| changed == ruc) => {
            pages::changed_layout(&pages::result_page(&source))
        }
        Some(source) => pages::result_page(&source),
        None => pages::not_found_page(ruc),
    };
    let page = match behaviour.late_insert_ms {
        Some(delay) => pages::insert_late(&page, delay),
        None => page,
    };
    if behaviour.truncate {
        let (bytes, content_type) = encode(page, behaviour.charset);
        let mut response = Response::new(Bytes::from(bytes));
        response.headers_mut().insert(CONTENT_TYPE, content_type);
        return Err(Interrupt::Truncate(response));
    }
    Ok(html(page, behaviour.charset))
}

/// A body that announces a whole page, sends half of it, then fails (after
/// a pause, so that the half is on the wire), so that the connection is
/// closed short of its `Content-Length`.
struct Truncated {
    half: Option<Bytes>,
    whole: u64,
    pause: Pin<Box<tokio::time::Sleep>>,
}

impl Truncated {
    fn new(page: Bytes) -> Truncated {
        Truncated {
            whole: page.len() as u64,
            half: Some(page.slice(..page.len() / 2)),
            pause: Box::pin(tokio::time::sleep(Duration::from_millis(50))),
        }
    }
}

impl Body for Truncated {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        if let Some(half) = self.half.take() {
            return Poll::Ready(Some(Ok(Frame::data(half))));
        }
        match self.pause.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::other("truncated on purpose")))),
            Poll::Pending => Poll::Pending,
        }
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.whole)
    }
}

/// The request's body; empty when it cannot be read.
async fn body_of(request: Request<Incoming>) -> Bytes {
    request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default()
}

/// Makes the kernel answer the connection's close with RST (`SO_LINGER` 0).
fn reset(fd: RawFd) {
    // SAFETY: the connection's socket stays open while its request is handled.
    let socket = unsafe { BorrowedFd::borrow_raw(fd) };
    let _ = setsockopt(
        &socket,
        Linger,
        &nix::libc::linger {
            l_onoff: 1,
            l_linger: 0,
        },
    );
}

async fn admin(state: &State, method: &Method, path: &str, request: Request<Incoming>) -> Response<Full<Bytes>> {
    match (method, path) {
        (&Method::GET, "/__replica/behaviour") => json(&*state.behaviour.lock().expect("replica lock")),
        (&Method::PUT, "/__replica/behaviour") => {
            let body = body_of(request).await;
            match serde_json::from_slice::<Behaviour>(&body) {
                Ok(behaviour) => {
                    *state.behaviour.lock().expect("replica lock") = behaviour.clone();
                    json(&behaviour)
                }
                Err(e) => plain(StatusCode::BAD_REQUEST, &format!("invalid behaviour: {e}")),
            }
        }
        (&Method::GET, "/__replica/requests") => json(&serde_json::json!({
            "searches": *state.searches.lock().expect("replica lock"),
            "formLoads": state.form_loads.load(Ordering::SeqCst),
            "checkRejections": state.check_rejections.load(Ordering::SeqCst),
            "expiredSessionPosts": state.expired_session_posts.load(Ordering::SeqCst),
            "secondaryVisits": state.secondary_visits.lock().expect("replica lock").values().sum::<u64>(),
        })),
        (&Method::POST, "/__replica/expire-sessions") => {
            state.expire_sessions();
            json(&serde_json::json!({ "expired": true }))
        }
        _ => plain(StatusCode::NOT_FOUND, "unknown admin route"),
    }
}

fn html(page: String, charset: Charset) -> Response<Full<Bytes>> {
    let (bytes, content_type) = encode(page, charset);
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    response
}

/// The page's bytes and its `Content-Type`.
fn encode(page: String, charset: Charset) -> (Vec<u8>, hyper::header::HeaderValue) {
    let (bytes, declared) = match charset {
        Charset::Utf8 => (page.into_bytes(), "UTF-8"),
        Charset::Latin1 => (latin1(&page), "ISO-8859-1"),
        Charset::Latin1DeclaredUtf8Sent => (page.into_bytes(), "ISO-8859-1"),
    };
    let content_type = format!("text/html; charset={declared}").parse().expect("valid header");
    (bytes, content_type)
}

/// Every character of SUNAT's pages is in Latin-1; anything else becomes `?`.
fn latin1(text: &str) -> Vec<u8> {
    text.chars()
        .map(|c| u8::try_from(u32::from(c)).unwrap_or(b'?'))
        .collect()
}

/// Stylesheets and scripts the pages reference: empty, but present, so the
/// browser does not wait on errors.
fn asset(path: &str) -> Response<Full<Bytes>> {
    let kind = if path.ends_with(".css") {
        "text/css"
    } else {
        "application/javascript"
    };
    let mut response = Response::new(Full::new(Bytes::new()));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, kind.parse().expect("valid header"));
    response
}

fn json(value: &impl Serialize) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(serde_json::to_vec(value).expect("serialisable"))));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, "application/json".parse().expect("valid header"));
    response
}

fn plain(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(text.to_string())));
    *response.status_mut() = status;
    response
}

fn random_token(length: usize) -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), length)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_encodes_spanish_text() {
        assert_eq!(latin1("Número"), b"N\xfamero");
    }

    #[test]
    fn behaviour_reads_partial_json() {
        let behaviour: Behaviour = serde_json::from_str(r#"{"errorPages": 2, "charset": "latin1"}"#).unwrap();
        assert_eq!(behaviour.error_pages, 2);
        assert_eq!(behaviour.charset, Charset::Latin1);
        assert!(!behaviour.hang);
    }
}
