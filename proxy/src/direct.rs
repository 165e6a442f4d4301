//! Lookups the proxy sends to the scraper itself instead of proxying them
//! through Pingora, through the same guard (slots, circuit breaker) and
//! under the RUC's flight, so that concurrent misses wait for them:
//!
//! - background refreshes: of a stale record (stale-while-revalidate) and
//!   on the admin API's request; the current record is served meanwhile;
//! - HEAD misses: Pingora stops reading the scraper's body once a HEAD
//!   client has its headers, so a proxied HEAD could not store the record.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use ruc_contract::Ruc;
use tracing::{info, warn};

use crate::cache::admission;
use crate::cache::coalesce::{Answer, Flight};
use crate::cache::store::Store;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::responses;
use crate::upstream::{Guard, Refusal};

pub struct Direct {
    store: Arc<Store>,
    guard: Arc<Guard>,
    config: Config,
    http: Client<HttpConnector, Empty<Bytes>>,
}

/// Why the scraper gave no answer.
enum NoAnswer {
    TimedOut,
    Failed(String),
}

impl Direct {
    pub fn new(store: Arc<Store>, guard: Arc<Guard>, config: Config) -> Arc<Direct> {
        Arc::new(Direct {
            store,
            guard,
            config,
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Refreshes `ruc`, which `flight` reserves, in the background.
    pub fn refresh_in_background(self: &Arc<Self>, ruc: Ruc, flight: Flight) {
        let direct = self.clone();
        tokio::spawn(async move {
            let outcome = match direct.lookup(ruc, flight).await {
                Ok((answer, true)) => ("stored", answer.status),
                Ok((answer, false)) if answer.status >= 500 => ("failed", answer.status),
                Ok((answer, false)) => ("not_stored", answer.status),
                Err(refusal) => {
                    warn!(%ruc, reason = refusal.reason(), "background refresh not sent to the scraper");
                    ("failed", 503)
                }
            };
            Metrics::get().refreshes.with_label_values(&[outcome.0]).inc();
            info!(%ruc, outcome = outcome.0, status = outcome.1, "background refresh");
        });
    }

    /// One lookup of `ruc`: its answer (the proxy's own 502/504 when the
    /// scraper gave none) and whether it was stored. The answer lands on
    /// `flight` for the lookups waiting for it.
    pub async fn lookup(&self, ruc: Ruc, mut flight: Flight) -> Result<(Answer, bool), Refusal> {
        let pass = match self.guard.admit().await {
            Ok(pass) => pass,
            Err(refusal) => {
                flight.land(responses::refused_answer(refusal, ruc.as_str()));
                return Err(refusal);
            }
        };
        let fetched = self.fetch(&ruc).await;
        pass.finish(matches!(fetched, Ok((status, _)) if status < 500));
        let answer = match fetched {
            Ok((status, body)) => Answer::json(status, body),
            Err(no_answer) => {
                Metrics::get().upstream_errors.inc();
                if let NoAnswer::Failed(error) = &no_answer {
                    warn!(%ruc, error, "scraper gave no answer");
                }
                let (status, detail) = responses::no_answer(matches!(no_answer, NoAnswer::TimedOut));
                Answer::json(status, responses::error_body(detail, ruc.as_str()))
            }
        };
        let stored = match admission::check(&ruc, answer.status, &answer.body, self.config.max_body_bytes) {
            Ok(admitted) => self.store.keep(&ruc, admitted, answer.body.clone()).await,
            Err(_) => false,
        };
        flight.land(answer.clone());
        Ok((answer, stored))
    }

    /// `GET /obtener-ruc/<ruc>` on the scraper, within the upstream timeout.
    async fn fetch(&self, ruc: &Ruc) -> Result<(u16, Bytes), NoAnswer> {
        let uri = format!("http://{}/obtener-ruc/{ruc}", self.config.scraper.authority());
        let uri: hyper::Uri = uri.parse().map_err(|e| NoAnswer::Failed(format!("{e}")))?;
        let exchange = async {
            let response = self.http.get(uri).await.map_err(|e| NoAnswer::Failed(e.to_string()))?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), self.config.max_body_bytes)
                .collect()
                .await
                .map_err(|e| NoAnswer::Failed(e.to_string()))?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(self.config.upstream_timeout, exchange)
            .await
            .map_err(|_| NoAnswer::TimedOut)?
    }
}
