//! Property tests of how the proxy routes a request: any method and path is
//! routed without a panic, and only a valid RUC under `/obtener-ruc/` can
//! ever become a lookup. Bounded: proptest's default of 256 cases.

use proptest::prelude::*;
use ruc_contract::Ruc;

use super::tests::routed_with;
use super::Route;

fn method() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("GET".to_string()),
        Just("HEAD".to_string()),
        Just("POST".to_string()),
        Just("DELETE".to_string()),
        "[A-Z]{1,10}",
    ]
}

proptest! {
    #[test]
    fn any_path_is_routed_without_panicking(method in method(), path in "/\\PC{0,200}") {
        match routed_with(&method, &path, 0) {
            Route::Record(subject) => {
                prop_assert!(method == "GET" || method == "HEAD");
                prop_assert_eq!(path, subject.path());
            }
            Route::Health => prop_assert_eq!(path.as_str(), "/health"),
            Route::Live => prop_assert_eq!(path.as_str(), "/livez"),
            Route::Batch(_) => prop_assert_eq!((method.as_str(), path.as_str()), ("POST", "/obtener-ruc")),
            Route::Refused(reply) => prop_assert!((400..500).contains(&reply.status)),
        }
    }

    #[test]
    fn traversal_and_encodings_after_the_prefix_never_make_a_valid_ruc(
        junk in prop::sample::select(vec!["../", "..%2F", "%2e%2e/", "%00", "/", "?", "#", " ", "%20", "\u{fe0f}", "٣"]),
        digits in "[0-9]{0,11}",
    ) {
        let path = format!("/obtener-ruc/{junk}{digits}");
        prop_assert!(!matches!(routed_with("GET", &path, 0), Route::Record(_)), "{}", path);
        let text = format!("{junk}{digits}");
        prop_assert!(Ruc::parse(&text).is_err(), "{}", text);
    }
}
