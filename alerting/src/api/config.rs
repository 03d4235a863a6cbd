//! `[auth]`: the API tokens (in the file, and in a second file kept apart as a secret) — validated
//! with every problem's key path, and built into the [`Authenticator`].

use std::{collections::HashSet, path::PathBuf};

use serde::{Deserialize, Serialize};
use sharpeyes_ingest::Problem;

use super::auth::{ApiToken, Authenticator};

/// `[auth]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct AuthConfig {
    /// `[[auth.tokens]]`.
    #[serde(default)]
    pub tokens: Vec<ApiToken>,
    /// A second TOML file of `[[tokens]]` (same keys), added to these: kept apart from the rest of the
    /// configuration, e.g. as a Kubernetes Secret beside a ConfigMap.
    pub tokens_file: Option<PathBuf>,
}

/// The contents of `auth.tokens_file`.
#[derive(Debug, Deserialize)]
struct TokensFile {
    #[serde(default)]
    tokens: Vec<ApiToken>,
}

impl AuthConfig {
    /// Adds the tokens of `tokens_file`, if one is named; the problem names `auth.tokens_file`.
    pub fn read_tokens_file(&mut self) -> Result<(), Problem> {
        let Some(file) = &self.tokens_file else {
            return Ok(());
        };
        let problem = |message: String| Problem::at("auth.tokens_file", message);
        let text =
            std::fs::read_to_string(file).map_err(|err| problem(format!("cannot read '{}': {err}", file.display())))?;
        let read: TokensFile = toml::from_str(&text).map_err(|err| problem(format!("'{}': {err}", file.display())))?;
        self.tokens.extend(read.tokens);
        Ok(())
    }

    /// Every problem of the tokens, by key path: digests of 64 hex digits, names used once, departments
    /// among `departments`.
    pub fn validate(&self, departments: &HashSet<&str>) -> Vec<Problem> {
        let mut problems = Vec::new();
        let mut names = HashSet::new();
        for (i, token) in self.tokens.iter().enumerate() {
            if let Some(department) = &token.department
                && !departments.contains(department.as_str())
            {
                problems.push(Problem::at(
                    format!("auth.tokens[{i}].department"),
                    format!("'{department}' is not in [[departments]]"),
                ));
            }
            if token.sha256.len() != 64 || !token.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                problems.push(Problem::at(
                    format!("auth.tokens[{i}].sha256"),
                    "must be the 64-digit hex SHA-256 of the token",
                ));
            }
            if !names.insert(token.name.as_str()) {
                problems.push(Problem::at(format!("auth.tokens[{i}].name"), format!("'{}' is used twice", token.name)));
            }
        }
        problems
    }

    /// The token check, each token limited to `per_second` requests on average and `burst` at once.
    pub fn authenticator(&self, per_second: u32, burst: u32) -> Authenticator {
        Authenticator::new(&self.tokens).with_rate_limit(per_second, burst)
    }
}
