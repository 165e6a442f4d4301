//! Which of the proxy's routes a request is for, and what refuses a request
//! before any lookup: the `Host` rule, a method the route does not take, a
//! body on a lookup, an invalid RUC.

use ruc_contract::{RouteError, Ruc, LOOKUP_PREFIX};

use crate::front::head::Head;
use crate::responses::{self, OwnError, Reply};

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET`/`HEAD /obtener-ruc/<valid RUC>`.
    Record(Ruc),
    /// `GET`/`HEAD /health`.
    Health,
    /// Answered at once with this: no route, a method not allowed, a
    /// malformed request or an invalid RUC.
    Refused(Reply),
}

pub(crate) fn route(head: &Head<'_>) -> Route {
    if let Err(malformed) = &head.host {
        return Route::Refused(responses::route_error(400, malformed));
    }
    let (method, path) = (head.method, head.path);
    let reads = method == "GET" || method == "HEAD";
    let text = match path.strip_prefix(LOOKUP_PREFIX) {
        Some(text) => text,
        None if path != "/health" => return Route::Refused(responses::route_error(404, &RouteError::no_route(path))),
        None if reads => return Route::Health,
        None => return Route::Refused(responses::method_not_allowed(method)),
    };
    if !reads {
        return Route::Refused(responses::method_not_allowed(method));
    }
    // A lookup never has a body, and one that announces it (above all
    // with both `Content-Length` and `Transfer-Encoding`, the
    // request-smuggling pattern) is refused rather than looked up.
    if head.announces_body {
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

    pub(super) fn head<'a>(method: &'a str, path: &'a str) -> Head<'a> {
        Head {
            method,
            path,
            host: Ok(()),
            announces_body: false,
            persistent: true,
            len: 0,
        }
    }

    fn status(route: Route) -> u16 {
        match route {
            Route::Refused(reply) => reply.status,
            Route::Record(_) | Route::Health => 200,
        }
    }

    #[test]
    fn routes_by_path_then_method() {
        let ruc = Ruc::parse("20131312955").unwrap();
        assert_eq!(route(&head("GET", "/obtener-ruc/20131312955")), Route::Record(ruc));
        assert_eq!(route(&head("HEAD", "/obtener-ruc/20131312955")), Route::Record(ruc));
        assert_eq!(route(&head("GET", "/health")), Route::Health);
        assert_eq!(status(route(&head("HEAD", "/obtener-ruc/abc"))), 400);
        assert_eq!(status(route(&head("POST", "/obtener-ruc/20131312955"))), 405);
        assert_eq!(status(route(&head("DELETE", "/health"))), 405);
        assert_eq!(status(route(&head("GET", "/obtener-ruc"))), 404);
        assert_eq!(status(route(&head("POST", "/other"))), 404);
    }

    #[test]
    fn a_malformed_host_or_a_body_refuses_a_lookup() {
        let mut bad_host = head("GET", "/obtener-ruc/20131312955");
        bad_host.host = Err(RouteError::bad_request("x"));
        assert_eq!(status(route(&bad_host)), 400);
        let mut with_body = head("GET", "/obtener-ruc/20131312955");
        with_body.announces_body = true;
        let Route::Refused(reply) = route(&with_body) else {
            panic!("a lookup with a body is refused")
        };
        assert_eq!(
            (reply.status, reply.header("cache-status")),
            (400, Some("ruc-proxy; detail=request-body"))
        );
    }
}
