//! `[open311]`: who may read without a token, what the public sees, where media links point, which
//! web origins may read, and where reports placed only by an address go.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sharpeyes_ingest::Problem;

use super::blur::PublicBlur;

/// `[open311]`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Open311Config {
    /// Anyone may read services, requests and their public media without a token, through the public
    /// view (no plate, no internal notes, no names). Off: every read takes `api_key` or a bearer token.
    #[serde(default)]
    pub public_read: bool,
    /// How many of a request's first evidence images the public view shows (boxes drawn, plates and
    /// other text blurred; a plate crop never); 0 shows none.
    #[serde(default = "default_public_media")]
    pub public_media: u32,
    /// The address clients reach the service at (`https://311.example.gov`), for absolute `media_url`s;
    /// without it, `http://` and the request's `Host` header.
    pub base_url: Option<String>,
    /// Web origins (`https://portal.example.gov`) whose pages may read Open311 (CORS, GET only).
    #[serde(default)]
    pub cors_origins: Vec<String>,
    /// The 15-digit grid cell for reports with neither a location nor a grid code whose
    /// `address_string` names no grid cell; without it such reports are refused.
    pub unplaced_grid: Option<String>,
    /// Who answers for the endpoint, in `discovery` (an e-mail address or a phone number).
    #[serde(default)]
    pub contact: String,
    /// How clients get an `api_key`, in `discovery`.
    #[serde(default)]
    pub key_service: String,
}

/// What Open311 needs besides the rest of the API's state.
#[derive(Clone, Debug)]
pub struct Open311Settings {
    /// `[open311]`.
    pub config: Open311Config,
    /// When the service started (discovery's changeset).
    pub started_at: DateTime<Utc>,
    /// Blurs the text of public images; none when the public sees no images.
    pub blur: Option<Arc<PublicBlur>>,
}

fn default_public_media() -> u32 {
    1
}

impl Default for Open311Config {
    fn default() -> Self {
        Self {
            public_read: false,
            public_media: default_public_media(),
            base_url: None,
            cors_origins: Vec::new(),
            unplaced_grid: None,
            contact: String::new(),
            key_service: String::new(),
        }
    }
}

impl Open311Config {
    /// Every problem, named by its key path; `grid_cells` are the configured 15-digit cells.
    pub fn validate(&self, grid_cells: &[&str]) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.public_media > 20 {
            problems.push(Problem::at("open311.public_media", format!("{} is outside 0..=20", self.public_media)));
        }
        if let Some(base) = &self.base_url
            && !matches!(url::Url::parse(base), Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some())
        {
            problems.push(Problem::at("open311.base_url", format!("'{base}' is not an http(s) URL")));
        }
        for (index, origin) in self.cors_origins.iter().enumerate() {
            let parsed = url::Url::parse(origin);
            let is_origin = matches!(&parsed, Ok(url) if matches!(url.scheme(), "http" | "https")
                && url.host().is_some() && url.path() == "/" && !origin.ends_with('/'));
            if !is_origin {
                problems.push(Problem::at(
                    format!("open311.cors_origins[{index}]"),
                    format!("'{origin}' is not an origin like https://portal.example.gov (scheme and host, no path)"),
                ));
            }
        }
        if let Some(grid) = &self.unplaced_grid
            && !grid_cells.contains(&grid.as_str())
        {
            problems
                .push(Problem::at("open311.unplaced_grid", format!("'{grid}' is not a configured 15-digit grid cell")));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_value_is_named_by_its_key_path() {
        let config = Open311Config {
            public_media: 50,
            base_url: Some("ftp://x".into()),
            cors_origins: vec!["https://ok.example".into(), "https://bad.example/path".into()],
            unplaced_grid: Some("110105001001009".into()),
            ..Open311Config::default()
        };
        let paths: Vec<String> = config.validate(&["110105001001001"]).into_iter().map(|p| p.path).collect();
        assert_eq!(
            paths,
            ["open311.public_media", "open311.base_url", "open311.cors_origins[1]", "open311.unplaced_grid"]
        );
        assert!(Open311Config::default().validate(&[]).is_empty());
    }
}
