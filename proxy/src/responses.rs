//! The answers the proxy gives (hits, stale records, shared answers, its
//! own errors) and the cache headers every lookup answer carries:
//!
//! - `X-Cache: HIT` or `MISS`, as the original service's clients expect,
//!   or `STALE` for a record past its freshness;
//! - `Cache-Status` (RFC 9211), e.g. `ruc-proxy; hit; ttl=604795`,
//!   `ruc-proxy; fwd=miss; fwd-status=200; collapsed`,
//!   `ruc-proxy; fwd=stale; ttl=-3600; detail=stale-if-error`, or for an
//!   error of the proxy's own `ruc-proxy; detail=invalid-ruc`;
//! - `Age` on answers from the cache: seconds since they were stored.
//!
//! Answers are plain [`Reply`] values, so that the decisions that choose
//! them are tested without a connection; [`crate::front::wire`] writes them.

use std::borrow::Cow;

use bytes::Bytes;
use ruc_contract::{ErrorBody, RouteError};
use serde_json::Value;

use crate::cache::cached::Cached;
use crate::gate::Refusal;
use crate::scrapers::answer::{Answer, CACHE_STATUS};

/// This cache's name in `Cache-Status`.
const CACHE_NAME: &str = "ruc-proxy";
/// The cache headers' names as they go out, in lower case as the original
/// service wrote them (`cache-status` too).
const X_CACHE: &str = "x-cache";
const JSON: &str = "application/json";

/// A whole answer: status, headers (`Content-Length`, `Date` and
/// `Connection` are added when it is written) and body. Header values are
/// borrowed when they are constants: every hit builds one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(&'static str, Cow<'static, str>)>,
    pub(crate) body: Bytes,
}

impl Reply {
    /// A JSON body already serialised.
    pub(crate) fn json(status: u16, body: Bytes) -> Reply {
        Reply::typed(status, JSON, body)
    }

    /// A body of `content_type`.
    fn typed(status: u16, content_type: &'static str, body: Bytes) -> Reply {
        let mut headers = Vec::with_capacity(6);
        headers.push(("Content-Type", Cow::Borrowed(content_type)));
        Reply { status, headers, body }
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

/// What this replica still holds of a RUC while Redis cannot be read: a
/// record (200) or SUNAT's "no such RUC" (404), served as stale ones are.
pub(crate) fn kept(status: u16, cached: &Cached) -> Reply {
    let cache_status = format!(
        "{CACHE_NAME}; hit; ttl={}; detail=redis-unavailable",
        cached.ttl_ms / 1000
    );
    from_cache(status, cached, "STALE", cache_status)
}

fn from_cache(status: u16, cached: &Cached, x_cache: &'static str, cache_status: String) -> Reply {
    Reply::json(status, cached.body.clone())
        .with("Age", cached.age.as_secs().to_string())
        .with(X_CACHE, x_cache)
        .with(CACHE_STATUS, cache_status)
}

/// How the request that gets a scraper's answer came by it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Came {
    /// It led the lookup; `detail` says why Redis was not used, if it was
    /// not (`redis-unavailable`: neither to cache nor to coordinate;
    /// `fleet-unavailable`: not to coordinate).
    Led { detail: Option<&'static str> },
    /// It waited for the lookup in flight (`collapsed`).
    Followed,
}

/// The answer a lookup ended with, to the request that led it or followed
/// it: a scraper's (`fwd-status`), or the proxy's own in its place, whose
/// `Cache-Status` says why.
pub(crate) fn shared(answer: &Answer, came: Came) -> Reply {
    let status = answer.status;
    let cache_status = match (answer.own_cache_status(), came) {
        (Some(own), Came::Led { .. }) => own.to_string(),
        (Some(own), Came::Followed) => format!("{own}; collapsed"),
        (None, Came::Led { detail: None }) => format!("{CACHE_NAME}; fwd=miss; fwd-status={status}"),
        (None, Came::Led { detail: Some(detail) }) => {
            format!("{CACHE_NAME}; fwd=miss; fwd-status={status}; detail={detail}")
        }
        (None, Came::Followed) => format!("{CACHE_NAME}; fwd=miss; fwd-status={status}; collapsed"),
    };
    let headers = answer
        .headers
        .iter()
        .filter(|(name, _)| *name != CACHE_STATUS)
        .map(|(name, value)| (*name, Cow::Owned(value.clone())))
        .collect();
    Reply {
        status,
        headers,
        body: answer.body.clone(),
    }
    .with(X_CACHE, "MISS")
    .with(CACHE_STATUS, cache_status)
}

/// The 503 of a lookup the gate did not let go, for its client and the
/// lookups that waited for it.
pub(crate) fn refused_answer(refusal: Refusal, ruc: &str) -> Answer {
    let detail = match refusal {
        Refusal::BreakerOpen(_) => "El servicio de consulta falló varias veces seguidas; se reintentará en breve.",
        Refusal::QueueFull => "Hay demasiadas consultas en curso; intente de nuevo en unos segundos.",
    };
    let cache_status = format!("{CACHE_NAME}; detail={}", refusal.reason());
    let mut answer = Answer::own(503, error_body(detail, ruc), &cache_status);
    answer
        .headers
        .push(("Retry-After", refusal.retry_after_secs().to_string()));
    answer
}

/// The answer the proxy gives in a scraper's place when a lookup failed,
/// for its client and the lookups that waited for it.
pub(crate) fn own_answer(why: OwnError, ruc: &str) -> Answer {
    Answer::own(why.status(), error_body(why.detail(), ruc), why.cache_status())
}

/// Why the proxy answers a lookup with an error of its own; its status,
/// detail and `Cache-Status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OwnError {
    /// Not a RUC (400); never forwarded.
    InvalidRuc,
    /// A lookup with a body (400); never forwarded.
    RequestBody,
    /// No scraper took the connection, or it broke before a whole answer
    /// (502).
    ScraperUnreachable,
    /// The scraper did not answer within `UPSTREAM_TIMEOUT_SECS` (504).
    ScraperTimeout,
    /// The scraper's answer was larger than the proxy keeps (502).
    AnswerTooLarge,
    /// The lookup in flight this request waited for did not end in time (504).
    LeaderTimeout,
    /// A batch item not answered by its batch's deadline (504).
    BatchTimeout,
}

impl OwnError {
    fn status(self) -> u16 {
        match self {
            OwnError::InvalidRuc | OwnError::RequestBody => 400,
            OwnError::ScraperUnreachable | OwnError::AnswerTooLarge => 502,
            OwnError::ScraperTimeout | OwnError::LeaderTimeout | OwnError::BatchTimeout => 504,
        }
    }

    /// What the error body says (an invalid RUC says why it is invalid
    /// instead).
    fn detail(self) -> &'static str {
        match self {
            OwnError::InvalidRuc => "El RUC no es válido.",
            OwnError::RequestBody => "Una consulta no lleva cuerpo (Content-Length o Transfer-Encoding).",
            OwnError::ScraperUnreachable => "No se pudo obtener respuesta del servicio de consulta (scraper).",
            OwnError::ScraperTimeout => "El servicio de consulta (scraper) no respondió a tiempo.",
            OwnError::AnswerTooLarge => "La respuesta del servicio de consulta (scraper) es demasiado grande.",
            OwnError::LeaderTimeout => "La consulta en curso para este RUC no terminó a tiempo.",
            OwnError::BatchTimeout => {
                "La consulta por lotes no terminó a tiempo; este RUC se sigue consultando y quedará guardado."
            }
        }
    }

    /// RFC 9211: `fwd=miss` when the lookup went towards the scraper.
    fn cache_status(self) -> &'static str {
        match self {
            OwnError::InvalidRuc => "ruc-proxy; detail=invalid-ruc",
            OwnError::RequestBody => "ruc-proxy; detail=request-body",
            OwnError::ScraperUnreachable => "ruc-proxy; fwd=miss; detail=scraper-unreachable",
            OwnError::ScraperTimeout => "ruc-proxy; fwd=miss; detail=scraper-timeout",
            OwnError::AnswerTooLarge => "ruc-proxy; fwd=miss; detail=scraper-answer-too-large",
            OwnError::LeaderTimeout => "ruc-proxy; fwd=miss; collapsed; detail=leader-timeout",
            OwnError::BatchTimeout => "ruc-proxy; fwd=miss; detail=batch-timeout",
        }
    }
}

/// A lookup error the proxy answers itself: the original service's error
/// body about `ruc` (as requested), with a real status and the cache
/// headers of every lookup answer; `detail` is `why`'s unless given.
pub(crate) fn own_error(why: OwnError, ruc: &str, detail: Option<&str>) -> Reply {
    let body = error_body(detail.unwrap_or(why.detail()), ruc);
    Reply::json(why.status(), body)
        .with(X_CACHE, "MISS")
        .with(CACHE_STATUS, why.cache_status())
}

/// The original service's error body.
pub(crate) fn error_body(detail: &str, ruc: &str) -> Bytes {
    Bytes::from(serde_json::to_vec(&ErrorBody::new(detail, ruc)).expect("serialisable"))
}

/// A request no route takes, or one that is malformed: `status` and the
/// body of route errors.
pub(crate) fn route_error(status: u16, error: &RouteError) -> Reply {
    Reply::json(status, Bytes::from(serde_json::to_vec(error).expect("serialisable")))
}

/// 405 with the methods the route takes (`allow`, e.g. `GET, HEAD`).
pub(crate) fn method_not_allowed(method: &str, allow: &'static str) -> Reply {
    let detail = format!("{method} no está permitido; use {allow}");
    route_error(405, &RouteError::new("Method Not Allowed", detail)).with("Allow", allow)
}

/// The head of a batch's answer in lines (NDJSON); the lines follow.
pub(crate) fn lines_head() -> Reply {
    Reply::typed(200, "application/x-ndjson", Bytes::new())
}

/// `/livez`: the process serves.
pub(crate) fn alive() -> Reply {
    Reply::json(200, Bytes::from_static(br#"{"status":"alive"}"#))
}

/// A JSON document, such as the health report.
pub(crate) fn json_value(status: u16, value: &Value) -> Reply {
    Reply::json(status, Bytes::from(value.to_string()))
}
