//! The scraper asked directly, over plain HTTP, instead of through
//! Pingora's proxying: for lookups whose answer the proxy needs whole before
//! anyone gets it. Background refreshes have no client to pass it to, and a
//! HEAD client would make Pingora stop reading the scraper's body, so that
//! the record could not be stored.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use ruc_contract::{Ruc, LOOKUP_PREFIX};
use tracing::warn;

use super::outcome::Fetched;
use crate::cache::coalesce::{shared_headers, Answer};
use crate::scrapers::{Picked, Scrapers, CONNECT_TIMEOUT};

/// An HTTP client for the scrapers, with the bounds of a proxied lookup.
pub(crate) struct Fetcher {
    scrapers: Arc<Scrapers>,
    timeout: Duration,
    max_body_bytes: usize,
    http: Client<HttpConnector, Empty<Bytes>>,
}

/// Why a scraper gave no answer.
enum Failure {
    /// It refused the connection: nothing was sent, another may be asked.
    Refused(String),
    Other(String),
}

impl Fetcher {
    pub(crate) fn new(scrapers: Arc<Scrapers>, timeout: Duration, max_body_bytes: usize) -> Fetcher {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(CONNECT_TIMEOUT));
        Fetcher {
            scrapers,
            timeout,
            max_body_bytes,
            http: Client::builder(TokioExecutor::new()).build(connector),
        }
    }

    /// `GET /obtener-ruc/<ruc>` on a healthy scraper (another one, once,
    /// if it refuses the connection), within the upstream timeout; and the
    /// scraper that answered or failed.
    pub(crate) async fn fetch(&self, ruc: &Ruc) -> (Fetched, Option<Picked>) {
        let no_answer = Fetched::NoAnswer { timed_out: false };
        let Some(mut picked) = self.scrapers.pick(None) else {
            warn!(%ruc, "no healthy scraper");
            return (no_answer, None);
        };
        let exchange = async {
            match self.exchange(picked.address(), ruc).await {
                Err(Failure::Refused(error)) => {
                    warn!(%ruc, scraper = %picked.address(), error, "scraper refused the connection");
                    picked.failed();
                    let Some(other) = self.scrapers.pick(Some(picked.address())) else {
                        return Err(Failure::Other(error));
                    };
                    picked = other;
                    self.exchange(picked.address(), ruc).await
                }
                answered => answered,
            }
        };
        let fetched = match tokio::time::timeout(self.timeout, exchange).await {
            Ok(Ok(answer)) => Fetched::Answered(answer),
            Ok(Err(Failure::Refused(error) | Failure::Other(error))) => {
                warn!(%ruc, error, "scraper gave no answer");
                no_answer
            }
            Err(_) => Fetched::NoAnswer { timed_out: true },
        };
        (fetched, Some(picked))
    }

    async fn exchange(&self, scraper: SocketAddr, ruc: &Ruc) -> Result<Answer, Failure> {
        let uri = format!("http://{scraper}{LOOKUP_PREFIX}{ruc}");
        let uri: hyper::Uri = uri.parse().map_err(|e| Failure::Other(format!("{e}")))?;
        let response = self.http.get(uri).await.map_err(|e| {
            if e.is_connect() {
                Failure::Refused(e.to_string())
            } else {
                Failure::Other(e.to_string())
            }
        })?;
        let status = response.status().as_u16();
        let headers = shared_headers(response.headers());
        let body = Limited::new(response.into_body(), self.max_body_bytes)
            .collect()
            .await
            .map_err(|e| Failure::Other(e.to_string()))?;
        Ok(Answer {
            status,
            headers,
            body: body.to_bytes(),
        })
    }
}
