//! The proxy itself: one `ProxyHttp` implementation whose hooks read top to
//! bottom in the order Pingora calls them.
//!
//! 1. `request_filter`: routes; answers `/health`, errors and what the cache
//!    holds (records, remembered "no such RUC" answers, stale records)
//!    itself. A miss follows the lookup in flight, or leads one
//!    ([`crate::lookup`]): a GET goes on to the scraper through Pingora once
//!    the gate admits it, a HEAD asks the scraper directly.
//! 2. `upstream_peer`, `upstream_request_filter`: a healthy scraper with the
//!    fewest lookups in flight ([`crate::scrapers`]), with a read timeout
//!    longer than its own lookup deadline. `fail_to_connect`: a scraper
//!    that refused the connection is left for another, once; a lookup
//!    already sent is never sent again (`error_while_proxy`).
//! 3. `upstream_response_filter`, `upstream_response_body_filter`: a 5xx
//!    while a stale record waits ends the lookup at once (the stale record
//!    is served instead); any other answer is marked as a miss, passed on
//!    and collected, and at its end finishes the lookup.
//! 4. `fail_to_proxy`: the scraper gave no answer, or the lookup ended
//!    before its answer was passed on: writes what the lookup decided.
//! 5. `logging`: metrics and the access log; a lookup not finished by then
//!    is abandoned.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::{Method, RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::protocols::http::ServerSession;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use ruc_contract::{RouteError, Ruc};
use tracing::{debug, info, warn};

use crate::cache::cached::Cached;
use crate::cache::coalesce::{shared_headers, Answer};
use crate::cache::store::Store;
use crate::health::Health;
use crate::lookup::outcome::{self, Fetched, Read};
use crate::lookup::{Lead, Lookups, Miss};
use crate::metrics::Metrics;
use crate::responses::{self, OwnError, Reply};
use crate::routes::{self, Route};
use crate::scrapers::{Scrapers, CONNECT_TIMEOUT};

const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a scraper answer is kept to share with followers. Answers
/// above `CACHE_MAX_BODY_BYTES` are still shared, just never stored.
const SHARE_LIMIT_BYTES: usize = 1 << 20;

/// The proxy's `ProxyHttp` implementation, with what its hooks use.
pub(crate) struct RucProxy {
    store: Arc<Store>,
    lookups: Arc<Lookups>,
    health: Health,
    scrapers: Arc<Scrapers>,
    upstream_timeout: Duration,
    stale_while_revalidate: Duration,
    max_body_bytes: usize,
    metrics: &'static Metrics,
}

/// The settings the hooks read.
pub(crate) struct ProxySettings {
    pub(crate) upstream_timeout: Duration,
    pub(crate) stale_while_revalidate: Duration,
    pub(crate) max_body_bytes: usize,
}

/// Per-request state.
pub(crate) struct Ctx {
    started: Instant,
    ruc: Option<Ruc>,
    /// The `cache` label: `hit`, `stale`, `miss`, `coalesced` or `none`.
    cache: &'static str,
    stage: Stage,
}

/// Where a request is, as far as the hooks after `request_filter` care.
enum Stage {
    /// Answered by `request_filter`, or nothing to do with the scraper.
    Answered,
    /// Sent to the scraper through Pingora.
    Proxied(Box<Proxied>),
    /// The lookup ended before the scraper's answer was passed on:
    /// `fail_to_proxy` writes this instead.
    Decided(Reply),
}

/// A lookup proxied to the scraper.
struct Proxied {
    lead: Lead,
    /// A record past its freshness, served if the scraper fails.
    stale: Option<Cached>,
    /// Why this lookup could not use Redis, for `Cache-Status`.
    redis_detail: Option<&'static str>,
    /// The scraper's answer, as it arrives.
    received: Option<Received>,
}

/// The scraper's answer so far.
struct Received {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: BytesMut,
    /// The body outgrew what is kept for sharing: passed on, not kept.
    too_large: bool,
}

impl Received {
    fn into_fetched(self) -> Fetched {
        if self.too_large {
            return Fetched::TooLarge(self.status);
        }
        Fetched::Answered(Answer {
            status: self.status,
            headers: self.headers,
            body: self.body.freeze(),
        })
    }
}

impl RucProxy {
    pub(crate) fn new(
        settings: ProxySettings,
        store: Arc<Store>,
        lookups: Arc<Lookups>,
        health: Health,
        scrapers: Arc<Scrapers>,
        metrics: &'static Metrics,
    ) -> RucProxy {
        RucProxy {
            store,
            lookups,
            health,
            scrapers,
            upstream_timeout: settings.upstream_timeout,
            stale_while_revalidate: settings.stale_while_revalidate,
            max_body_bytes: settings.max_body_bytes,
            metrics,
        }
    }
}

#[async_trait]
impl ProxyHttp for RucProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            ruc: None,
            cache: "none",
            stage: Stage::Answered,
        }
    }

    /// `Ok(true)`: answered here; `Ok(false)`: go to the scraper.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        allow_pipelining(session);
        let path = session.req_header().uri.path().to_string();
        let request = session.req_header();
        let reply = if let Err(malformed) = routes::check_host(request) {
            responses::route_error(400, &malformed)
        } else {
            match routes::route(&request.method, &path) {
                Route::Lookup(text) if routes::has_body(request) => {
                    let detail = "Una consulta no lleva cuerpo (Content-Length o Transfer-Encoding).";
                    responses::own_error(400, responses::error_body(detail, text), OwnError::RequestBody)
                }
                Route::Lookup(text) => match Ruc::parse(text) {
                    Ok(ruc) => return self.lookup(session, ctx, ruc).await,
                    Err(invalid) => {
                        responses::own_error(400, responses::error_body(invalid.detail(), text), OwnError::InvalidRuc)
                    }
                },
                Route::Health => responses::json_value(200, &self.health.report().await),
                Route::NotFound => responses::route_error(404, &RouteError::no_route(&path)),
                Route::MethodNotAllowed => responses::method_not_allowed(&request.method),
            }
        };
        responses::send(session, reply).await.map(|_| true)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Stage::Proxied(proxied) = &mut ctx.stage else {
            return Err(Error::explain(ErrorType::InternalError, "no lookup to proxy"));
        };
        // On a retry, the scraper that refused is the one to avoid.
        let refused = proxied.lead.refused_scraper();
        let picked = self
            .scrapers
            .pick(refused)
            .ok_or_else(|| Error::explain(ErrorType::ConnectNoRoute, "no healthy scraper"))?;
        let mut peer = HttpPeer::new(picked.address(), false, String::new());
        proxied.lead.use_scraper(picked);
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.total_connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.read_timeout = Some(self.upstream_timeout);
        peer.options.write_timeout = Some(WRITE_TIMEOUT);
        peer.options.idle_timeout = Some(IDLE_TIMEOUT);
        Ok(Box::new(peer))
    }

    /// A scraper that refused the connection (nothing was sent): counted
    /// against it, and the lookup goes to another healthy one, once.
    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Stage::Proxied(proxied) = &mut ctx.stage {
            let first_refusal = proxied.lead.refused_scraper().is_none();
            proxied.lead.scraper_refused();
            e.set_retry(first_refusal);
        }
        e
    }

    /// An error once the lookup was sent is never retried: the scraper may
    /// be asking SUNAT already.
    fn error_while_proxy(
        &self,
        _peer: &HttpPeer,
        _session: &mut Session,
        mut e: Box<Error>,
        _ctx: &mut Ctx,
        _client_reused: bool,
    ) -> Box<Error> {
        e.set_retry(false);
        e
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        request: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Stage::Proxied(proxied) = &ctx.stage else {
            return Ok(());
        };
        let host = proxied
            .lead
            .scraper()
            .map(|address| address.to_string())
            .unwrap_or_default();
        request.insert_header("Host", host)
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let status = response.status.as_u16();
        let Stage::Proxied(proxied) = &mut ctx.stage else {
            return Ok(());
        };
        if outcome::stale_instead(proxied.stale.as_ref(), Some(status)) {
            // Nothing was sent yet: the lookup ends here, and `fail_to_proxy`
            // writes the stale record instead of this answer.
            let Stage::Proxied(proxied) = std::mem::replace(&mut ctx.stage, Stage::Answered) else {
                unreachable!("matched above");
            };
            let Proxied { lead, stale, .. } = *proxied;
            let finished = lead.finish(Fetched::FailedWith(status), stale.as_ref()).await;
            ctx.cache = finished.cache;
            ctx.stage = Stage::Decided(finished.reply);
            let mut stop = Error::explain(ErrorType::Custom("stale-if-error"), "the scraper failed");
            stop.esource = ErrorSource::Upstream;
            return Err(stop);
        }
        proxied.received = Some(Received {
            status,
            headers: shared_headers(&response.headers),
            body: BytesMut::new(),
            too_large: false,
        });
        responses::mark_miss(response, proxied.redis_detail)
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        let Stage::Proxied(proxied) = &mut ctx.stage else {
            return Ok(None);
        };
        if let (Some(received), Some(chunk)) = (proxied.received.as_mut(), body.as_ref()) {
            if received.body.len() + chunk.len() > SHARE_LIMIT_BYTES.max(self.max_body_bytes) {
                received.too_large = true;
            } else {
                received.body.extend_from_slice(chunk);
            }
        }
        if end_of_stream {
            if let Stage::Proxied(proxied) = std::mem::replace(&mut ctx.stage, Stage::Answered) {
                if let Proxied {
                    lead,
                    received: Some(received),
                    ..
                } = *proxied
                {
                    // Body filters cannot wait: the lookup finishes on its
                    // own task, while the client already has the answer.
                    tokio::spawn(lead.finish(received.into_fetched(), None));
                }
            }
        }
        Ok(None)
    }

    /// The scraper gave no (complete) answer, or the lookup ended before
    /// its answer was passed on: writes what the lookup decided when
    /// nothing was sent yet.
    async fn fail_to_proxy(&self, session: &mut Session, error: &Error, ctx: &mut Ctx) -> FailToProxy {
        let reply = match std::mem::replace(&mut ctx.stage, Stage::Answered) {
            // The client went away; the lookup is abandoned with the context.
            _ if error.esource() == &ErrorSource::Downstream => None,
            Stage::Decided(reply) => Some(reply),
            Stage::Proxied(proxied) => {
                let timed_out = matches!(
                    error.etype(),
                    ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
                );
                let Proxied { lead, stale, .. } = *proxied;
                warn!(ruc = %lead.ruc(), %error, "scraper gave no answer");
                let fetched = Fetched::NoAnswer { timed_out };
                let finished = lead.finish(fetched, stale.as_ref()).await;
                ctx.cache = finished.cache;
                Some(finished.reply)
            }
            Stage::Answered => None,
        };
        let error_code = match reply {
            Some(reply) if session.response_written().is_none() => {
                let status = reply.status;
                // Pingora closes the client's connection after a failed
                // proxy: say so (`Connection: close`), or the client's next
                // request on it is lost.
                session.set_keepalive(None);
                responses::send(session, reply).await.map_or(0, |_| status)
            }
            _ => 0,
        };
        FailToProxy {
            error_code,
            can_reuse_downstream: false,
        }
    }

    /// Scraper failures are logged once, by `fail_to_proxy`.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        error.esource() == &ErrorSource::Upstream
    }

    async fn logging(&self, session: &mut Session, _error: Option<&Error>, ctx: &mut Ctx) {
        // A lookup not finished by now is abandoned: its followers start over.
        ctx.stage = Stage::Answered;
        let status = session.response_written().map_or(0, |header| header.status.as_u16());
        answered(self.metrics, ctx.ruc.as_ref(), ctx.cache, status, ctx.started.elapsed());
    }

    /// No compression module: records are small and the original service
    /// sent them uncompressed; the default (disabled) module costs every hit.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}
}

/// Counts an answer and writes its access-log line, whoever wrote it (these
/// hooks, or the front for a hit): hits at debug level, there are many.
pub(crate) fn answered(metrics: &Metrics, ruc: Option<&Ruc>, cache: &'static str, status: u16, elapsed: Duration) {
    metrics.answered(status, cache, elapsed);
    let ruc = ruc.map(tracing::field::display);
    if cache == "hit" {
        debug!(ruc, cache, status, ?elapsed, "answered");
    } else {
        info!(ruc, cache, status, ?elapsed, "answered");
    }
}

/// HTTP/1.1 clients may pipeline requests (RFC 9112 §9.3.2): the next
/// request may arrive while this one waits for the scraper. Pingora reads
/// it then (to see whether the client left) and, without this flag, fails
/// this request ("sent data after end of body"); with it, Pingora keeps
/// the bytes, and so does the front that lent the connection
/// ([`crate::front`]). Set here, in a hook that runs anyway: every hook
/// call is boxed.
fn allow_pipelining(session: &mut Session) {
    if let ServerSession::H1(http1) = session.as_downstream_mut() {
        http1.set_pipelining_enabled(true);
    }
}

impl RucProxy {
    /// A valid RUC: from the cache, from a lookup in flight, or by leading a
    /// new lookup (`Ok(false)`: to the scraper through Pingora).
    async fn lookup(&self, session: &mut Session, ctx: &mut Ctx, ruc: Ruc) -> Result<bool> {
        ctx.ruc = Some(ruc);
        loop {
            let found = self.store.get(&ruc).await;
            let (stale, store_unavailable) = match outcome::after_read(found, self.stale_while_revalidate) {
                Read::Hit { reply, not_found } => {
                    self.metrics.hit(not_found);
                    return self.answer(session, ctx, reply, "hit").await;
                }
                Read::StaleAndRefresh(reply) => {
                    let lookups = self.lookups.clone();
                    tokio::spawn(async move { lookups.refresh_in_background(ruc).await });
                    self.metrics.stale.inc();
                    return self.answer(session, ctx, reply, "stale").await;
                }
                Read::LookUp {
                    stale,
                    store_unavailable,
                } => (stale, store_unavailable),
            };
            let lead = match self.lookups.miss(ruc).await {
                Miss::Lead(lead) => lead,
                Miss::Follow(follower) => match self.lookups.follow(follower, stale.as_ref(), &ruc).await {
                    Some((reply, cache)) => return self.answer(session, ctx, reply, cache).await,
                    None => continue,
                },
            };
            let lead = match lead.admit(stale.as_ref()).await {
                Ok(lead) => lead,
                Err(refused) => return self.answer(session, ctx, refused.reply, refused.cache).await,
            };
            if session.req_header().method == Method::HEAD {
                let finished = lead.fetch(stale.as_ref()).await;
                return self.answer(session, ctx, finished.reply, finished.cache).await;
            }
            ctx.cache = "miss";
            let redis_detail = match (store_unavailable, lead.fell_back()) {
                (true, _) => Some("redis-unavailable"),
                (false, true) => Some("fleet-unavailable"),
                (false, false) => None,
            };
            ctx.stage = Stage::Proxied(Box::new(Proxied {
                lead,
                stale,
                redis_detail,
                received: None,
            }));
            return Ok(false);
        }
    }

    /// Writes `reply` as this request's answer, under the `cache` label.
    async fn answer(&self, session: &mut Session, ctx: &mut Ctx, reply: Reply, cache: &'static str) -> Result<bool> {
        ctx.cache = cache;
        responses::send(session, reply).await.map(|_| true)
    }
}
