//! Lookups without a browser: the form's GET and POST over plain HTTP(S),
//! as Chrome sends them (`sunat::post`), with a session cookie per client
//! session. The page that comes back goes through the same classifier as a
//! browser's (`sunat::page`), so a record reads the same either way.
//!
//! - [`content_encoding`]: compressed bodies, as Chrome accepts them;
//! - [`charset`]: bytes to text as Chrome decodes them;
//! - [`cookies`]: the session cookie, kept and sent back.
//!
//! A session loads the form once (for the cookie), then posts searches on
//! it until SUNAT drops the session (it redirects a post to the form) or
//! `SCRAPER_RECYCLE_AFTER` lookups, when it loads the form again.

mod charset;
mod content_encoding;
mod cookies;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{HeaderValue, CONTENT_ENCODING, CONTENT_TYPE, COOKIE, HOST, LOCATION};
use hyper::{Method, Request, Response};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use ruc_contract::{Kind, Ruc};
use startup::telemetry;
use tracing::{debug, info_span, Instrument};

use crate::failure::Failure;
use crate::sunat::client_hints::ClientHints;
use crate::sunat::form::{self, Answer, Shown, FORM_PATH};
use crate::sunat::page::{self, Page, Snapshot};
use crate::sunat::post::{self, SERVLET_PATH};
use crate::sunat::secondary;
use cookies::CookieJar;

/// SUNAT's pages are 25–56 KB; anything far larger is not one of them.
const MAX_PAGE_BYTES: usize = 2 * 1024 * 1024;
/// Idle keep-alive connections are closed after this long.
const IDLE_CONNECTION: Duration = Duration::from_secs(30);

/// Where SUNAT is and how the direct client presents itself.
#[derive(Debug, Clone)]
pub(crate) struct DirectConfig {
    /// `SUNAT_URL`, without a trailing slash.
    pub(crate) sunat_url: String,
    /// `SCRAPER_USER_AGENT`: the installed Chromium's by default.
    pub(crate) user_agent: HeaderValue,
    /// `SCRAPER_PAGE_LOAD_TIMEOUT_SECS`: one request, connection to last byte.
    pub(crate) page_load_timeout: Duration,
    /// `SCRAPER_RECYCLE_AFTER`: lookups before a session loads the form again.
    pub(crate) recycle_after: u32,
    /// `SCRAPER_SESSIONS`: idle connections and sessions kept.
    pub(crate) sessions: usize,
}

/// The direct client: one connection pool, the idle client sessions, and
/// the addresses every request uses, worked out once.
pub(crate) struct Direct {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
    config: DirectConfig,
    sessions: Mutex<Vec<Session>>,
    /// The form's URL, also the search's `Referer`.
    form_url: String,
    servlet_url: String,
    /// `host[:port]` of `SUNAT_URL`, sent first as `Host`.
    host: Option<String>,
    /// What goes with a Chrome `User-Agent`.
    hints: Option<ClientHints>,
}

/// One client session: its cookies and how much it has been used.
#[derive(Default)]
struct Session {
    cookies: CookieJar,
    /// Whether the form was loaded on this session (the cookie's source).
    form_loaded: bool,
    lookups: u32,
}

/// Why a direct request gave no page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DirectFault {
    /// No whole answer within `SCRAPER_PAGE_LOAD_TIMEOUT_SECS`.
    Timeout,
    /// The connection failed; Chrome's name for it (`ERR_CONNECTION_RESET`…).
    Network(String),
    /// SUNAT dropped a session loaded a moment before.
    SessionDropped,
}

impl DirectFault {
    /// What the fault means for the lookup, as the browser's faults do.
    pub(crate) fn failure(&self) -> Failure {
        match self {
            DirectFault::Timeout => Failure::Timeout("la página no cargó a tiempo".into()),
            DirectFault::Network(code) => Failure::network(code),
            DirectFault::SessionDropped => Failure::SunatError("SUNAT descartó la sesión recién abierta".into()),
        }
    }
}

/// A page, or SUNAT sending the post back to the form.
enum Posted<T> {
    Answer(T),
    SessionDropped,
}

/// What a search gave: the search's answer and, when a page behind the
/// result was asked for and the search found the RUC, that page (every
/// page of a paged list).
pub(crate) struct Searched {
    pub(crate) answer: Answer,
    /// The page `answer` was read from, if any.
    pub(crate) shown: Option<Snapshot>,
    pub(crate) pages: Vec<Snapshot>,
}

impl Direct {
    pub(crate) fn new(config: DirectConfig) -> Result<Arc<Direct>, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS set-up failed: {e}"))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        http.set_connect_timeout(Some(config.page_load_timeout));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(IDLE_CONNECTION)
            .pool_max_idle_per_host(config.sessions)
            .build(https);
        Ok(Arc::new(Direct {
            client,
            form_url: post::form_url(&config.sunat_url),
            servlet_url: format!("{}{SERVLET_PATH}", config.sunat_url),
            host: url::Url::parse(&config.sunat_url).ok().and_then(|url| authority(&url)),
            hints: ClientHints::for_user_agent(config.user_agent.to_str().unwrap_or_default()),
            config,
            sessions: Mutex::new(Vec::new()),
        }))
    }

    /// Searches `ruc` on an idle session (or a new one), then opens its
    /// `then` page if asked, and returns the session after.
    pub(crate) async fn search(&self, ruc: Ruc, then: Option<Kind>) -> Result<Searched, DirectFault> {
        let mut session = self.sessions.lock().expect("sessions lock").pop().unwrap_or_default();
        let result = self.search_on(&mut session, ruc, then).await;
        if result.is_ok() {
            self.sessions.lock().expect("sessions lock").push(session);
        }
        result
    }

    /// Posts the search on the session (loading the form first when the
    /// session has no cookie yet), then the `then` page's form when the
    /// search found the RUC; when SUNAT drops the session, once more on a
    /// fresh one.
    async fn search_on(&self, session: &mut Session, ruc: Ruc, then: Option<Kind>) -> Result<Searched, DirectFault> {
        if session.lookups >= self.config.recycle_after {
            *session = Session::default();
        }
        session.lookups += 1;
        for retry in [false, true] {
            if retry {
                debug!("SUNAT dropped the session; loading the form again");
                *session = Session::default();
            }
            if !session.form_loaded {
                let loading = self.load_form(session);
                if let Some((answer, shown)) = loading.instrument(telemetry::span(|| info_span!("form"))).await? {
                    return Ok(Searched {
                        answer,
                        shown,
                        pages: Vec::new(),
                    });
                }
            }
            let searching = self.post_search(session, ruc);
            let searched = searching.instrument(telemetry::span(|| info_span!("search"))).await?;
            let Posted::Answer((answer, shown)) = searched else {
                continue;
            };
            let (razon_social, kind) = match (&answer, then) {
                (Answer::Page(Page::Result(pairs)), Some(kind)) => (page::razon_social(pairs), kind),
                _ => {
                    return Ok(Searched {
                        answer,
                        shown,
                        pages: Vec::new(),
                    })
                }
            };
            let posting = self.post_pages(session, ruc, kind, &razon_social);
            if let Some(pages) = posting.instrument(telemetry::span(|| info_span!("page"))).await? {
                return Ok(Searched { answer, shown, pages });
            }
        }
        Err(DirectFault::SessionDropped)
    }

    /// Posts the result page's form of `kind`, then each later page of a
    /// paged list; `None` when SUNAT dropped the session meanwhile.
    async fn post_pages(
        &self,
        session: &mut Session,
        ruc: Ruc,
        kind: Kind,
        razon_social: &str,
    ) -> Result<Option<Vec<Snapshot>>, DirectFault> {
        let Posted::Answer(first) = self.post_secondary(session, ruc, kind, razon_social, 0).await? else {
            return Ok(None);
        };
        let more = secondary::more_pages(kind, &first);
        let mut pages = vec![first];
        for pagina in more {
            match self.post_secondary(session, ruc, kind, razon_social, pagina).await? {
                Posted::Answer(page) => pages.push(page),
                Posted::SessionDropped => return Ok(None),
            }
        }
        Ok(Some(pages))
    }

    /// GETs the form for the session's cookie. When something else comes
    /// back (the firewall, an error page), that is the answer.
    async fn load_form(&self, session: &mut Session) -> Result<Option<Shown>, DirectFault> {
        let request = self.request(Method::GET, &self.form_url, None, session, Bytes::new());
        let (_, text) = self.send(request, session).await?;
        if text.contains("id=\"txtRuc\"") {
            session.form_loaded = true;
            return Ok(None);
        }
        let shown = snapshot(&self.form_url, text);
        Ok(Some((form::not_the_form_answer(&shown), Some(shown))))
    }

    async fn post_search(&self, session: &mut Session, ruc: Ruc) -> Result<Posted<Shown>, DirectFault> {
        let body = Bytes::from(post::search_body(ruc));
        let posted = self.post(session, &self.form_url, body).await?;
        Ok(match posted {
            Posted::Answer((response, text)) => Posted::Answer(classify(&self.servlet_url, &response, text)),
            Posted::SessionDropped => Posted::SessionDropped,
        })
    }

    /// Posts the result page's form of `kind` (`pagina` of a paged list),
    /// as its button does (the result page is the `Referer`).
    async fn post_secondary(
        &self,
        session: &mut Session,
        ruc: Ruc,
        kind: Kind,
        razon_social: &str,
        pagina: u32,
    ) -> Result<Posted<Snapshot>, DirectFault> {
        let body = Bytes::from(post::secondary_body(kind, ruc, razon_social, pagina));
        let posted = self.post(session, &self.servlet_url, body).await?;
        Ok(match posted {
            Posted::Answer((_, text)) => Posted::Answer(snapshot(&self.servlet_url, text)),
            Posted::SessionDropped => Posted::SessionDropped,
        })
    }

    /// Posts a form to the servlet from `referer`; SUNAT sending it back to
    /// the form means it dropped the session.
    async fn post(
        &self,
        session: &mut Session,
        referer: &str,
        body: Bytes,
    ) -> Result<Posted<(Response<()>, String)>, DirectFault> {
        let request = self.request(Method::POST, &self.servlet_url, Some(referer), session, body);
        let (response, text) = self.send(request, session).await?;
        let location = response.headers().get(LOCATION).and_then(|l| l.to_str().ok());
        if response.status().is_redirection() && location.is_some_and(|l| l.contains(FORM_PATH)) {
            return Ok(Posted::SessionDropped);
        }
        Ok(Posted::Answer((response, text)))
    }

    fn request(
        &self,
        method: Method,
        url: &str,
        referer: Option<&str>,
        session: &Session,
        body: Bytes,
    ) -> Request<Full<Bytes>> {
        let mut request = Request::builder().method(method).uri(url);
        if let Some(host) = &self.host {
            request = request.header(HOST, host);
        }
        let user_agent = self.config.user_agent.to_str().unwrap_or_default();
        let hints = self.hints.as_ref();
        for (name, value) in post::navigation_headers(&self.config.sunat_url, user_agent, hints, referer) {
            request = request.header(name, value);
        }
        if let Some(cookie) = session.cookies.header() {
            request = request.header(COOKIE, cookie);
        }
        request.body(Full::new(body)).expect("valid request parts")
    }

    /// Sends a request and reads its whole body as text, within the page-load
    /// timeout; keeps the cookies it sets.
    async fn send(
        &self,
        request: Request<Full<Bytes>>,
        session: &mut Session,
    ) -> Result<(Response<()>, String), DirectFault> {
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| network_fault(&e))?;
            let (parts, body) = response.into_parts();
            let bytes = Limited::new(body, MAX_PAGE_BYTES)
                .collect()
                .await
                .map_err(|e| body_fault(e.as_ref()))?
                .to_bytes();
            Ok((Response::from_parts(parts, ()), bytes))
        };
        let (response, bytes) = tokio::time::timeout(self.config.page_load_timeout, exchange)
            .await
            .map_err(|_| DirectFault::Timeout)??;
        session.cookies.store(response.headers());
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let bytes = content_encoding::decode(header(CONTENT_ENCODING), bytes, MAX_PAGE_BYTES)
            .map_err(|code| DirectFault::Network(code.to_string()))?;
        let text = charset::decode(header(CONTENT_TYPE), &bytes);
        Ok((response, text))
    }
}

/// `host[:port]` of a URL, as `Host` carries it.
fn authority(url: &url::Url) -> Option<String> {
    let host = url.host_str()?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// A page as the browser would show it once loaded.
fn snapshot(url: &str, html: String) -> Snapshot {
    Snapshot {
        url: url.to_string(),
        ready_state: "complete".into(),
        html,
    }
}

/// The page, classified as the browser's would be; a page nobody expected
/// (a redirect elsewhere, unknown markup) is an answer without a result.
fn classify(url: &str, response: &Response<()>, text: String) -> Shown {
    let shown = snapshot(url, text);
    let answer = match page::classify(&shown) {
        Page::Pending => Answer::Unrecognised {
            loading: false,
            title: format!("{} (HTTP {})", page::title(&shown.html), response.status().as_u16()),
        },
        recognised => Answer::Page(recognised),
    };
    (answer, Some(shown))
}

/// Chrome's name for what went wrong with the connection.
fn network_fault(error: &hyper_util::client::legacy::Error) -> DirectFault {
    use std::io::ErrorKind;
    let kind = io_kind(error);
    let code = match kind {
        Some(ErrorKind::ConnectionRefused) => "ERR_CONNECTION_REFUSED",
        Some(ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted | ErrorKind::BrokenPipe) => {
            "ERR_CONNECTION_RESET"
        }
        Some(ErrorKind::TimedOut) => "ERR_CONNECTION_TIMED_OUT",
        _ if error.is_connect() => "ERR_CONNECTION_FAILED",
        // The connection closed before a whole response head came.
        _ => "ERR_EMPTY_RESPONSE",
    };
    DirectFault::Network(code.to_string())
}

/// The body stopped short of its length, or was far too large.
fn body_fault(error: &(dyn std::error::Error + 'static)) -> DirectFault {
    let code = match io_kind(error) {
        Some(std::io::ErrorKind::ConnectionReset) => "ERR_CONNECTION_RESET",
        _ if error.is::<http_body_util::LengthLimitError>() => "ERR_RESPONSE_TOO_LARGE",
        _ => "ERR_CONTENT_LENGTH_MISMATCH",
    };
    DirectFault::Network(code.to_string())
}

/// The kind of the first I/O error in the chain of sources.
fn io_kind(error: &(dyn std::error::Error + 'static)) -> Option<std::io::ErrorKind> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        source = current.source();
    }
    None
}
