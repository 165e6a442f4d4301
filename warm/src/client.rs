//! The one client to the proxy's batch endpoint: `POST /obtener-ruc` with
//! `Accept: application/x-ndjson`, each item handed on as its line comes.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;

/// The longest one batch may take: the proxy answers it within
/// `BATCH_TIMEOUT_SECS` (120 by default).
const BATCH_TIMEOUT: Duration = Duration::from_secs(300);
/// The longest line an answer may have (a record is about 2 KB).
const MAX_LINE: usize = 1 << 20;

/// What of an item the tool reads.
#[derive(Debug, Deserialize)]
pub(crate) struct Item {
    pub(crate) ruc: String,
    pub(crate) status: u16,
    pub(crate) cache: String,
}

/// A client of one proxy.
pub(crate) struct BatchClient {
    client: Client<HttpConnector, Full<Bytes>>,
    url: hyper::Uri,
}

impl BatchClient {
    /// A client of the proxy at `base` (`http://host:port`).
    pub(crate) fn new(base: &str) -> Result<BatchClient, String> {
        let url = format!("{}/obtener-ruc", base.trim_end_matches('/'));
        let url: hyper::Uri = url.parse().map_err(|error| format!("--proxy {base:?}: {error}"))?;
        if url.scheme_str() != Some("http") {
            return Err(format!("--proxy {base:?}: give an http:// URL"));
        }
        Ok(BatchClient {
            client: Client::builder(TokioExecutor::new()).build_http(),
            url,
        })
    }

    /// Sends `rucs` as one batch and hands each item to `each` as it
    /// comes; an error when the batch could not be sent, was refused, or
    /// broke off (the items handed on before that are answered).
    pub(crate) async fn send(&self, rucs: &[String], mut each: impl FnMut(Item)) -> Result<(), String> {
        let body = serde_json::json!({ "rucs": rucs }).to_string();
        let request = Request::post(self.url.clone())
            .header("Content-Type", "application/json")
            .header("Accept", "application/x-ndjson")
            .body(Full::new(Bytes::from(body)))
            .map_err(|error| error.to_string())?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|error| error.to_string())?;
            let status = response.status();
            let mut body = response.into_body();
            if status != 200 {
                let text = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                return Err(format!("{status}: {}", String::from_utf8_lossy(&text)));
            }
            let mut line = Vec::new();
            while let Some(frame) = body.frame().await {
                let frame = frame.map_err(|error| error.to_string())?;
                let Some(data) = frame.data_ref() else { continue };
                for &byte in data.iter() {
                    if byte != b'\n' {
                        line.push(byte);
                        if line.len() > MAX_LINE {
                            return Err("an item longer than 1 MiB".to_string());
                        }
                        continue;
                    }
                    let item = serde_json::from_slice(&line).map_err(|error| format!("an item: {error}"))?;
                    each(item);
                    line.clear();
                }
            }
            Ok(())
        };
        tokio::time::timeout(BATCH_TIMEOUT, exchange)
            .await
            .map_err(|_| format!("no whole answer within {} s", BATCH_TIMEOUT.as_secs()))?
    }
}
