//! The answers the proxy writes itself (hits, stale records, shared answers,
//! its own errors) and the cache headers every lookup answer carries:
//!
//! - `X-Cache: HIT` or `MISS`, as the original service's clients expect,
//!   or `STALE` for a record past its freshness;
//! - `Cache-Status` (RFC 9211), e.g. `ruc-proxy; hit; ttl=604795`,
//!   `ruc-proxy; fwd=miss; fwd-status=200; collapsed`,
//!   `ruc-proxy; fwd=stale; ttl=-3600; detail=stale-if-error`, or for an
//!   error of the proxy's own `ruc-proxy; detail=invalid-ruc`;
//! - `Age` on answers from the cache: seconds since they were stored.
//!
//! Answers are built as plain [`Reply`] values, so that the decisions that
//! choose them are tested without a Pingora session, and written by
//! [`send`].

use std::borrow::Cow;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue, AGE, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER};
use http::StatusCode;
use pingora::http::{Method, ResponseHeader};
use pingora::proxy::Session;
use pingora::{ErrorType::InvalidHTTPHeader, OrErr, Result};
use ruc_contract::{ErrorBody, RouteError};
use serde_json::Value;

use crate::cache::cached::Cached;
use crate::cache::coalesce::Answer;
use crate::upstream::Refusal;

/// This cache's name in `Cache-Status`.
const CACHE_NAME: &str = "ruc-proxy";
/// The cache headers' names as they go out, in lower case as the original
/// service (and Pingora, for names it does not know) wrote them.
const X_CACHE: &str = "x-cache";
const CACHE_STATUS: &str = "cache-status";
const JSON: &str = "application/json";

/// A whole answer: status, headers (`Content-Length` is added when it is
/// written) and body. Header values are borrowed when they are constants:
/// every hit builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, Cow<'static, str>)>,
    pub(crate) body: Bytes,
}

impl Reply {
    /// A JSON body already serialised.
    pub(crate) fn json(status: u16, body: Bytes) -> Reply {
        Reply {
            status,
            headers: {
                let mut headers = Vec::with_capacity(6);
                headers.push(("Content-Type", Cow::Borrowed(JSON)));
                headers
            },
            body,
        }
    }

    fn with(mut self, name: &'static str, value: impl Into<Cow<'static, str>>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }

    /// The value of a header, if it has it.
    #[cfg(test)]
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// An answer from Redis: a record (200) or a remembered "no such RUC"
/// (404).
pub(crate) fn hit(status: u16, cached: &Cached) -> Reply {
    let cache_status = format!("{CACHE_NAME}; hit; ttl={}", cached.ttl_ms / 1000);
    from_cache(status, cached, "HIT", cache_status)
}

/// Why a record past its freshness is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stale {
    /// The scraper failed (an error status, no answer, or no answer in time).
    IfError,
    /// Served at once while one background request refreshes it.
    WhileRevalidate,
}

/// A stale record. `Cache-Status` carries its negative `ttl` (how long ago
/// it went stale) and why it was served.
pub(crate) fn stale(cached: &Cached, why: Stale) -> Reply {
    let stale_for = cached.ttl_ms.unsigned_abs().div_ceil(1000).max(1);
    let cache_status = match why {
        Stale::IfError => format!("{CACHE_NAME}; fwd=stale; ttl=-{stale_for}; detail=stale-if-error"),
        Stale::WhileRevalidate => format!("{CACHE_NAME}; hit; ttl=-{stale_for}; detail=stale-while-revalidate"),
    };
    from_cache(200, cached, "STALE", cache_status)
}

fn from_cache(status: u16, cached: &Cached, x_cache: &'static str, cache_status: String) -> Reply {
    Reply::json(status, cached.body.clone())
        .with("Age", cached.age.as_secs().to_string())
        .with(X_CACHE, x_cache)
        .with(CACHE_STATUS, cache_status)
}

/// A scraper answer the proxy holds whole: the one of the lookup this
/// request was `collapsed` into, or of its own direct lookup.
pub(crate) fn shared(answer: &Answer, collapsed: bool) -> Reply {
    let collapsed = if collapsed { "; collapsed" } else { "" };
    let reply = Reply {
        status: answer.status,
        headers: owned(&answer.headers),
        body: answer.body.clone(),
    };
    reply.with(X_CACHE, "MISS").with(
        CACHE_STATUS,
        format!("{CACHE_NAME}; fwd=miss; fwd-status={}{collapsed}", answer.status),
    )
}

fn owned(headers: &[(&'static str, String)]) -> Vec<(&'static str, Cow<'static, str>)> {
    headers
        .iter()
        .map(|(name, value)| (*name, Cow::Owned(value.clone())))
        .collect()
}

/// The scraper was not asked: its breaker is open or no slot became free.
pub(crate) fn refused(refusal: Refusal, ruc: &str) -> Reply {
    let answer = refused_answer(refusal, ruc);
    Reply {
        status: answer.status,
        headers: owned(&answer.headers),
        body: answer.body,
    }
    .with(X_CACHE, "MISS")
    .with(CACHE_STATUS, format!("{CACHE_NAME}; detail={}", refusal.reason()))
}

/// The 503 of a refusal, also shared with the lookups that waited for it.
pub(crate) fn refused_answer(refusal: Refusal, ruc: &str) -> Answer {
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

/// Marks an answer coming from the scraper, passed on as it arrives, with
/// why Redis was not used (`redis-unavailable`: neither to cache nor to
/// coordinate; `fleet-unavailable`: not to coordinate).
pub(crate) fn mark_miss(header: &mut ResponseHeader, redis_detail: Option<&str>) -> Result<()> {
    let status = header.status.as_u16();
    let cache_status = match redis_detail {
        Some(detail) => format!("{CACHE_NAME}; fwd=miss; fwd-status={status}; detail={detail}"),
        None => format!("{CACHE_NAME}; fwd=miss; fwd-status={status}"),
    };
    header.insert_header(X_CACHE, "MISS")?;
    header.insert_header(CACHE_STATUS, cache_status)
}

/// Why the proxy answers a lookup with an error of its own; its
/// `Cache-Status` detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnError {
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
pub(crate) fn own_error(status: u16, body: Bytes, why: OwnError) -> Reply {
    Reply::json(status, body)
        .with(X_CACHE, "MISS")
        .with(CACHE_STATUS, why.cache_status())
}

/// The status, detail and reason when the scraper gave no answer: in time
/// (504) or at all (502).
pub(crate) fn no_answer(timed_out: bool) -> (u16, &'static str, OwnError) {
    if timed_out {
        (
            504,
            "El servicio de consulta (scraper) no respondió a tiempo.",
            OwnError::ScraperTimeout,
        )
    } else {
        (
            502,
            "No se pudo obtener respuesta del servicio de consulta (scraper).",
            OwnError::ScraperUnreachable,
        )
    }
}

/// The original service's error body.
pub(crate) fn error_body(detail: &str, ruc: &str) -> Bytes {
    Bytes::from(serde_json::to_vec(&ErrorBody::new(detail, ruc)).expect("serialisable"))
}

/// A request no route takes (404, or 400 when it is malformed).
pub(crate) fn route_error(status: u16, error: &RouteError) -> Reply {
    Reply::json(status, Bytes::from(serde_json::to_vec(error).expect("serialisable")))
}

/// 405 with the methods the route takes.
pub(crate) fn method_not_allowed(method: &Method) -> Reply {
    route_error(405, &RouteError::method_not_allowed(method.as_str())).with("Allow", "GET, HEAD")
}

/// A JSON document, such as the health report.
pub(crate) fn json_value(status: u16, value: &Value) -> Reply {
    Reply::json(status, Bytes::from(value.to_string()))
}

/// Writes a whole answer; a HEAD request gets the headers only. The head
/// is built without Pingora's header-case map: known names need no parsing
/// and nothing is allocated for them (Pingora writes the standard ones in
/// title case, the others in lower case; header names are case-insensitive).
pub(crate) async fn send(session: &mut Session, reply: Reply) -> Result<()> {
    let mut headers = HeaderMap::with_capacity(reply.headers.len() + 1);
    for (name, value) in reply.headers {
        let value = match value {
            Cow::Borrowed(text) => HeaderValue::from_static(text),
            Cow::Owned(text) => HeaderValue::try_from(text).or_err(InvalidHTTPHeader, "invalid header value")?,
        };
        headers.insert(header_name(name)?, value);
    }
    headers.insert(CONTENT_LENGTH, HeaderValue::from(reply.body.len()));
    let (mut head, ()) = http::Response::new(()).into_parts();
    head.status = StatusCode::from_u16(reply.status).or_err(InvalidHTTPHeader, "invalid status")?;
    head.headers = headers;
    let head_only = session.req_header().method == Method::HEAD;
    session
        .write_response_header(Box::new(ResponseHeader::from(head)), head_only)
        .await?;
    if !head_only {
        session.write_response_body(Some(reply.body), true).await?;
    }
    Ok(())
}

/// The names this module writes, without parsing them per answer.
fn header_name(name: &'static str) -> Result<HeaderName> {
    Ok(match name {
        "Content-Type" => CONTENT_TYPE,
        "Age" => AGE,
        X_CACHE => HeaderName::from_static(X_CACHE),
        CACHE_STATUS => HeaderName::from_static(CACHE_STATUS),
        "Retry-After" => RETRY_AFTER,
        "Allow" => ALLOW,
        other => HeaderName::from_bytes(other.as_bytes()).or_err(InvalidHTTPHeader, "invalid header name")?,
    })
}
