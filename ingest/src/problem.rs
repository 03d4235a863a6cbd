//! A configuration problem at a key path: what every component's `validate` returns, so that
//! `sharpeyes check-config` lists every problem of every section at once.

use std::fmt;

/// A problem at a key path (`cameras[1].zones[0].polygon`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a key path.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem at `path`.
    pub fn at(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self { path: path.into(), message: message.into() }
    }

    /// Every problem of `problems` as `path: message`, joined by `separator` (for a log line, an API
    /// error or a command's message).
    pub fn list(problems: &[Self], separator: &str) -> String {
        problems.iter().map(ToString::to_string).collect::<Vec<_>>().join(separator)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// A finite number above zero (NaN is not).
pub fn positive(value: f64) -> bool {
    value.is_finite() && value > 0.0
}
