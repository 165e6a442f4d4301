//! Background refresh of a stale record (stale-while-revalidate): the
//! client already got the stale record; one request to the scraper, outside
//! any client's request, fetches the current one and stores it when it is a
//! complete record. It holds the RUC's flight, so concurrent misses of that
//! RUC wait for it instead of asking SUNAT again, and it passes the same
//! guard (slots, circuit breaker) as every other lookup.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::{connect::HttpConnector, Client};
use hyper_util::rt::TokioExecutor;
use ruc_contract::Ruc;
use tracing::{info, warn};

use crate::cache::admission::{self, Admitted};
use crate::cache::coalesce::{Answer, Flight};
use crate::cache::store::Store;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::upstream::Guard;

pub struct Refresher {
    store: Arc<Store>,
    guard: Arc<Guard>,
    config: Config,
    http: Client<HttpConnector, Empty<Bytes>>,
}

impl Refresher {
    pub fn new(store: Arc<Store>, guard: Arc<Guard>, config: Config) -> Arc<Refresher> {
        Arc::new(Refresher {
            store,
            guard,
            config,
            http: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    /// Starts the refresh of `ruc`, which `flight` reserves.
    pub fn start(self: &Arc<Self>, ruc: Ruc, flight: Flight) {
        let refresher = self.clone();
        tokio::spawn(async move { refresher.refresh(ruc, flight).await });
    }

    async fn refresh(&self, ruc: Ruc, mut flight: Flight) {
        let fetched = match self.guard.admit().await {
            Ok(pass) => {
                let fetched = self.fetch(&ruc).await;
                pass.finish(matches!(fetched, Ok((status, _)) if status < 500));
                fetched
            }
            Err(refusal) => Err(format!("not sent to the scraper ({})", refusal.reason())),
        };
        let (status, body) = match fetched {
            Ok(answer) => answer,
            Err(error) => {
                Metrics::get().refreshes.with_label_values(&["failed"]).inc();
                warn!(%ruc, error, "background refresh failed; the current record stays");
                return;
            }
        };
        let admitted = admission::check(&ruc, status, &body, self.config.max_body_bytes);
        let stored = admitted == Ok(Admitted::Record) && self.store.put(&ruc, body.clone()).await;
        let outcome = if stored { "stored" } else { "not_stored" };
        Metrics::get().refreshes.with_label_values(&[outcome]).inc();
        info!(%ruc, status, outcome, "background refresh");
        flight.land(Answer::json(status, body));
    }

    /// `GET /obtener-ruc/<ruc>` on the scraper, within the upstream timeout.
    async fn fetch(&self, ruc: &Ruc) -> Result<(u16, Bytes), String> {
        let uri = format!("http://{}/obtener-ruc/{ruc}", self.config.scraper.authority());
        let uri: hyper::Uri = uri.parse().map_err(|e| format!("{e}"))?;
        let exchange = async {
            let response = self.http.get(uri).await.map_err(|e| e.to_string())?;
            let status = response.status().as_u16();
            let body = Limited::new(response.into_body(), self.config.max_body_bytes)
                .collect()
                .await
                .map_err(|e| e.to_string())?;
            Ok((status, body.to_bytes()))
        };
        tokio::time::timeout(self.config.upstream_timeout, exchange)
            .await
            .map_err(|_| "the scraper did not answer in time".to_string())?
    }
}
