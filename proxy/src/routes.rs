//! Which of the proxy's routes a request is for, and what refuses a
//! well-formed request before any lookup: a path no route has, a method the
//! route does not take, a body on a lookup, an invalid RUC, a batch
//! request whose head already says it cannot be taken.

use ruc_contract::{Kind, RouteError, Ruc, LOOKUP_PREFIX};

use crate::batch::ask::Ask;
use crate::responses::{self, OwnError, Reply};
use crate::subject::Subject;

/// The batch route's path.
pub(crate) const BATCH_PATH: &str = "/obtener-ruc";

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET`/`HEAD /obtener-ruc/<valid RUC>`, or a page behind the record:
    /// `/obtener-ruc/<valid RUC>/<kind>`.
    Record(Subject),
    /// `POST /obtener-ruc`: a batch, its body still to read; or the whole
    /// request's error, judged from its head.
    Batch(Result<Ask, Reply>),
    /// `GET`/`HEAD /health`: ready to serve (503 once stopping).
    Health,
    /// `GET`/`HEAD /livez`: the process serves, stopping or not.
    Live,
    /// Answered at once with this: no route, a method not allowed, a
    /// lookup with a body or an invalid RUC.
    Refused(Reply),
}

impl Route {
    /// What a record's route asks for.
    pub(crate) fn subject(&self) -> Option<Subject> {
        match self {
            Route::Record(subject) => Some(*subject),
            _ => None,
        }
    }
}

/// The route of `method` on `path` (without its query); `announces_body`:
/// a body follows the request's head; `judge_batch`: what the batch route
/// makes of the head (called for that route only).
pub(crate) fn route(
    method: &str,
    path: &str,
    announces_body: bool,
    judge_batch: impl FnOnce() -> Result<Ask, Reply>,
) -> Route {
    let reads = method == "GET" || method == "HEAD";
    let text = match (path.strip_prefix(LOOKUP_PREFIX), path) {
        (Some(text), _) => text,
        (None, "/health") if reads => return Route::Health,
        (None, "/livez") if reads => return Route::Live,
        (None, "/health" | "/livez") => return Route::Refused(responses::method_not_allowed(method, "GET, HEAD")),
        (None, BATCH_PATH) if method == "POST" => return Route::Batch(judge_batch()),
        (None, BATCH_PATH) => return Route::Refused(responses::method_not_allowed(method, "POST")),
        (None, _) => return Route::Refused(responses::route_error(404, &RouteError::no_route(path))),
    };
    if !reads {
        return Route::Refused(responses::method_not_allowed(method, "GET, HEAD"));
    }
    // A lookup never has a body, and one that announces it (above all
    // with both `Content-Length` and `Transfer-Encoding`, the
    // request-smuggling pattern) is refused rather than looked up.
    if announces_body {
        return Route::Refused(responses::own_error(OwnError::RequestBody, text, None));
    }
    let Some((text, kind)) = Kind::split_path(text) else {
        return Route::Refused(responses::route_error(404, &RouteError::no_route(path)));
    };
    match Ruc::parse(text) {
        Ok(ruc) => Route::Record(Subject { ruc, kind }),
        Err(invalid) => Route::Refused(responses::own_error(OwnError::InvalidRuc, text, Some(invalid.detail()))),
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::batch::ask::{self, Announced};

    /// The route of a request with a JSON body of `body` bytes (0: none).
    pub(crate) fn routed_with(method: &str, path: &str, body: u64) -> Route {
        let announced = if body == 0 {
            Announced::Nothing
        } else {
            Announced::Length(body)
        };
        route(method, path, body > 0, || {
            ask::judge(Some("application/json"), None, announced)
        })
    }

    fn routed(method: &str, path: &str) -> Route {
        routed_with(method, path, 0)
    }

    fn status(route: Route) -> u16 {
        match route {
            Route::Refused(reply) | Route::Batch(Err(reply)) => reply.status,
            Route::Record(_) | Route::Health | Route::Live | Route::Batch(Ok(_)) => 200,
        }
    }

    #[test]
    fn routes_by_path_then_method() {
        let ruc = Ruc::parse("20131312955").unwrap();
        let record = Subject::record(ruc);
        assert_eq!(routed("GET", "/obtener-ruc/20131312955"), Route::Record(record));
        assert_eq!(routed("HEAD", "/obtener-ruc/20131312955"), Route::Record(record));
        let page = Subject {
            ruc,
            kind: Some(Kind::Trabajadores),
        };
        assert_eq!(
            routed("HEAD", "/obtener-ruc/20131312955/trabajadores"),
            Route::Record(page)
        );
        assert_eq!(status(routed("GET", "/obtener-ruc/20131312955/historico")), 404);
        assert_eq!(status(routed("GET", "/obtener-ruc/2013131295/trabajadores")), 400);
        assert_eq!(status(routed("POST", "/obtener-ruc/20131312955/trabajadores")), 405);
        assert_eq!(routed("GET", "/health"), Route::Health);
        assert_eq!(routed("HEAD", "/livez"), Route::Live);
        assert_eq!(status(routed("POST", "/livez")), 405);
        assert_eq!(status(routed("HEAD", "/obtener-ruc/abc")), 400);
        assert_eq!(status(routed("POST", "/obtener-ruc/20131312955")), 405);
        assert_eq!(status(routed("DELETE", "/health")), 405);
        assert_eq!(status(routed("POST", "/other")), 404);
    }

    #[test]
    fn the_batch_route_takes_post_only() {
        let Route::Refused(get) = routed("GET", "/obtener-ruc") else {
            panic!("a GET of the batch route is refused")
        };
        assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
        let Route::Refused(post) = routed("POST", "/obtener-ruc/20131312955") else {
            panic!("a POST of a record is refused")
        };
        assert_eq!(post.header("allow"), Some("GET, HEAD"));
        assert!(matches!(routed_with("POST", "/obtener-ruc", 20), Route::Batch(Ok(_))));
        assert_eq!(status(routed("POST", "/obtener-ruc")), 400, "no body");
    }

    #[test]
    fn a_lookup_with_a_body_is_refused() {
        let Route::Refused(reply) = routed_with("GET", "/obtener-ruc/20131312955", 3) else {
            panic!("a lookup with a body is refused")
        };
        assert_eq!(
            (reply.status, reply.header("cache-status")),
            (400, Some("ruc-proxy; detail=request-body"))
        );
        assert_eq!(
            routed_with("GET", "/health", 3),
            Route::Health,
            "answered, then the connection closes"
        );
    }
}
