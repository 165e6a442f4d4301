//! Which of the proxy's routes a request is for.

use pingora::http::Method;

pub const LOOKUP_PREFIX: &str = "/obtener-ruc/";

#[derive(Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `GET`/`HEAD /obtener-ruc/<text>`; the text is not validated yet.
    Lookup(&'a str),
    /// `GET`/`HEAD /health`.
    Health,
    /// Any other path.
    NotFound,
    /// A known path with a method other than GET or HEAD.
    MethodNotAllowed,
}

pub fn route<'a>(method: &Method, path: &'a str) -> Route<'a> {
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
}
