//! Which of the proxy's routes a request is for, and what refuses a
//! well-formed request before any lookup: a path no route has, a method the
//! route does not take, a body on a lookup, an invalid RUC.

use ruc_contract::{RouteError, Ruc, LOOKUP_PREFIX};

use crate::responses::{self, OwnError, Reply};

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET`/`HEAD /obtener-ruc/<valid RUC>`.
    Record(Ruc),
    /// `GET`/`HEAD /health`: ready to serve (503 once stopping).
    Health,
    /// `GET`/`HEAD /livez`: the process serves, stopping or not.
    Live,
    /// Answered at once with this: no route, a method not allowed, a
    /// lookup with a body or an invalid RUC.
    Refused(Reply),
}

impl Route {
    /// The RUC a record's route asks for.
    pub(crate) fn ruc(&self) -> Option<Ruc> {
        match self {
            Route::Record(ruc) => Some(*ruc),
            _ => None,
        }
    }
}

/// The route of `method` on `path` (without its query); `announces_body`:
/// a body follows the request's head.
pub(crate) fn route(method: &str, path: &str, announces_body: bool) -> Route {
    let reads = method == "GET" || method == "HEAD";
    let text = match (path.strip_prefix(LOOKUP_PREFIX), path) {
        (Some(text), _) => text,
        (None, "/health") if reads => return Route::Health,
        (None, "/livez") if reads => return Route::Live,
        (None, "/health" | "/livez") => return Route::Refused(responses::method_not_allowed(method)),
        (None, _) => return Route::Refused(responses::route_error(404, &RouteError::no_route(path))),
    };
    if !reads {
        return Route::Refused(responses::method_not_allowed(method));
    }
    // A lookup never has a body, and one that announces it (above all
    // with both `Content-Length` and `Transfer-Encoding`, the
    // request-smuggling pattern) is refused rather than looked up.
    if announces_body {
        return Route::Refused(responses::own_error(OwnError::RequestBody, text, None));
    }
    match Ruc::parse(text) {
        Ok(ruc) => Route::Record(ruc),
        Err(invalid) => Route::Refused(responses::own_error(OwnError::InvalidRuc, text, Some(invalid.detail()))),
    }
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    fn status(route: Route) -> u16 {
        match route {
            Route::Refused(reply) => reply.status,
            Route::Record(_) | Route::Health | Route::Live => 200,
        }
    }

    #[test]
    fn routes_by_path_then_method() {
        let ruc = Ruc::parse("20131312955").unwrap();
        assert_eq!(route("GET", "/obtener-ruc/20131312955", false), Route::Record(ruc));
        assert_eq!(route("HEAD", "/obtener-ruc/20131312955", false), Route::Record(ruc));
        assert_eq!(route("GET", "/health", false), Route::Health);
        assert_eq!(route("HEAD", "/livez", false), Route::Live);
        assert_eq!(status(route("POST", "/livez", false)), 405);
        assert_eq!(status(route("HEAD", "/obtener-ruc/abc", false)), 400);
        assert_eq!(status(route("POST", "/obtener-ruc/20131312955", false)), 405);
        assert_eq!(status(route("DELETE", "/health", false)), 405);
        assert_eq!(status(route("GET", "/obtener-ruc", false)), 404);
        assert_eq!(status(route("POST", "/other", false)), 404);
    }

    #[test]
    fn a_lookup_with_a_body_is_refused() {
        let Route::Refused(reply) = route("GET", "/obtener-ruc/20131312955", true) else {
            panic!("a lookup with a body is refused")
        };
        assert_eq!(
            (reply.status, reply.header("cache-status")),
            (400, Some("ruc-proxy; detail=request-body"))
        );
        assert_eq!(
            route("GET", "/health", true),
            Route::Health,
            "answered, then the connection closes"
        );
    }
}
