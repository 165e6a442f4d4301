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
/// request more than one, and its value is an authority without user
/// information (`host[:port]`, or empty); a server must answer 400
/// otherwise. `hosts` are the values of the request's `Host` fields.
pub fn check_host<'a>(http_1_1: bool, hosts: impl IntoIterator<Item = &'a [u8]>) -> Result<(), RouteError> {
    let mut hosts = hosts.into_iter();
    match (http_1_1, hosts.next(), hosts.next()) {
        (_, Some(_), Some(_)) => Err(RouteError::bad_request("La solicitud lleva más de una cabecera Host.")),
        (true, None, _) => Err(RouteError::bad_request(
            "Una solicitud HTTP/1.1 debe llevar la cabecera Host.",
        )),
        (_, Some(host), None) if !is_authority(host) => Err(RouteError::bad_request(
            "La cabecera Host no es un nombre de servidor válido (host[:puerto]).",
        )),
        _ => Ok(()),
    }
}

/// `uri-host [ ":" port ]` of RFC 3986, or nothing: a registered name
/// (unreserved characters, percent-encodings, sub-delimiters) or an IP
/// literal in brackets, and a port of digits; never user information.
fn is_authority(value: &[u8]) -> bool {
    let (host, port) = match value.iter().rposition(|&b| b == b':') {
        Some(colon) if !value[colon..].contains(&b']') => (&value[..colon], &value[colon + 1..]),
        _ => (value, &b""[..]),
    };
    let literal = host.len() >= 2 && host[0] == b'[' && host[host.len() - 1] == b']';
    let host_ok = if literal {
        host[1..host.len() - 1]
            .iter()
            .all(|&b| b.is_ascii_hexdigit() || b == b':' || b == b'.')
    } else {
        host.iter().all(|&b| is_reg_name_byte(b))
    };
    host_ok && port.iter().all(u8::is_ascii_digit)
}

fn is_reg_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(values: &[&'static str]) -> Vec<&'static [u8]> {
        values.iter().map(|value| value.as_bytes()).collect()
    }

    #[test]
    fn http_1_1_needs_exactly_one_host_and_nothing_takes_two() {
        assert!(check_host(true, hosts(&["ruc"])).is_ok());
        assert!(check_host(false, hosts(&[])).is_ok());
        assert!(check_host(false, hosts(&["ruc"])).is_ok());
        assert_eq!(check_host(true, hosts(&[])).unwrap_err().message, "Bad Request");
        assert!(check_host(true, hosts(&["a", "b"])).is_err());
        assert!(check_host(false, hosts(&["a", "b", "c"])).is_err());
    }

    #[test]
    fn a_host_is_a_name_or_address_and_a_port() {
        for valid in [
            "",
            "ruc",
            "ruc:8000",
            "127.0.0.1:8000",
            "[::1]",
            "[::1]:8000",
            "a-b.example.pe",
            "x%41",
        ] {
            assert!(check_host(true, hosts(&[valid])).is_ok(), "{valid:?}");
        }
        for invalid in ["user@evil", "a b", "ruc:80a", "<x>", "a/b", "[::1", "ruc\"x"] {
            assert!(check_host(true, hosts(&[invalid])).is_err(), "{invalid:?}");
        }
    }
}
