//! The HTTP API: routes and the JSON each one answers.
//!
//! | route | answer |
//! |---|---|
//! | `GET /obtener-ruc/<ruc>` | the record, or the error body with its status |
//! | `GET /obtener-ruc/<ruc>/<kind>` | a page behind the record (`representantes`, `trabajadores`, `establecimientos`, `deuda-coactiva`), or the error body |
//! | `GET /health` | service, mode, direct path, WebDriver and pool status; 200, or 503 (unhealthy or stopping) |
//! | `GET /livez` | 200 while the process serves, stopping or not |
//! | `GET /metrics` | Prometheus text |
//! | `GET /debug/unknown-pages[/<id>]` | the pages kept because they could not be read (`unknown_pages`), with `Authorization: Bearer <SCRAPER_ADMIN_TOKEN>`; 404 without a token set |
//! | other paths / methods | 404 / 405 JSON |
//!
//! Once shutdown starts, every answer carries `Connection: close`, so that
//! keep-alive clients move to another scraper.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ALLOW, AUTHORIZATION, CACHE_CONTROL, CONNECTION, CONTENT_TYPE, HOST, RETRY_AFTER, WWW_AUTHENTICATE,
};
use hyper::{Method, Request, Response, StatusCode, Version};
use ruc_contract::{check_host, ErrorBody, Kind, RouteError, Ruc, LOOKUP_PREFIX};
use serde::Serialize;
use serde_json::json;
use startup::{AdminToken, TraceParent};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::browser::Browser;
use crate::lookup::mode::Mode;
use crate::lookup::Lookups;
use crate::metrics::Metrics;
use crate::unknown_pages::UnknownPages;

/// What a client should wait before retrying a 503, in seconds.
pub(crate) const RETRY_AFTER_SECS: u64 = 5;

/// Everything the handlers use.
pub(crate) struct App {
    pub(crate) lookups: Lookups,
    /// The driver and the pool; `None` in `http` mode.
    pub(crate) browser: Option<Browser>,
    pub(crate) metrics: Metrics,
    /// Lookups run as tracked tasks: a client that hangs up does not cancel
    /// a browser mid-command, and shutdown can wait for them.
    pub(crate) tasks: TaskTracker,
    /// Cancelled when shutdown starts; `/health` then answers 503.
    pub(crate) stopping: CancellationToken,
    /// `SCRAPER_INSTANCE`, sent as `X-Scraper-Instance` with every answer,
    /// so that an operator can tell which scraper answered.
    pub(crate) instance: HeaderValue,
    /// The pages that could not be read, kept for diagnosis.
    pub(crate) unknown_pages: Arc<UnknownPages>,
    /// `SCRAPER_ADMIN_TOKEN`: the key to `/debug/`.
    pub(crate) admin_token: Option<AdminToken>,
}

/// Where the kept unreadable pages are listed (`/<id>`: one of them).
const UNKNOWN_PAGES_PATH: &str = "/debug/unknown-pages";

/// The header that names the scraper that answered.
const INSTANCE_HEADER: &str = "x-scraper-instance";

/// Every answer of the API: a whole body.
pub(crate) type HttpResponse = Response<Full<Bytes>>;

pub(crate) async fn handle(app: Arc<App>, request: Request<Incoming>) -> HttpResponse {
    let (instance, stopping) = (app.instance.clone(), app.stopping.clone());
    let mut response = route(app, request).await;
    response.headers_mut().insert(INSTANCE_HEADER, instance);
    if stopping.is_cancelled() {
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

async fn route(app: Arc<App>, request: Request<Incoming>) -> HttpResponse {
    let path = request.uri().path();
    let hosts = request.headers().get_all(HOST).iter().map(|host| host.as_bytes());
    if let Err(malformed) = check_host(request.version() == Version::HTTP_11, hosts) {
        return json(StatusCode::BAD_REQUEST, &malformed);
    }
    let known = ["/health", "/livez", "/metrics"].contains(&path)
        || path.starts_with(LOOKUP_PREFIX)
        || path.starts_with(UNKNOWN_PAGES_PATH);
    if !known {
        return json(StatusCode::NOT_FOUND, &RouteError::no_route(path));
    }
    if request.method() != Method::GET {
        let mut response = json(
            StatusCode::METHOD_NOT_ALLOWED,
            &RouteError::method_not_allowed(request.method().as_str()),
        );
        response
            .headers_mut()
            .insert(ALLOW, "GET".parse().expect("static header"));
        return response;
    }
    match path {
        "/health" => health(&app).await,
        "/livez" => json(StatusCode::OK, &json!({ "status": "alive" })),
        "/metrics" => metrics(&app),
        _ if path.starts_with(UNKNOWN_PAGES_PATH) => unknown_pages(&app, &request).await,
        _ => {
            let fields = request
                .headers()
                .get_all("traceparent")
                .iter()
                .map(HeaderValue::as_bytes);
            lookup(
                app.clone(),
                &path[LOOKUP_PREFIX.len()..],
                TraceParent::of_fields(fields),
            )
            .await
        }
    }
}

/// A lookup; `trace` is the caller's `traceparent` (the proxy's), of
/// which the lookup's spans are children.
async fn lookup(app: Arc<App>, path: &str, trace: Option<TraceParent>) -> HttpResponse {
    let Some((requested, kind)) = Kind::split_path(path) else {
        let full = format!("{LOOKUP_PREFIX}{path}");
        return json(StatusCode::NOT_FOUND, &RouteError::no_route(&full));
    };
    let ruc = match Ruc::parse(requested) {
        Ok(ruc) => ruc,
        Err(invalid) => {
            app.lookups.count_invalid();
            return error(StatusCode::BAD_REQUEST, invalid.detail(), requested);
        }
    };
    let task = {
        let app = app.clone();
        app.tasks
            .clone()
            .spawn(async move { app.lookups.lookup(ruc, kind, trace).await })
    };
    match task.await {
        Ok(Ok(found)) => json(StatusCode::OK, &found.to_json()),
        Ok(Err(failure)) => {
            let status = StatusCode::from_u16(failure.status()).expect("valid status");
            error(status, &failure.detail(), requested)
        }
        Err(join_error) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("error interno del scraper: {join_error}"),
            requested,
        ),
    }
}

/// The kept pages, for the holder of the admin token: the list, or one.
async fn unknown_pages(app: &App, request: &Request<Incoming>) -> HttpResponse {
    let Some(token) = &app.admin_token else {
        let not_set = RouteError::new("Not Found", "SCRAPER_ADMIN_TOKEN no está configurado");
        return json(StatusCode::NOT_FOUND, &not_set);
    };
    if !token.authorizes(request.headers().get(AUTHORIZATION).map(HeaderValue::as_bytes)) {
        let wanted = RouteError::new("Unauthorized", "Authorization: Bearer <SCRAPER_ADMIN_TOKEN>");
        let mut response = json(StatusCode::UNAUTHORIZED, &wanted);
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return response;
    }
    let path = request.uri().path();
    let mut response = match path[UNKNOWN_PAGES_PATH.len()..].strip_prefix('/') {
        None if path.len() == UNKNOWN_PAGES_PATH.len() => {
            json(StatusCode::OK, &json!({ "pages": app.unknown_pages.list().await }))
        }
        Some(id) => match app.unknown_pages.get(id).await {
            Some(kept) => json(StatusCode::OK, &kept),
            None => json(
                StatusCode::NOT_FOUND,
                &RouteError::new("Not Found", "no hay tal página"),
            ),
        },
        None => json(StatusCode::NOT_FOUND, &RouteError::no_route(path)),
    };
    response
        .headers_mut()
        .insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Healthy when not stopping and, if the mode uses a browser, WebDriver
/// answers; in `http` mode WebDriver is not part of it.
async fn health(app: &App) -> HttpResponse {
    let webdriver = match &app.browser {
        Some(browser) => Some(browser.driver.answers().await),
        None => None,
    };
    let stopping = app.stopping.is_cancelled();
    let healthy = webdriver != Some(false) && !stopping;
    let slots = app.lookups.slots().status();
    let direct = match app.lookups.mode() {
        Mode::Browser => "off",
        _ if app.lookups.direct_suspended() => "suspended",
        _ => "active",
    };
    let mut body = json!({
        "status": if stopping { "stopping" } else if healthy { "healthy" } else { "unhealthy" },
        "mode": app.lookups.mode().as_str(),
        "direct": direct,
        "webdriver": match webdriver {
            Some(true) => "connected",
            Some(false) => "disconnected",
            None => "not used",
        },
        "lookups": slots.busy,
        "queued": slots.waiting,
    });
    if let Some(browser) = &app.browser {
        let pool = browser.pool.status();
        body["sessions"] = json!({ "idle": pool.idle, "busy": pool.busy });
    }
    let status = if healthy {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(status, &body)
}

fn metrics(app: &App) -> HttpResponse {
    // Ends a suspension whose time is up, so the gauge does not lag.
    app.lookups.direct_suspended();
    let mut response = Response::new(Full::new(Bytes::from(app.metrics.render())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
            .parse()
            .expect("static header"),
    );
    response
}

/// The error body of `record.md`; 503s say when to come back.
fn error(status: StatusCode, detail: &str, ruc: &str) -> HttpResponse {
    let mut response = json(status, &ErrorBody::new(detail, ruc));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(RETRY_AFTER, RETRY_AFTER_SECS.into());
    }
    response
}

fn json(status: StatusCode, body: &impl Serialize) -> HttpResponse {
    let bytes = serde_json::to_vec(body).expect("our types always serialise");
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, "application/json".parse().expect("static header"));
    response
}
