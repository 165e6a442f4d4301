//! Reading settings from environment variables, with defaults, so that a bad
//! value stops the program at start with a message naming the variable.

use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

/// A variable whose value cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: &'static str, message: impl Into<String>) -> ConfigError {
        ConfigError {
            variable,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "invalid {}: {}", self.variable, self.message)
    }
}

impl std::error::Error for ConfigError {}

/// The variables, read through a function so that tests need no real
/// environment.
pub struct Env<'a>(&'a dyn Fn(&str) -> Option<String>);

impl<'a> Env<'a> {
    pub fn new(var: &'a dyn Fn(&str) -> Option<String>) -> Env<'a> {
        Env(var)
    }

    /// The trimmed value; unset and empty are the same.
    pub fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
    }

    /// An operator's bearer token, `None` when unset (its routes are off);
    /// a weak one is refused with the rule it breaks.
    pub fn token(&self, name: &'static str) -> Result<Option<crate::AdminToken>, ConfigError> {
        self.text(name)
            .map(crate::AdminToken::parse)
            .transpose()
            .map_err(|weakness| ConfigError::new(name, weakness))
    }

    /// The value, or `default`.
    pub fn text_or(&self, name: &str, default: &str) -> String {
        self.text(name).unwrap_or_else(|| default.to_string())
    }

    /// Parsed with `FromStr`; `expected` describes a good value.
    pub fn parse<T: FromStr>(&self, name: &'static str, default: &str, expected: &str) -> Result<T, ConfigError> {
        let value = self.text_or(name, default);
        value
            .parse()
            .map_err(|_| ConfigError::new(name, format!("{value:?} is not {expected}")))
    }

    /// A whole number within `range`.
    pub fn number(&self, name: &'static str, default: u64, range: RangeInclusive<u64>) -> Result<u64, ConfigError> {
        let expected = format!("a whole number from {} to {}", range.start(), range.end());
        let value: u64 = self.parse(name, &default.to_string(), &expected)?;
        if !range.contains(&value) {
            return Err(ConfigError::new(name, format!("{value} is not {expected}")));
        }
        Ok(value)
    }

    /// Whole seconds within `range`.
    pub fn seconds(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_secs)
    }

    /// Whole milliseconds within `range`.
    pub fn millis(
        &self,
        name: &'static str,
        default: u64,
        range: RangeInclusive<u64>,
    ) -> Result<Duration, ConfigError> {
        self.number(name, default, range).map(Duration::from_millis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(pairs: &[(&str, &str)], read: impl FnOnce(&Env) -> T) -> T {
        let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let var = move |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        read(&Env::new(&var))
    }

    #[test]
    fn defaults_apply_to_unset_and_empty_values() {
        assert_eq!(with(&[], |env| env.number("N", 7, 1..=10)), Ok(7));
        assert_eq!(with(&[("N", "  ")], |env| env.number("N", 7, 1..=10)), Ok(7));
        assert_eq!(with(&[("N", " 3 ")], |env| env.number("N", 7, 1..=10)), Ok(3));
    }

    #[test]
    fn errors_name_the_variable_and_the_expected_value() {
        let error = with(&[("N", "11")], |env| env.number("N", 7, 1..=10)).unwrap_err();
        assert_eq!(error.to_string(), "invalid N: 11 is not a whole number from 1 to 10");
        let error = with(&[("N", "many")], |env| env.seconds("N", 7, 1..=10)).unwrap_err();
        assert_eq!(error.variable, "N");
        let error = with(&[("A", "here")], |env| {
            env.parse::<std::net::SocketAddr>("A", "0.0.0.0:1", "an address")
        })
        .unwrap_err();
        assert_eq!(error.to_string(), "invalid A: \"here\" is not an address");
    }
}
