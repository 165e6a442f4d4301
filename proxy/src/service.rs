//! The proxy itself: one `ProxyHttp` implementation whose hooks read top to
//! bottom in the order Pingora calls them.
//!
//! 1. `request_filter`: routes; answers `/health`, errors and cache hits
//!    (records, remembered "no such RUC" answers, stale records) itself; a
//!    miss either follows a lookup already in flight or leads a new one to
//!    the scraper once the upstream guard lets it (a HEAD miss as a direct
//!    lookup, see `direct`).
//! 2. `upstream_peer`, `upstream_request_filter`: the scraper, with a read
//!    timeout longer than its own lookup deadline.
//! 3. `upstream_response_filter`, `upstream_response_body_filter`: marks the
//!    answer as a miss, collects its body, and at its end shares it with the
//!    followers and stores it if it is a complete record of this RUC.
//! 4. `fail_to_proxy`: the scraper gave no answer (or a 5xx while a stale
//!    record waits): the stale record, or a JSON 502/504, shared with the
//!    followers as well.
//! 5. `logging`: metrics and the access log.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use pingora::http::{Method, RequestHeader, ResponseHeader};
use pingora::modules::http::HttpModules;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::upstreams::peer::HttpPeer;
use pingora::{Error, ErrorSource, ErrorType, Result};
use ruc_contract::{RouteError, Ruc};
use tracing::{debug, info, warn};

use crate::cache::admission;
use crate::cache::coalesce::{self, Answer, Flight, Flights, Followed, Role, SHARED_HEADERS};
use crate::cache::store::{Cached, Lookup, Store};
use crate::config::Config;
use crate::direct::Direct;
use crate::health::Health;
use crate::metrics::Metrics;
use crate::responses::{self, OwnError, Stale};
use crate::routes::{self, Route};
use crate::upstream::{Guard, Pass};

/// How long a follower waits for its leader, beyond the leader's queue wait
/// and upstream timeout.
const FOLLOW_MARGIN: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// How much of a scraper answer is kept to share with followers. Answers
/// above `CACHE_MAX_BODY_BYTES` are still shared, just never stored.
const SHARE_LIMIT_BYTES: usize = 1 << 20;

pub struct RucProxy {
    config: Config,
    store: Arc<Store>,
    flights: Arc<Flights>,
    health: Health,
    guard: Arc<Guard>,
    direct: Arc<Direct>,
    /// Rotates over the scraper's addresses.
    next_scraper: AtomicUsize,
}

/// Per-request state.
pub struct Ctx {
    started: Instant,
    ruc: Option<Ruc>,
    /// The `cache` label: `hit`, `stale`, `miss`, `coalesced` or `none`.
    cache: &'static str,
    store_unavailable: bool,
    /// A record past its freshness, served if the scraper fails.
    stale: Option<Cached>,
    /// Set when this request leads a lookup to the scraper.
    flight: Option<Flight>,
    /// Its leave from the guard, told the outcome when the scraper answers.
    pass: Option<Pass>,
    /// The scraper's answer, as it arrives.
    upstream: Option<UpstreamAnswer>,
}

struct UpstreamAnswer {
    status: u16,
    headers: Vec<(&'static str, String)>,
    body: BytesMut,
    /// The body outgrew what is kept for sharing: passed on, not kept.
    too_large: bool,
}

impl RucProxy {
    /// What the admin listener shares with the proxy: the lookups in
    /// flight and the direct lookups (for refreshes).
    pub fn shared(&self) -> (Arc<Flights>, Arc<Direct>) {
        (self.flights.clone(), self.direct.clone())
    }

    pub fn new(config: Config, store: Arc<Store>) -> RucProxy {
        let health = Health::new(store.clone(), &config.scraper);
        let guard = Arc::new(Guard::new(
            config.upstream_max_in_flight,
            config.upstream_queue_timeout,
            config.breaker_failures,
            config.breaker_open,
        ));
        let direct = Direct::new(store.clone(), guard.clone(), config.clone());
        RucProxy {
            config,
            store,
            flights: Arc::default(),
            health,
            guard,
            direct,
            next_scraper: AtomicUsize::new(0),
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
            store_unavailable: false,
            stale: None,
            flight: None,
            pass: None,
            upstream: None,
        }
    }

    /// `Ok(true)`: answered here; `Ok(false)`: go to the scraper.
    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let path = session.req_header().uri.path().to_string();
        if let Err(malformed) = routes::check_host(session.req_header()) {
            return responses::route_error(session, 400, &malformed).await.map(|_| true);
        }
        match routes::route(&session.req_header().method, &path) {
            Route::Lookup(text) if routes::has_body(session.req_header()) => {
                let detail = "Una consulta no lleva cuerpo (Content-Length o Transfer-Encoding).";
                let body = responses::error_body(detail, text);
                responses::own_error(session, 400, body, OwnError::RequestBody)
                    .await
                    .map(|_| true)
            }
            Route::Lookup(text) => match Ruc::parse(text) {
                Ok(ruc) => self.lookup(session, ctx, ruc).await,
                Err(invalid) => {
                    let body = responses::error_body(invalid.detail(), text);
                    responses::own_error(session, 400, body, OwnError::InvalidRuc)
                        .await
                        .map(|_| true)
                }
            },
            Route::Health => {
                let report = self.health.report().await;
                responses::json_value(session, 200, &report).await.map(|_| true)
            }
            Route::NotFound => responses::route_error(session, 404, &RouteError::no_route(&path))
                .await
                .map(|_| true),
            Route::MethodNotAllowed => responses::method_not_allowed(session).await.map(|_| true),
        }
    }

    async fn upstream_peer(&self, _session: &mut Session, _ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        // Several addresses (scraper replicas behind one name) take turns.
        let authority = self.config.scraper.authority();
        let addresses: Vec<_> = tokio::net::lookup_host(&authority)
            .await
            .into_iter()
            .flatten()
            .collect();
        let turn = self.next_scraper.fetch_add(1, Ordering::Relaxed);
        let address = addresses.get(turn % addresses.len().max(1)).copied().ok_or_else(|| {
            Error::explain(
                ErrorType::ConnectError,
                format!("cannot resolve the scraper {authority}"),
            )
        })?;
        let mut peer = HttpPeer::new(address, false, String::new());
        peer.options.connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.total_connection_timeout = Some(CONNECT_TIMEOUT);
        peer.options.read_timeout = Some(self.config.upstream_timeout);
        peer.options.write_timeout = Some(WRITE_TIMEOUT);
        peer.options.idle_timeout = Some(IDLE_TIMEOUT);
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        request: &mut RequestHeader,
        _ctx: &mut Ctx,
    ) -> Result<()> {
        request.insert_header("Host", self.config.scraper.authority())
    }

    async fn upstream_response_filter(
        &self,
        _session: &mut Session,
        response: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let status = response.status.as_u16();
        if status >= 500 && ctx.stale.is_some() {
            // Nothing was sent yet: `fail_to_proxy` serves the stale record.
            let mut error = Error::explain(ErrorType::HTTPStatus(status), "the scraper failed");
            error.esource = ErrorSource::Upstream;
            return Err(error);
        }
        ctx.upstream = Some(UpstreamAnswer {
            status,
            headers: SHARED_HEADERS
                .iter()
                .filter_map(|&name| Some((name, response.headers.get(name)?.to_str().ok()?.to_string())))
                .collect(),
            body: BytesMut::new(),
            too_large: false,
        });
        responses::mark_miss(response, ctx.store_unavailable)
    }

    fn upstream_response_body_filter(
        &self,
        _session: &mut Session,
        body: &mut Option<Bytes>,
        end_of_stream: bool,
        ctx: &mut Ctx,
    ) -> Result<Option<Duration>> {
        if let (Some(upstream), Some(chunk)) = (ctx.upstream.as_mut(), body.as_ref()) {
            if upstream.body.len() + chunk.len() > SHARE_LIMIT_BYTES.max(self.config.max_body_bytes) {
                upstream.too_large = true;
            } else {
                upstream.body.extend_from_slice(chunk);
            }
        }
        if end_of_stream {
            self.land(ctx);
        }
        Ok(None)
    }

    /// The scraper gave no (complete) answer. Writes a JSON error when
    /// nothing was sent yet, and shares it with the followers.
    async fn fail_to_proxy(&self, session: &mut Session, error: &Error, ctx: &mut Ctx) -> FailToProxy {
        if error.esource() == &ErrorSource::Downstream {
            // The client went away; the flight is abandoned with the context.
            return FailToProxy {
                error_code: 0,
                can_reuse_downstream: false,
            };
        }
        Metrics::get().upstream_errors.inc();
        if let Some(pass) = ctx.pass.take() {
            pass.finish(false);
        }
        let timed_out = matches!(
            error.etype(),
            ErrorType::ConnectTimedout | ErrorType::ReadTimedout | ErrorType::WriteTimedout
        );
        let (status, detail) = match error.etype() {
            ErrorType::HTTPStatus(status) => (*status, "El servicio de consulta (scraper) falló."),
            _ => responses::no_answer(timed_out),
        };
        let ruc = ctx.ruc.map(|r| r.to_string()).unwrap_or_default();
        warn!(ruc, %error, status, "scraper gave no answer");
        let body = responses::error_body(detail, &ruc);
        if let Some(mut flight) = ctx.flight.take() {
            flight.land(Answer::json(status, body.clone()));
        }
        let code = match (session.response_written(), ctx.stale.take()) {
            (Some(_), _) => 0,
            (None, Some(stale)) => match self.serve_stale(session, ctx, &stale, Stale::IfError).await {
                Ok(_) => 200,
                Err(_) => 0,
            },
            (None, None) => {
                let why = if timed_out {
                    OwnError::ScraperTimeout
                } else {
                    OwnError::ScraperUnreachable
                };
                match responses::own_error(session, status, body, why).await {
                    Ok(()) => status,
                    Err(_) => 0,
                }
            }
        };
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    /// Scraper failures are logged once, by `fail_to_proxy`.
    fn suppress_error_log(&self, _session: &Session, _ctx: &Ctx, error: &Error) -> bool {
        error.esource() == &ErrorSource::Upstream
    }

    async fn logging(&self, session: &mut Session, _error: Option<&Error>, ctx: &mut Ctx) {
        // A flight not landed by now is abandoned: its followers start over.
        ctx.flight = None;
        let status = session.response_written().map_or(0, |header| header.status.as_u16());
        let elapsed = ctx.started.elapsed();
        Metrics::get().answered(status, ctx.cache, elapsed);
        let ruc = ctx.ruc.as_ref().map(tracing::field::display);
        if ctx.cache == "hit" {
            debug!(ruc, cache = ctx.cache, status, ?elapsed, "answered");
        } else {
            info!(ruc, cache = ctx.cache, status, ?elapsed, "answered");
        }
    }

    /// No compression module: records are small and the original service
    /// sent them uncompressed; the default (disabled) module costs every hit.
    fn init_downstream_modules(&self, _modules: &mut HttpModules) {}
}

impl RucProxy {
    /// A valid RUC: from Redis, from a lookup in flight, or by leading a new
    /// lookup (`Ok(false)`).
    async fn lookup(&self, session: &mut Session, ctx: &mut Ctx, ruc: Ruc) -> Result<bool> {
        ctx.ruc = Some(ruc);
        let metrics = Metrics::get();
        let deadline =
            Instant::now() + self.config.upstream_queue_timeout + self.config.upstream_timeout + FOLLOW_MARGIN;
        loop {
            match self.store.get(&ruc).await {
                Lookup::Hit(cached) => {
                    ctx.cache = "hit";
                    metrics.hits.inc();
                    responses::hit(session, 200, &cached).await?;
                    return Ok(true);
                }
                Lookup::NotFound(cached) => {
                    ctx.cache = "hit";
                    metrics.hits.inc();
                    metrics.not_found_hits.inc();
                    responses::hit(session, 404, &cached).await?;
                    return Ok(true);
                }
                Lookup::Stale(cached) if self.revalidates_in_background(&cached) => {
                    if let Role::Leader(flight) = self.flights.join(ruc.as_str()) {
                        self.direct.refresh_in_background(ruc, flight);
                    }
                    return self.serve_stale(session, ctx, &cached, Stale::WhileRevalidate).await;
                }
                Lookup::Stale(cached) => ctx.stale = Some(cached),
                Lookup::Miss => {}
                Lookup::Unavailable => ctx.store_unavailable = true,
            }
            let follower = match self.flights.join(ruc.as_str()) {
                Role::Leader(flight) => return self.lead(session, ctx, ruc, flight).await,
                Role::Follower(follower) => follower,
            };
            let wait = deadline.saturating_duration_since(Instant::now());
            match coalesce::follow(follower, wait).await {
                Followed::Answer(answer) if answer.status >= 500 && ctx.stale.is_some() => {
                    let stale = ctx.stale.take().expect("checked");
                    return self.serve_stale(session, ctx, &stale, Stale::IfError).await;
                }
                Followed::Answer(answer) => {
                    ctx.cache = "coalesced";
                    metrics.coalesced.inc();
                    responses::shared(session, &answer, true).await?;
                    return Ok(true);
                }
                Followed::Abandoned => continue,
                Followed::TimedOut if ctx.stale.is_some() => {
                    let stale = ctx.stale.take().expect("checked");
                    return self.serve_stale(session, ctx, &stale, Stale::IfError).await;
                }
                Followed::TimedOut => {
                    let detail = "La consulta en curso para este RUC no terminó a tiempo.";
                    let body = responses::error_body(detail, ruc.as_str());
                    responses::own_error(session, 504, body, OwnError::LeaderTimeout).await?;
                    return Ok(true);
                }
            }
        }
    }

    /// This request leads the lookup of `ruc`: to the scraper (`Ok(false)`)
    /// when the guard lets it, otherwise a 503 (or the stale record) for it
    /// and its followers.
    async fn lead(&self, session: &mut Session, ctx: &mut Ctx, ruc: Ruc, mut flight: Flight) -> Result<bool> {
        if session.req_header().method == Method::HEAD {
            return self.lead_head(session, ctx, ruc, flight).await;
        }
        match self.guard.admit().await {
            Ok(pass) => {
                ctx.pass = Some(pass);
                ctx.flight = Some(flight);
                ctx.cache = "miss";
                Metrics::get().misses.inc();
                Ok(false)
            }
            Err(refusal) => {
                warn!(%ruc, reason = refusal.reason(), "lookup not sent to the scraper");
                flight.land(responses::refused_answer(refusal, ruc.as_str()));
                if let Some(stale) = ctx.stale.take() {
                    return self.serve_stale(session, ctx, &stale, Stale::IfError).await;
                }
                responses::refused(session, refusal, ruc.as_str()).await?;
                Ok(true)
            }
        }
    }

    /// A HEAD miss: a direct lookup, stored like any other, and its headers.
    async fn lead_head(&self, session: &mut Session, ctx: &mut Ctx, ruc: Ruc, flight: Flight) -> Result<bool> {
        ctx.cache = "miss";
        Metrics::get().misses.inc();
        let answer = self.direct.lookup(ruc, flight).await;
        match (answer, ctx.stale.take()) {
            (Ok((answer, _)), Some(stale)) if answer.status >= 500 => {
                self.serve_stale(session, ctx, &stale, Stale::IfError).await
            }
            (Err(_), Some(stale)) => self.serve_stale(session, ctx, &stale, Stale::IfError).await,
            (Ok((answer, _)), _) => responses::shared(session, &answer, false).await.map(|_| true),
            (Err(refusal), None) => responses::refused(session, refusal, ruc.as_str()).await.map(|_| true),
        }
    }

    /// Whether a stale record is still within `STALE_WHILE_REVALIDATE_SECONDS`.
    fn revalidates_in_background(&self, stale: &Cached) -> bool {
        let stale_for = stale.ttl_ms.unsigned_abs() as u128;
        stale_for <= self.config.stale_while_revalidate.as_millis()
    }

    /// Answers with a record past its freshness (never counted as a hit).
    async fn serve_stale(&self, session: &mut Session, ctx: &mut Ctx, stale: &Cached, why: Stale) -> Result<bool> {
        ctx.cache = "stale";
        Metrics::get().stale.inc();
        responses::stale(session, stale, why).await?;
        Ok(true)
    }

    /// The scraper's answer is complete: share it with the followers, and
    /// store it when it is a record of this RUC. The flight stays open until
    /// the record is in Redis, so a request arriving meanwhile follows it
    /// instead of starting a second lookup.
    fn land(&self, ctx: &mut Ctx) {
        let (Some(mut flight), Some(upstream), Some(ruc)) = (ctx.flight.take(), ctx.upstream.take(), ctx.ruc) else {
            return;
        };
        if let Some(pass) = ctx.pass.take() {
            pass.finish(upstream.status < 500);
        }
        if upstream.too_large {
            let body = responses::error_body("La respuesta del scraper es demasiado grande.", ruc.as_str());
            flight.land(Answer::json(502, body));
            return;
        }
        let body = upstream.body.freeze();
        flight.land(Answer {
            status: upstream.status,
            headers: upstream.headers,
            body: body.clone(),
        });
        match admission::check(&ruc, upstream.status, &body, self.config.max_body_bytes) {
            Ok(admitted) => {
                let store = self.store.clone();
                tokio::spawn(async move {
                    let stored = store.keep(&ruc, admitted, body).await;
                    debug!(%ruc, ?admitted, stored, "answer stored");
                    drop(flight);
                });
            }
            Err(refusal) => debug!(%ruc, ?refusal, "answer not stored"),
        }
    }
}
