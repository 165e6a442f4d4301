//! RUC validation: checked before any browser work or cache lookup, so that a
//! mistyped number never costs a visit to SUNAT.

use std::fmt;

/// Weights of SUNAT's modulo-11 check digit, applied to the first ten digits.
const WEIGHTS: [u32; 10] = [5, 4, 3, 2, 7, 6, 5, 4, 3, 2];

/// Prefixes SUNAT assigns: 20 legal entities, 10 natural persons, 15/16/17 older
/// assignments to natural persons and estates.
const PREFIXES: [&str; 5] = ["10", "15", "16", "17", "20"];

/// A RUC that passed every rule: 11 ASCII digits, a known prefix, a correct
/// check digit.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ruc([u8; 11]);

/// Why a string is not a RUC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvalidRuc {
    /// Not exactly 11 characters, or not all ASCII digits.
    Format,
    /// The first two digits are not 10, 15, 16, 17 or 20.
    Prefix,
    /// The 11th digit is not the modulo-11 check digit of the first ten.
    CheckDigit,
}

impl Ruc {
    pub fn parse(text: &str) -> Result<Ruc, InvalidRuc> {
        let digits: [u8; 11] = text.as_bytes().try_into().map_err(|_| InvalidRuc::Format)?;
        if !digits.iter().all(u8::is_ascii_digit) {
            return Err(InvalidRuc::Format);
        }
        if !PREFIXES.iter().any(|p| text.starts_with(p)) {
            return Err(InvalidRuc::Prefix);
        }
        if check_digit(&digits) != digits[10] - b'0' {
            return Err(InvalidRuc::CheckDigit);
        }
        Ok(Ruc(digits))
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII digits are ever stored.
        std::str::from_utf8(&self.0).expect("a RUC is ASCII")
    }
}

/// `r = 11 - (sum mod 11)`, where 10 becomes 0 and 11 becomes 1.
fn check_digit(digits: &[u8; 11]) -> u8 {
    let sum: u32 = digits.iter().zip(WEIGHTS).map(|(d, w)| u32::from(d - b'0') * w).sum();
    ((11 - sum % 11) % 10) as u8
}

impl fmt::Display for Ruc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for Ruc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ruc({})", self.as_str())
    }
}

impl InvalidRuc {
    /// The `detail` of the 400 error body, in Spanish like every client-facing text.
    pub fn detail(self) -> &'static str {
        match self {
            InvalidRuc::Format => "El RUC debe tener exactamente 11 dígitos.",
            InvalidRuc::Prefix => "El RUC debe empezar con 10, 15, 16, 17 o 20.",
            InvalidRuc::CheckDigit => "El dígito verificador del RUC no es válido.",
        }
    }
}

impl fmt::Display for InvalidRuc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.detail())
    }
}

impl std::error::Error for InvalidRuc {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_rucs_of_every_prefix() {
        for ruc in [
            "20131312955",
            "20100070970",
            "10401510465",
            "15484032987",
            "17155542071",
            "10054148289",
            "20000000001",
        ] {
            assert_eq!(Ruc::parse(ruc).map(|r| r.to_string()), Ok(ruc.to_string()));
        }
    }

    #[test]
    fn check_digit_wraps_ten_to_zero_and_eleven_to_one() {
        assert!(Ruc::parse("10100000020").is_ok());
        assert!(Ruc::parse("10100000071").is_ok());
    }

    #[test]
    fn rejects_wrong_check_digit() {
        assert_eq!(Ruc::parse("20131312954"), Err(InvalidRuc::CheckDigit));
        assert_eq!(Ruc::parse("20512333798"), Err(InvalidRuc::CheckDigit));
    }

    #[test]
    fn rejects_unknown_prefix() {
        assert_eq!(Ruc::parse("99512333792"), Err(InvalidRuc::Prefix));
        assert_eq!(Ruc::parse("11111111111"), Err(InvalidRuc::Prefix));
    }

    #[test]
    fn rejects_bad_format() {
        for text in [
            "",
            "2013131295",
            "201313129555",
            "20A12333797",
            "2013131295 ",
            "２0131312955",
        ] {
            assert_eq!(Ruc::parse(text), Err(InvalidRuc::Format), "{text:?}");
        }
    }
}
