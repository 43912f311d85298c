//! App settings: read through one small trait (the process environment, or a map in tests),
//! parsed once into typed values, with every problem collected so an operator sees them all at once.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Where app settings come from. The Functions host hands them to the handler as environment
/// variables; tests hand them over as a map, so nothing ever mutates the process environment.
pub trait Settings: Send + Sync {
    fn get(&self, name: &str) -> Option<String>;
}

/// The real process environment.
#[derive(Debug, Clone, Copy, Default)]
pub struct Environment;

impl Settings for Environment {
    fn get(&self, name: &str) -> Option<String> {
        std::env::var(name).ok()
    }
}

/// A fixed set of settings, for tests and for the local host.
#[derive(Debug, Clone, Default)]
pub struct SettingsMap(pub BTreeMap<String, String>);

impl SettingsMap {
    pub fn new<I, K, V>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        Self(pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect())
    }
}

impl Settings for SettingsMap {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

/// One thing wrong with the configuration: where (a setting name or a JSON path in the plan),
/// the offending value when there is one, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub at: String,
    pub value: Option<String>,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(v) => write!(f, "{} = {:?}: {}", self.at, v, self.message),
            None => write!(f, "{}: {}", self.at, self.message),
        }
    }
}

/// Every problem found in a configuration, reported together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    pub problems: Vec<Problem>,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(f, "invalid configuration ({n} problem{})", if n == 1 { "" } else { "s" })?;
        for p in &self.problems {
            write!(f, "\n  - {p}")?;
        }
        Ok(())
    }
}

/// Collects problems while a configuration is parsed, so parsing goes on past the first one.
#[derive(Debug, Default)]
pub struct Problems(Vec<Problem>);

impl Problems {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, at: impl Into<String>, value: Option<&str>, message: impl Into<String>) {
        self.0.push(Problem { at: at.into(), value: value.map(str::to_owned), message: message.into() });
    }

    pub fn extend(&mut self, other: ConfigError) {
        self.0.extend(other.problems);
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(value)` when nothing was wrong, else every problem found.
    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        if self.0.is_empty() {
            Ok(value)
        } else {
            Err(ConfigError { problems: self.0 })
        }
    }
}

/// Typed access to settings that records a problem instead of stopping at the first bad value.
pub struct Reader<'a> {
    settings: &'a dyn Settings,
    pub problems: Problems,
}

impl<'a> Reader<'a> {
    pub fn new(settings: &'a dyn Settings) -> Self {
        Self { settings, problems: Problems::new() }
    }

    /// The raw value; empty strings count as unset, as the portal leaves them.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.settings.get(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&mut self, name: &str, meaning: &str) -> Option<String> {
        let v = self.optional(name);
        if v.is_none() {
            self.problems.push(name, None, format!("required: {meaning}"));
        }
        v
    }

    /// Parses a value when present; a bad value is recorded, naming the setting and the value.
    pub fn parsed<T>(&mut self, name: &str, expected: &str) -> Option<T>
    where
        T: FromStr,
    {
        let raw = self.optional(name)?;
        match raw.trim().parse::<T>() {
            Ok(v) => Some(v),
            Err(_) => {
                self.problems.push(name, Some(&raw), format!("expected {expected}"));
                None
            }
        }
    }

    pub fn required_parsed<T: FromStr>(&mut self, name: &str, expected: &str) -> Option<T> {
        if self.optional(name).is_none() {
            self.problems.push(name, None, format!("required: {expected}"));
            return None;
        }
        self.parsed(name, expected)
    }

    pub fn finish<T>(self, value: T) -> Result<T, ConfigError> {
        self.problems.finish(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_every_bad_setting_with_its_value() {
        let s = SettingsMap::new([("PORT", "http"), ("TIMEOUT", "-3"), ("OK", "7")]);
        let mut r = Reader::new(&s);
        let port: Option<u16> = r.required_parsed("PORT", "a port number");
        let timeout: Option<u64> = r.parsed("TIMEOUT", "milliseconds");
        let ok: Option<u8> = r.parsed("OK", "a number");
        let missing = r.required("MISSING", "the plan file");
        assert_eq!((port, timeout, ok, missing), (None, None, Some(7), None));
        let err = r.finish(()).unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid configuration (3 problems)\n  \
             - PORT = \"http\": expected a port number\n  \
             - TIMEOUT = \"-3\": expected milliseconds\n  \
             - MISSING: required: the plan file"
        );
    }

    #[test]
    fn blank_values_count_as_unset() {
        let s = SettingsMap::new([("A", "  ")]);
        assert_eq!(Reader::new(&s).optional("A"), None);
    }
}
