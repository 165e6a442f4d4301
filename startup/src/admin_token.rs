//! A bearer token that switches on operator routes (the proxy's
//! `ADMIN_TOKEN`, the scraper's `SCRAPER_ADMIN_TOKEN`), and the rules a
//! token must meet first. The rules exist because the token is the only
//! thing between the network and `DELETE /cache/<ruc>` or the pages kept
//! for diagnosis: a short or uniform token can be guessed, and some compose
//! implementations pass an unexpanded `${ADMIN_TOKEN:-}` on as the literal
//! text, which would otherwise become a token everybody knows.

use std::fmt;

use subtle::ConstantTimeEq;

/// The shortest token accepted: `openssl rand -hex 16` and longer.
const MIN_TOKEN_LEN: usize = 32;

/// The fewest different characters a token may have. A random hex token of
/// 32 characters has 9 or more in practice; `aaaa…` or `0101…` have fewer.
const MIN_DISTINCT_CHARS: usize = 8;

/// The longest run of characters counting up or down (`abcdefgh`,
/// `87654321`) allowed: longer runs are typed, not generated.
const MAX_SEQUENCE_LEN: usize = 7;

/// A token that met the rules; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminToken(String);

impl AdminToken {
    /// Checks `token` against the rules; the error says which one it broke
    /// and how to make a good token.
    pub fn parse(token: String) -> Result<AdminToken, String> {
        weakness(&token)
            .map(|weakness| format!("{weakness}; make one with `openssl rand -hex 32`"))
            .map_or(Ok(AdminToken(token)), Err)
    }

    /// Whether an `Authorization` header value carries this token, compared
    /// in constant time.
    pub fn authorizes(&self, authorization: Option<&[u8]>) -> bool {
        let presented = authorization
            .and_then(|value| value.strip_prefix(b"Bearer "))
            .unwrap_or_default();
        presented.ct_eq(self.0.as_bytes()).into()
    }
}

impl fmt::Debug for AdminToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminToken(<redacted>)")
    }
}

/// The first rule `token` breaks, if any.
fn weakness(token: &str) -> Option<String> {
    let chars: Vec<char> = token.chars().collect();
    if token.contains('$') {
        return Some("contains `$`: a variable such as `${ADMIN_TOKEN:-}` reached the service unexpanded".to_string());
    }
    if let Some(bad) = chars.iter().find(|c| !c.is_ascii_graphic()) {
        return Some(format!(
            "contains {bad:?}: use only visible ASCII characters, without spaces"
        ));
    }
    if chars.len() < MIN_TOKEN_LEN {
        return Some(format!(
            "too short: {} characters, at least {MIN_TOKEN_LEN} are needed",
            chars.len()
        ));
    }
    let distinct = chars.iter().collect::<std::collections::BTreeSet<_>>().len();
    if distinct < MIN_DISTINCT_CHARS {
        return Some(format!(
            "too little variety: {distinct} different characters, at least {MIN_DISTINCT_CHARS} are needed"
        ));
    }
    if let Some(period) = period(&chars) {
        return Some(format!("too little variety: repeats its first {period} characters"));
    }
    if longest_sequence(&chars) > MAX_SEQUENCE_LEN {
        return Some(format!(
            "too little variety: more than {MAX_SEQUENCE_LEN} characters in a row count up or down"
        ));
    }
    None
}

/// The length of the shortest prefix that `chars` repeats (`abcabcab` → 3),
/// if it is at most half the token.
fn period(chars: &[char]) -> Option<usize> {
    (1..=chars.len() / 2).find(|&p| chars.iter().skip(p).zip(chars).all(|(a, b)| a == b))
}

/// The longest run of characters that each differ from the one before by
/// the same step of one, up or down (`abcd`, `4321`).
fn longest_sequence(chars: &[char]) -> usize {
    let (mut longest, mut run, mut step) = (1, 1, 0i64);
    for pair in chars.windows(2) {
        let next = i64::from(u32::from(pair[1])) - i64::from(u32::from(pair[0]));
        if next.abs() == 1 && (next == step || run == 1) {
            run += 1;
        } else {
            run = if next.abs() == 1 { 2 } else { 1 };
        }
        step = next;
        longest = longest.max(run);
    }
    longest
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As made by `openssl rand -hex 32`.
    const GOOD: &str = "9f2c4e71a0b35d86e4f17c2a09b8d6e35f1a7c40e2b9d8163a5f07c4e2d91b68";

    #[test]
    fn a_generated_token_is_accepted() {
        for token in [GOOD, &GOOD[..32], "kZ3vQ8pL0xR7mT2wY5nB9cF4hJ6dG1sA"] {
            assert!(AdminToken::parse(token.to_string()).is_ok(), "{token}");
        }
    }

    #[test]
    fn weak_tokens_are_refused_with_the_rule_they_break() {
        for (token, rule) in [
            ("${ADMIN_TOKEN:-}", "`$`"),
            ("${ADMIN_TOKEN:-}9f2c4e71a0b35d86e4f17c2a09b8d6e35f", "unexpanded"),
            ("$ADMIN_TOKEN", "unexpanded"),
            ("9f2c4e71a0b35d86 e4f17c2a09b8d6e35f1a", "visible ASCII"),
            ("9f2c4e71a0b35d86é4f17c2a09b8d6e35f1a", "visible ASCII"),
            ("s3cret-token-0123456789", "too short"),
            (&GOOD[..31], "too short: 31 characters"),
            (&"a".repeat(64), "1 different characters"),
            ("0101010101010101010101010101010101", "different characters"),
            ("changeme-changeme-changeme-changeme-", "repeats its first 9 characters"),
            ("abcdefghijklmnopqrstuvwxyz012345", "count up or down"),
            ("9f2c4e71a0b3-87654321-c2a09b8d6e35f1a7", "count up or down"),
        ] {
            let error = AdminToken::parse(token.to_string()).unwrap_err();
            assert!(error.contains(rule), "{token}: {error}");
            assert!(error.contains("openssl rand -hex 32"), "{error}");
        }
    }

    #[test]
    fn sequences_and_periods_are_measured_exactly() {
        let chars = |s: &str| s.chars().collect::<Vec<_>>();
        assert_eq!(longest_sequence(&chars("x1234567y")), 7);
        assert_eq!(longest_sequence(&chars("abcba")), 3);
        assert_eq!(longest_sequence(&chars("acegi")), 1);
        assert_eq!(period(&chars("abcabcab")), Some(3));
        assert_eq!(period(&chars("abcabcad")), None);
    }

    #[test]
    fn only_the_exact_bearer_token_authorizes() {
        let token = AdminToken::parse(GOOD.to_string()).unwrap();
        assert!(token.authorizes(Some(format!("Bearer {GOOD}").as_bytes())));
        let shorter = format!("Bearer {}", &GOOD[..63]);
        let longer = format!("Bearer {GOOD}0");
        let basic = format!("Basic {GOOD}");
        for presented in [
            None,
            Some(&b""[..]),
            Some(GOOD.as_bytes()),
            Some(shorter.as_bytes()),
            Some(longer.as_bytes()),
            Some(basic.as_bytes()),
        ] {
            assert!(!token.authorizes(presented), "{presented:?}");
        }
    }

    #[test]
    fn the_token_is_never_printed() {
        let token = AdminToken::parse(GOOD.to_string()).unwrap();
        assert!(!format!("{token:?}").contains(&GOOD[..8]));
    }
}
