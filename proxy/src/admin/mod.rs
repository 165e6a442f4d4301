//! The admin listener (`METRICS_LISTEN`, never the main one): Prometheus
//! metrics on any path, and, once `ADMIN_TOKEN` is set, two cache
//! operations for operators:
//!
//! - `DELETE /cache/<ruc>`: forgets the record and the remembered "not
//!   found" (other replicas stop serving it within the L1's second);
//! - `POST /cache/<ruc>/refresh`: fetches a fresh record in the background
//!   while the current one keeps being served.
//!
//! Both need `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant
//! time; a missing or wrong token gets 401 and a log line. Without
//! `ADMIN_TOKEN` the routes do not exist (404).

use std::sync::Arc;

use async_trait::async_trait;
use http::{Method, Response};
use pingora::apps::http_app::{HttpServer, ServeHttp};
use pingora::modules::http::compression::ResponseCompressionBuilder;
use pingora::protocols::http::ServerSession;
use pingora_prometheus::PrometheusHttpApp;
use ruc_contract::{ErrorBody, Kind, RouteError, Ruc};
use serde_json::{json, Value};
use tracing::{info, warn};

use crate::cache::store::Store;
use crate::lookup::Lookups;
use crate::metrics::Metrics;
use crate::subject::Subject;
use startup::AdminToken;

/// The admin listener's HTTP app: metrics, and the cache operations
/// when a token is set.
pub(crate) struct Admin {
    token: Option<AdminToken>,
    store: Arc<Store>,
    lookups: Arc<Lookups>,
    metrics: &'static Metrics,
}

/// The cache operation a request asks for.
#[derive(Debug, Clone, Copy)]
enum Action {
    Purge,
    Refresh,
}

impl Admin {
    /// The HTTP app of the admin listener, gzip for the metrics as before.
    pub(crate) fn server(
        token: Option<AdminToken>,
        store: Arc<Store>,
        lookups: Arc<Lookups>,
        metrics: &'static Metrics,
    ) -> HttpServer<Admin> {
        let mut server = HttpServer::new_app(Admin {
            token,
            store,
            lookups,
            metrics,
        });
        server.add_module(ResponseCompressionBuilder::enable(7));
        server
    }

    async fn cache_operation(&self, session: &ServerSession, token: &AdminToken, path: &str) -> Response<Vec<u8>> {
        let request = session.req_header();
        let (action, text) = match (&request.method, path.strip_suffix("/refresh")) {
            (&Method::POST, Some(text)) => (Action::Refresh, text),
            (&Method::DELETE, None) => (Action::Purge, path),
            (_, Some(_)) => return method_not_allowed("POST", "POST /cache/<ruc>[/<kind>]/refresh"),
            (_, None) => return method_not_allowed("DELETE", "DELETE /cache/<ruc>[/<kind>]"),
        };
        let authorization = request.headers.get("Authorization").map(|value| value.as_bytes());
        if !token.authorizes(authorization) {
            self.metrics.admin.with_label_values(&["unauthorized"]).inc();
            warn!(?action, client = ?session.client_addr(), "admin request without a valid token");
            let mut response = answer(
                401,
                json!(RouteError::new("Unauthorized", "Authorization: Bearer <ADMIN_TOKEN>")),
            );
            response
                .headers_mut()
                .insert("WWW-Authenticate", http::HeaderValue::from_static("Bearer"));
            return response;
        }
        let Some((text, kind)) = Kind::split_path(text) else {
            let segment = text.split_once('/').map_or("", |(_, segment)| segment);
            let detail = format!(
                "{segment:?} no es una página (representantes, trabajadores, establecimientos, deuda-coactiva)"
            );
            return answer(404, json!(RouteError::new("Not Found", detail)));
        };
        let ruc = match Ruc::parse(text) {
            Ok(ruc) => ruc,
            Err(invalid) => return answer(400, json!(ErrorBody::new(invalid.detail(), text))),
        };
        match action {
            Action::Purge => self.purge(ruc, kind).await,
            Action::Refresh => self.refresh(Subject { ruc, kind }).await,
        }
    }

    /// Purges `kind` of `ruc`, or (no kind) its record, every page behind
    /// it and its remembered 404.
    async fn purge(&self, ruc: Ruc, kind: Option<Kind>) -> Response<Vec<u8>> {
        let Some(deleted) = self.store.purge(ruc, kind).await else {
            return answer(503, json!(ErrorBody::new("Redis no respondió.", ruc.as_str())));
        };
        self.metrics.admin.with_label_values(&["purged"]).inc();
        let page = kind.map_or("all", Kind::segment);
        info!(%ruc, page, deleted, "cache entries purged");
        let mut body = json!({"ruc": ruc.as_str(), "deleted": deleted});
        if let Some(kind) = kind {
            body["page"] = json!(kind.segment());
        }
        answer(200, body)
    }

    async fn refresh(&self, subject: Subject) -> Response<Vec<u8>> {
        let refresh = if self.lookups.refresh_in_background(subject, None).await {
            "started"
        } else {
            "already_running"
        };
        self.metrics.admin.with_label_values(&["refresh"]).inc();
        info!(ruc = %subject.ruc, page = subject.label(), refresh, "refresh requested");
        let mut body = json!({"ruc": subject.ruc.as_str(), "refresh": refresh});
        if let Some(kind) = subject.kind {
            body["page"] = json!(kind.segment());
        }
        answer(202, body)
    }
}

#[async_trait]
impl ServeHttp for Admin {
    async fn response(&self, session: &mut ServerSession) -> Response<Vec<u8>> {
        let path = session.req_header().uri.path().to_string();
        let method = &session.req_header().method;
        match (path.strip_prefix("/cache/"), &self.token) {
            (None, _) if method == Method::GET || method == Method::HEAD => PrometheusHttpApp.response(session).await,
            (None, _) => method_not_allowed("GET, HEAD", "GET /metrics"),
            (Some(_), None) => answer(
                404,
                json!(RouteError::new("Not Found", "ADMIN_TOKEN no está configurado")),
            ),
            (Some(rest), Some(token)) => self.cache_operation(session, token, rest).await,
        }
    }
}

/// 405, with the methods the path takes (`allow`) and how to use it.
fn method_not_allowed(allow: &'static str, usage: &str) -> Response<Vec<u8>> {
    let mut response = answer(405, json!(RouteError::new("Method Not Allowed", usage)));
    response
        .headers_mut()
        .insert("Allow", http::HeaderValue::from_static(allow));
    response
}

fn answer(status: u16, body: Value) -> Response<Vec<u8>> {
    let body = body.to_string().into_bytes();
    Response::builder()
        .status(status)
        .header("Content-Type", "application/json")
        .header("Content-Length", body.len())
        .body(body)
        .expect("a valid response")
}
