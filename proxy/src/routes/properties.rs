//! Property tests of how the proxy reads a request: any method and path is
//! routed without a panic, and only a valid RUC under `/obtener-ruc/` can
//! ever become a lookup. Bounded: proptest's default of 256 cases.

use pingora::http::Method;
use proptest::prelude::*;
use ruc_contract::Ruc;

use super::{route, Route};

fn method() -> impl Strategy<Value = Method> {
    prop_oneof![
        Just(Method::GET),
        Just(Method::HEAD),
        Just(Method::POST),
        Just(Method::DELETE),
        "[A-Z]{1,10}".prop_map(|m| Method::from_bytes(m.as_bytes()).unwrap()),
    ]
}

proptest! {
    #[test]
    fn any_path_is_routed_without_panicking(method in method(), path in "/\\PC{0,200}") {
        match route(&method, &path) {
            Route::Lookup(text) => {
                prop_assert!(method == Method::GET || method == Method::HEAD);
                prop_assert!(path.starts_with("/obtener-ruc/"));
                // Whatever follows the prefix is validated before any lookup.
                if Ruc::parse(text).is_ok() {
                    prop_assert_eq!(text.len(), 11);
                    prop_assert!(text.bytes().all(|b| b.is_ascii_digit()));
                }
            }
            Route::Health => prop_assert_eq!(path.as_str(), "/health"),
            Route::NotFound | Route::MethodNotAllowed => {}
        }
    }

    #[test]
    fn traversal_and_encodings_after_the_prefix_never_make_a_valid_ruc(
        junk in prop::sample::select(vec!["../", "..%2F", "%2e%2e/", "%00", "/", "?", "#", " ", "%20", "\u{fe0f}", "٣"]),
        digits in "[0-9]{0,11}",
    ) {
        let path = format!("/obtener-ruc/{junk}{digits}");
        if let Route::Lookup(text) = route(&Method::GET, &path) {
            prop_assert!(Ruc::parse(text).is_err(), "{}", path);
        }
    }
}
