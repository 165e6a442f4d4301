//! The one route both services share, and the body of the answers to
//! requests that reach no route: both services answer them the same way,
//! so clients can tell "no such path" from "no such RUC" (whose body is
//! [`crate::ErrorBody`]).

use serde::{Deserialize, Serialize};

/// The path of a lookup, followed by the RUC: `/obtener-ruc/<ruc>`.
pub const LOOKUP_PREFIX: &str = "/obtener-ruc/";

/// `{"message", "detail"}`: the body of a 404 for an unknown path, a 405
/// for a method a path does not take, and a 400 for a malformed request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RouteError {
    /// The status's reason phrase, in English: `Not Found`, …
    pub message: String,
    /// What was wrong with the request, in Spanish.
    pub detail: String,
}

impl RouteError {
    /// 404: no route has this path.
    pub fn no_route(path: &str) -> RouteError {
        RouteError::new("Not Found", format!("No existe la ruta {path}"))
    }

    /// 405: the path takes only `GET` (and, on the proxy, `HEAD`).
    pub fn method_not_allowed(method: &str) -> RouteError {
        RouteError::new("Method Not Allowed", format!("{method} no está permitido; use GET"))
    }

    /// 400: the request itself is malformed.
    pub fn bad_request(detail: impl Into<String>) -> RouteError {
        RouteError::new("Bad Request", detail)
    }

    /// Any other; `message` is the status's reason phrase.
    pub fn new(message: &str, detail: impl Into<String>) -> RouteError {
        RouteError {
            message: message.to_string(),
            detail: detail.into(),
        }
    }
}

/// RFC 9112 §3.2: an HTTP/1.1 request carries exactly one `Host`, and no
/// request more than one; a server must answer 400 otherwise (nginx does).
/// `hosts` is how many `Host` fields the request has.
pub fn check_host(http_1_1: bool, hosts: usize) -> Result<(), RouteError> {
    match (http_1_1, hosts) {
        (_, 2..) => Err(RouteError::bad_request("La solicitud lleva más de una cabecera Host.")),
        (true, 0) => Err(RouteError::bad_request(
            "Una solicitud HTTP/1.1 debe llevar la cabecera Host.",
        )),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_1_1_needs_exactly_one_host_and_nothing_takes_two() {
        assert!(check_host(true, 1).is_ok());
        assert!(check_host(false, 0).is_ok());
        assert!(check_host(false, 1).is_ok());
        assert_eq!(check_host(true, 0).unwrap_err().message, "Bad Request");
        assert!(check_host(true, 2).is_err());
        assert!(check_host(false, 3).is_err());
    }
}
