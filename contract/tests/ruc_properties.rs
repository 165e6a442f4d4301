//! Property tests of RUC validation: any input gets an answer without a
//! panic, and exactly the well-formed RUCs pass. Bounded: proptest's
//! default of 256 cases per property.

use proptest::prelude::*;
use ruc_contract::Ruc;

const PREFIXES: [&str; 5] = ["10", "15", "16", "17", "20"];

/// SUNAT's check digit of the first ten digits, computed independently
/// of the crate.
fn check_digit(ten: &str) -> u32 {
    let sum: u32 = ten
        .chars()
        .zip([5, 4, 3, 2, 7, 6, 5, 4, 3, 2])
        .map(|(d, w)| d.to_digit(10).unwrap() * w)
        .sum();
    (11 - sum % 11) % 10
}

proptest! {
    #[test]
    fn any_text_is_answered_without_panicking(text in "\\PC{0,40}") {
        if let Err(invalid) = Ruc::parse(&text) {
            prop_assert!(!invalid.detail().is_empty());
        }
    }

    #[test]
    fn any_bytes_are_answered_without_panicking(bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = Ruc::parse(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn a_known_prefix_with_its_check_digit_is_valid_and_prints_back(
        prefix in prop::sample::select(PREFIXES.to_vec()),
        body in "[0-9]{8}",
    ) {
        let ten = format!("{prefix}{body}");
        let ruc = format!("{ten}{}", check_digit(&ten));
        prop_assert_eq!(Ruc::parse(&ruc).map(|r| r.to_string()), Ok(ruc));
    }

    #[test]
    fn any_other_check_digit_is_refused(
        prefix in prop::sample::select(PREFIXES.to_vec()),
        body in "[0-9]{8}",
        wrong in 0u32..10,
    ) {
        let ten = format!("{prefix}{body}");
        prop_assume!(wrong != check_digit(&ten));
        let ruc = format!("{ten}{wrong}");
        prop_assert!(Ruc::parse(&ruc).is_err());
    }

    #[test]
    fn an_unknown_prefix_or_another_length_is_refused(
        prefix in "[0-9]{2}",
        short in "[0-9]{0,10}",
        long in "[0-9]{12,30}",
    ) {
        prop_assume!(!PREFIXES.contains(&prefix.as_str()));
        let ten = format!("{prefix}12345678");
        let ruc = format!("{ten}{}", check_digit(&ten));
        prop_assert!(Ruc::parse(&ruc).is_err());
        prop_assert!(Ruc::parse(&short).is_err());
        prop_assert!(Ruc::parse(&long).is_err());
    }
}
