//! The one client to the scrapers. Every lookup that needs a scraper (a GET
//! or HEAD that missed, a stale-while-revalidate refresh, an operator's
//! refresh) asks through [`ScraperClient::fetch`], and what the scraper did
//! is classified here, once, as a [`Fetched`]; what each outcome means for
//! the client, the followers, the store and the breaker is decided in
//! [`crate::lookup::outcome`].
//!
//! hyper-util's pooled client rather than Pingora's connector: the proxy
//! needs each answer whole before anyone gets it (it is stored first, then
//! shared), which here is one request and a bounded `collect`; with
//! Pingora's connector the proxy would drive the HTTP session itself
//! (request head, response head, body chunks, handing the connection back
//! to the pool) for the same result. Which scraper is asked stays with
//! pingora-load-balancing ([`Scrapers::pick`]).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::subject::Subject;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, LengthLimitError, Limited};
use hyper::Request;
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use startup::TraceParent;
use tracing::{warn, Span};

use super::answer::{shared_headers, Answer};
use super::{Picked, Scrapers, CONNECT_TIMEOUT};

/// How long an idle connection to a scraper is kept for the next lookup.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The least a scraper's answer may weigh before it is too large to keep,
/// whatever `CACHE_MAX_BODY_BYTES` says.
const KEEP_AT_LEAST_BYTES: usize = 1 << 20;

/// An HTTP client for the scrapers, with the bounds of a lookup.
pub(crate) struct ScraperClient {
    scrapers: Arc<Scrapers>,
    http: Client<HttpConnector, Empty<Bytes>>,
    /// `UPSTREAM_TIMEOUT_SECS`: the whole exchange, connection included.
    timeout: Duration,
    /// Answers up to this size are kept whole; larger ones are refused.
    keep_bytes: usize,
}

/// What a scraper did for a lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fetched {
    /// Its whole answer, whatever its status.
    Answered(Answer),
    /// An answer with this status, larger than the proxy keeps in memory
    /// (1 MiB, or `CACHE_MAX_BODY_BYTES` if larger): read no further.
    TooLarge(u16),
    /// No scraper took the connection (none healthy, or the ones asked
    /// refused): the lookup was not sent.
    Refused,
    /// The connection broke after the lookup was sent, before the whole
    /// answer arrived.
    Reset,
    /// No whole answer within `UPSTREAM_TIMEOUT_SECS`.
    TimedOut,
}

/// A fetch's outcome, and the scraper that gave it (counted in flight on
/// it until dropped).
pub(crate) struct Fetch {
    pub(crate) fetched: Fetched,
    pub(crate) scraper: Option<Picked>,
}

/// One exchange with one scraper.
enum Exchange {
    /// It refused the connection: nothing was sent, another may be asked.
    Refused(hyper_util::client::legacy::Error),
    Ended(Fetched),
}

impl ScraperClient {
    pub(crate) fn new(scrapers: Arc<Scrapers>, timeout: Duration, max_body_bytes: usize) -> ScraperClient {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        connector.set_nodelay(true);
        ScraperClient {
            scrapers,
            http: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(IDLE_TIMEOUT)
                .build(connector),
            timeout,
            keep_bytes: max_body_bytes.max(KEEP_AT_LEAST_BYTES),
        }
    }

    /// `GET /obtener-ruc/<ruc>[/<kind>]` on the healthy scraper with the fewest
    /// lookups in flight (another one, once, if it refuses the connection),
    /// within the upstream timeout.
    /// The scraper gets a `traceparent`: this lookup's span when its trace
    /// is exported, else `trace`, the request's context.
    pub(crate) async fn fetch(&self, subject: &Subject, trace: Option<TraceParent>) -> Fetch {
        let mut scraper = None;
        let trace = TraceParent::of_span(&Span::current()).or(trace);
        let asked = tokio::time::timeout(self.timeout, self.ask(subject, trace, &mut scraper)).await;
        Fetch {
            fetched: asked.unwrap_or(Fetched::TimedOut),
            scraper,
        }
    }

    /// Asks a scraper, and a second one when the first refuses the
    /// connection (counted against it); `scraper` is the one asked last.
    async fn ask(&self, subject: &Subject, trace: Option<TraceParent>, scraper: &mut Option<Picked>) -> Fetched {
        let mut refused_by = None;
        for _ in 0..2 {
            let Some(picked) = self.scrapers.pick(refused_by) else {
                break;
            };
            let address = picked.address();
            *scraper = Some(picked);
            match self.exchange(address, subject, trace).await {
                Exchange::Ended(fetched) => return fetched,
                Exchange::Refused(error) => {
                    warn!(%subject, %address, %error, "scraper refused the connection");
                    if let Some(refusing) = scraper.take() {
                        refusing.failed();
                    }
                    refused_by = Some(address);
                }
            }
        }
        if refused_by.is_none() {
            warn!(%subject, "no healthy scraper");
        }
        Fetched::Refused
    }

    async fn exchange(&self, scraper: SocketAddr, subject: &Subject, trace: Option<TraceParent>) -> Exchange {
        let mut request = Request::get(format!("http://{scraper}{}", subject.path()));
        if let Some(trace) = &trace {
            request = request.header("traceparent", trace.as_str());
        }
        let request = request
            .body(Empty::new())
            .expect("an address and a RUC's path make a valid request");
        let response = match self.http.request(request).await {
            Ok(response) => response,
            Err(error) if error.is_connect() => return Exchange::Refused(error),
            Err(error) => {
                warn!(%subject, %scraper, %error, "the connection to the scraper broke");
                return Exchange::Ended(Fetched::Reset);
            }
        };
        let status = response.status().as_u16();
        let headers = shared_headers(response.headers());
        let fetched = match Limited::new(response.into_body(), self.keep_bytes).collect().await {
            Ok(body) => Fetched::Answered(Answer {
                status,
                headers,
                body: body.to_bytes(),
            }),
            Err(error) if error.is::<LengthLimitError>() => Fetched::TooLarge(status),
            Err(error) => {
                warn!(%subject, %scraper, %error, "the scraper's answer was cut short");
                Fetched::Reset
            }
        };
        Exchange::Ended(fetched)
    }
}
