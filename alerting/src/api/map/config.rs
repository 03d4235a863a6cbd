//! `[map]` and what the map's handler needs besides the rest of the API's state: where each camera
//! and sensor stands.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::casework::CameraSites;
use sharpeyes_ingest::Problem;

/// `[map]`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MapConfig {
    /// A tile server inside the site's network, as a URL template with `{z}`, `{x}` and `{y}`
    /// (Web Mercator tiles of 256 pixels, e.g. `http://tiles.district.local/{z}/{x}/{y}.png`). Unset:
    /// the grid polygons alone are the base map.
    pub tiles: Option<String>,
}

impl MapConfig {
    /// Every problem of `[map]`, by key path.
    pub fn validate(&self) -> Vec<Problem> {
        match &self.tiles {
            Some(tiles)
                if self.tile_origin().is_none() || !["{z}", "{x}", "{y}"].iter().all(|part| tiles.contains(part)) =>
            {
                vec![Problem::at(
                    "map.tiles",
                    format!("'{tiles}' is not an http(s) URL template with {{z}}, {{x}} and {{y}}"),
                )]
            }
            _ => Vec::new(),
        }
    }

    /// The tile server's origin (`http://tiles.district.local`), which the dashboard's content security
    /// policy lets images come from.
    pub fn tile_origin(&self) -> Option<String> {
        let template = self.tiles.as_deref()?;
        // The template's placeholders are not URL characters; any number parses in their place.
        let url = url::Url::parse(&template.replace(['{', '}'], "")).ok()?;
        matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization()).filter(|o| o != "null")
    }
}

/// Where a sensor stands, from the sensor registry.
#[derive(Clone, Debug)]
pub struct SensorPlace {
    /// Device id.
    pub device: String,
    /// Its grid cell.
    pub grid: String,
    /// `[longitude, latitude]`, when configured.
    pub location: Option<[f64; 2]>,
}

/// What the map needs besides the API's other state.
#[derive(Clone, Debug, Default)]
pub struct MapSettings {
    /// `[map]`.
    pub config: MapConfig,
    /// Every camera's place, cameras added and removed at runtime included.
    pub cameras: CameraSites,
    /// Every registered sensor's place.
    pub sensors: Arc<Vec<SensorPlace>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiles(template: &str) -> MapConfig {
        MapConfig { tiles: Some(template.into()) }
    }

    #[test]
    fn a_tile_template_needs_an_http_origin_and_every_placeholder() {
        let good = tiles("http://tiles.district.local:8081/osm/{z}/{x}/{y}.png");
        assert!(good.validate().is_empty());
        assert_eq!(good.tile_origin().as_deref(), Some("http://tiles.district.local:8081"));
        for bad in ["tiles.local/{z}/{x}/{y}.png", "http://tiles.local/{z}/{x}.png", "file:///srv/{z}/{x}/{y}.png"] {
            let problems = tiles(bad).validate();
            assert_eq!(problems.len(), 1, "{bad}");
            assert_eq!(problems[0].path, "map.tiles");
            assert!(problems[0].message.contains(bad), "{}", problems[0].message);
        }
        assert!(MapConfig::default().validate().is_empty());
    }
}
