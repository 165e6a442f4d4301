//! Which of the proxy's routes a request is for, and what makes a request
//! malformed before any route is considered.

use pingora::http::{Method, RequestHeader, Version};
use ruc_contract::{RouteError, LOOKUP_PREFIX};

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// `GET`/`HEAD /obtener-ruc/<text>`; the text is not validated yet.
    Lookup(&'a str),
    /// `GET`/`HEAD /health`.
    Health,
    /// Any other path.
    NotFound,
    /// A known path with a method other than GET or HEAD.
    MethodNotAllowed,
}

pub(crate) fn route<'a>(method: &Method, path: &'a str) -> Route<'a> {
    let route = match path.strip_prefix(LOOKUP_PREFIX) {
        Some(ruc) => Route::Lookup(ruc),
        None if path == "/health" => Route::Health,
        None => return Route::NotFound,
    };
    if method == Method::GET || method == Method::HEAD {
        route
    } else {
        Route::MethodNotAllowed
    }
}

/// The `Host` rule of RFC 9112 (see [`ruc_contract::check_host`]).
pub(crate) fn check_host(request: &RequestHeader) -> Result<(), RouteError> {
    let hosts = request.headers.get_all("Host").iter().count();
    ruc_contract::check_host(request.version == Version::HTTP_11, hosts)
}

/// Whether a request announces a body. A lookup never has one, and one
/// that does (above all with both `Content-Length` and `Transfer-Encoding`,
/// the request-smuggling pattern) is refused rather than passed on.
pub(crate) fn has_body(request: &RequestHeader) -> bool {
    let announced_length = request
        .headers
        .get_all("Content-Length")
        .iter()
        .any(|length| length.as_bytes() != b"0");
    announced_length || request.headers.contains_key("Transfer-Encoding")
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_by_path_then_method() {
        assert_eq!(
            route(&Method::GET, "/obtener-ruc/20131312955"),
            Route::Lookup("20131312955")
        );
        assert_eq!(route(&Method::HEAD, "/obtener-ruc/abc"), Route::Lookup("abc"));
        assert_eq!(route(&Method::GET, "/health"), Route::Health);
        assert_eq!(
            route(&Method::POST, "/obtener-ruc/20131312955"),
            Route::MethodNotAllowed
        );
        assert_eq!(route(&Method::DELETE, "/health"), Route::MethodNotAllowed);
        assert_eq!(route(&Method::GET, "/obtener-ruc"), Route::NotFound);
        assert_eq!(route(&Method::POST, "/other"), Route::NotFound);
    }

    #[test]
    fn the_host_rule_reads_the_version_and_every_host_field() {
        let request = |version: Version, hosts: &[&str]| {
            let mut request = RequestHeader::build("GET", b"/health", None).unwrap();
            request.set_version(version);
            for host in hosts {
                request.append_header("Host", *host).unwrap();
            }
            request
        };
        assert!(
            check_host(&request(Version::HTTP_11, &[""])).is_ok(),
            "empty is allowed"
        );
        assert!(check_host(&request(Version::HTTP_10, &[])).is_ok());
        assert!(check_host(&request(Version::HTTP_11, &[])).is_err());
        assert!(check_host(&request(Version::HTTP_10, &["a", "b"])).is_err());
    }

    #[test]
    fn a_request_with_a_body_is_recognised() {
        let request = |headers: &[(&str, &str)]| {
            let mut request = RequestHeader::build("GET", b"/obtener-ruc/20131312955", None).unwrap();
            for (name, value) in headers {
                request.append_header(name.to_string(), *value).unwrap();
            }
            request
        };
        assert!(!has_body(&request(&[])));
        assert!(!has_body(&request(&[("Content-Length", "0")])));
        assert!(has_body(&request(&[("Content-Length", "5")])));
        assert!(has_body(&request(&[("Transfer-Encoding", "chunked")])));
        assert!(has_body(&request(&[("Content-Length", "0"), ("Content-Length", "7")])));
    }
}
