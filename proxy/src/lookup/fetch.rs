//! The scraper asked directly, over plain HTTP, instead of through
//! Pingora's proxying: for lookups whose answer the proxy needs whole before
//! anyone gets it. Background refreshes have no client to pass it to, and a
//! HEAD client would make Pingora stop reading the scraper's body, so that
//! the record could not be stored.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use ruc_contract::{Ruc, LOOKUP_PREFIX};
use tracing::warn;

use super::outcome::Fetched;
use crate::cache::coalesce::{shared_headers, Answer};
use crate::config::Upstream;

/// An HTTP client for the scraper, with the bounds of a proxied lookup.
pub(crate) struct Fetcher {
    authority: String,
    timeout: std::time::Duration,
    max_body_bytes: usize,
    http: Client<HttpConnector, Empty<Bytes>>,
}

impl Fetcher {
    pub(crate) fn new(scraper: &Upstream, timeout: std::time::Duration, max_body_bytes: usize) -> Fetcher {
        Fetcher {
            authority: scraper.authority(),
            timeout,
            max_body_bytes,
            http: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// `GET /obtener-ruc/<ruc>` on the scraper, within the upstream timeout.
    pub(crate) async fn fetch(&self, ruc: &Ruc) -> Fetched {
        match tokio::time::timeout(self.timeout, self.exchange(ruc)).await {
            Ok(Ok(answer)) => Fetched::Answered(answer),
            Ok(Err(error)) => {
                warn!(%ruc, error, "scraper gave no answer");
                Fetched::NoAnswer { timed_out: false }
            }
            Err(_) => Fetched::NoAnswer { timed_out: true },
        }
    }

    async fn exchange(&self, ruc: &Ruc) -> Result<Answer, String> {
        let uri = format!("http://{}{LOOKUP_PREFIX}{ruc}", self.authority);
        let uri: hyper::Uri = uri.parse().map_err(|e| format!("{e}"))?;
        let response = self.http.get(uri).await.map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let headers = shared_headers(response.headers());
        let body = Limited::new(response.into_body(), self.max_body_bytes)
            .collect()
            .await
            .map_err(|e| e.to_string())?;
        Ok(Answer {
            status,
            headers,
            body: body.to_bytes(),
        })
    }
}
