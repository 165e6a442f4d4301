//! The answers the proxy writes itself (hits, shared answers, errors) and the
//! cache headers every lookup answer carries:
//!
//! - `X-Cache: HIT` or `MISS`, as the original service's clients expect,
//!   or `STALE` for a record past its freshness;
//! - `Cache-Status` (RFC 9211), e.g. `ruc-proxy; hit; ttl=604795`,
//!   `ruc-proxy; fwd=miss; fwd-status=200; collapsed`,
//!   `ruc-proxy; fwd=stale; ttl=-3600; detail=stale-if-error`, or for an
//!   error of the proxy's own `ruc-proxy; detail=invalid-ruc`;
//! - `Age` on answers from the cache: seconds since they were stored.

use bytes::Bytes;
use pingora::http::{Method, ResponseHeader};
use pingora::proxy::Session;
use pingora::Result;
use ruc_contract::{ErrorBody, RouteError};
use serde_json::Value;

use crate::cache::coalesce::Answer;
use crate::cache::store::Cached;
use crate::upstream::Refusal;

/// This cache's name in `Cache-Status`.
const CACHE_NAME: &str = "ruc-proxy";
const JSON: &str = "application/json";

/// An answer from Redis: a record (200) or a remembered "no such RUC"
/// (404).
pub async fn hit(session: &mut Session, status: u16, cached: &Cached) -> Result<()> {
    let cache_status = format!("{CACHE_NAME}; hit; ttl={}", cached.ttl_ms / 1000);
    from_cache(session, status, cached, "HIT", cache_status).await
}

/// Why a record past its freshness is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stale {
    /// The scraper failed (an error status, no answer, or no answer in time).
    IfError,
    /// Served at once while one background request refreshes it.
    WhileRevalidate,
}

/// A stale record. `Cache-Status` carries its negative `ttl` (how long ago
/// it went stale) and why it was served.
pub async fn stale(session: &mut Session, cached: &Cached, why: Stale) -> Result<()> {
    let stale_for = cached.ttl_ms.unsigned_abs().div_ceil(1000).max(1);
    let cache_status = match why {
        Stale::IfError => format!("{CACHE_NAME}; fwd=stale; ttl=-{stale_for}; detail=stale-if-error"),
        Stale::WhileRevalidate => format!("{CACHE_NAME}; hit; ttl=-{stale_for}; detail=stale-while-revalidate"),
    };
    from_cache(session, 200, cached, "STALE", cache_status).await
}

async fn from_cache(
    session: &mut Session,
    status: u16,
    cached: &Cached,
    x_cache: &'static str,
    cache_status: String,
) -> Result<()> {
    let mut header = ResponseHeader::build(status, Some(6))?;
    header.insert_header("Content-Type", JSON)?;
    header.insert_header("Age", cached.age.as_secs().to_string())?;
    header.insert_header("X-Cache", x_cache)?;
    header.insert_header("Cache-Status", cache_status)?;
    send(session, header, cached.body.clone()).await
}

/// A scraper answer the proxy holds whole: the one of the lookup this
/// request was `collapsed` into, or of its own direct lookup.
pub async fn shared(session: &mut Session, answer: &Answer, collapsed: bool) -> Result<()> {
    let mut header = ResponseHeader::build(answer.status, Some(5))?;
    for (name, value) in &answer.headers {
        header.insert_header(*name, value.as_str())?;
    }
    let collapsed = if collapsed { "; collapsed" } else { "" };
    header.insert_header("X-Cache", "MISS")?;
    header.insert_header(
        "Cache-Status",
        format!("{CACHE_NAME}; fwd=miss; fwd-status={}{collapsed}", answer.status),
    )?;
    send(session, header, answer.body.clone()).await
}

/// The scraper was not asked: its breaker is open or no slot became free.
pub async fn refused(session: &mut Session, refusal: Refusal, ruc: &str) -> Result<()> {
    let answer = refused_answer(refusal, ruc);
    let mut header = ResponseHeader::build(answer.status, Some(5))?;
    for (name, value) in &answer.headers {
        header.insert_header(*name, value.as_str())?;
    }
    header.insert_header("X-Cache", "MISS")?;
    header.insert_header("Cache-Status", format!("{CACHE_NAME}; detail={}", refusal.reason()))?;
    send(session, header, answer.body).await
}

/// The 503 of a refusal, also shared with the lookups that waited for it.
pub fn refused_answer(refusal: Refusal, ruc: &str) -> Answer {
    let detail = match refusal {
        Refusal::BreakerOpen(_) => "El servicio de consulta falló varias veces seguidas; se reintentará en breve.",
        Refusal::QueueFull => "Hay demasiadas consultas en curso; intente de nuevo en unos segundos.",
    };
    let mut answer = Answer::json(503, error_body(detail, ruc));
    answer
        .headers
        .push(("Retry-After", refusal.retry_after_secs().to_string()));
    answer
}

/// Marks an answer coming from the scraper.
pub fn mark_miss(header: &mut ResponseHeader, store_unavailable: bool) -> Result<()> {
    let detail = if store_unavailable {
        "; detail=redis-unavailable"
    } else {
        ""
    };
    let status = header.status.as_u16();
    header.insert_header("X-Cache", "MISS")?;
    header.insert_header(
        "Cache-Status",
        format!("{CACHE_NAME}; fwd=miss; fwd-status={status}{detail}"),
    )
}

/// Why the proxy answers a lookup with an error of its own; its
/// `Cache-Status` detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OwnError {
    /// Not a RUC (400); never forwarded.
    InvalidRuc,
    /// A lookup with a body (400); never forwarded.
    RequestBody,
    /// The scraper could not be reached or gave no complete answer (502).
    ScraperUnreachable,
    /// The scraper did not answer within `UPSTREAM_TIMEOUT_SECS` (504).
    ScraperTimeout,
    /// The lookup in flight this request waited for did not end in time (504).
    LeaderTimeout,
}

impl OwnError {
    /// RFC 9211: `fwd=miss` when the lookup went towards the scraper.
    fn cache_status(self) -> &'static str {
        match self {
            OwnError::InvalidRuc => "ruc-proxy; detail=invalid-ruc",
            OwnError::RequestBody => "ruc-proxy; detail=request-body",
            OwnError::ScraperUnreachable => "ruc-proxy; fwd=miss; detail=scraper-unreachable",
            OwnError::ScraperTimeout => "ruc-proxy; fwd=miss; detail=scraper-timeout",
            OwnError::LeaderTimeout => "ruc-proxy; fwd=miss; collapsed; detail=leader-timeout",
        }
    }
}

/// A lookup error the proxy answers itself: the original service's error
/// body (already made), with a real status and the cache headers of every
/// lookup answer.
pub async fn own_error(session: &mut Session, status: u16, body: Bytes, why: OwnError) -> Result<()> {
    let mut header = ResponseHeader::build(status, Some(4))?;
    header.insert_header("Content-Type", JSON)?;
    header.insert_header("X-Cache", "MISS")?;
    header.insert_header("Cache-Status", why.cache_status())?;
    send(session, header, body).await
}

/// The status and detail when the scraper gave no answer: in time (504)
/// or at all (502).
pub fn no_answer(timed_out: bool) -> (u16, &'static str) {
    if timed_out {
        (504, "El servicio de consulta (scraper) no respondió a tiempo.")
    } else {
        (502, "No se pudo obtener respuesta del servicio de consulta (scraper).")
    }
}

pub fn error_body(detail: &str, ruc: &str) -> Bytes {
    Bytes::from(serde_json::to_vec(&ErrorBody::new(detail, ruc)).expect("serialisable"))
}

pub async fn json_value(session: &mut Session, status: u16, value: &Value) -> Result<()> {
    json(session, status, &Bytes::from(value.to_string())).await
}

/// A request no route takes (404, or 400 when it is malformed).
pub async fn route_error(session: &mut Session, status: u16, error: &RouteError) -> Result<()> {
    let body = serde_json::to_vec(error).expect("serialisable");
    json(session, status, &Bytes::from(body)).await
}

/// 405 with the methods the route takes.
pub async fn method_not_allowed(session: &mut Session) -> Result<()> {
    let mut header = ResponseHeader::build(405, Some(3))?;
    header.insert_header("Content-Type", JSON)?;
    header.insert_header("Allow", "GET, HEAD")?;
    let error = RouteError::method_not_allowed(session.req_header().method.as_str());
    let body = serde_json::to_vec(&error).expect("serialisable");
    send(session, header, Bytes::from(body)).await
}

/// A JSON body already serialised.
pub async fn json(session: &mut Session, status: u16, body: &Bytes) -> Result<()> {
    let mut header = ResponseHeader::build(status, Some(2))?;
    header.insert_header("Content-Type", JSON)?;
    send(session, header, body.clone()).await
}

/// Writes a complete answer; a HEAD request gets the headers only.
async fn send(session: &mut Session, mut header: ResponseHeader, body: Bytes) -> Result<()> {
    header.insert_header("Content-Length", body.len().to_string())?;
    let head = session.req_header().method == Method::HEAD;
    session.write_response_header(Box::new(header), head).await?;
    if !head {
        session.write_response_body(Some(body), true).await?;
    }
    Ok(())
}
