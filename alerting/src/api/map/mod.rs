//! `GET /api/v1/map`: what the dashboard's map draws over the grid polygons of `GET /api/v1/grids`:
//! the cameras and sensors with their places and health, and the site's own tile server, if it has
//! one (the map works offline without it: the grid polygons are the base map).

pub mod config;

use std::collections::HashMap;

use axum::{Extension, Json, extract::State};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sharpeyes_ingest::camera::CameraState;

use super::{error::ErrorBody, state::ApiState};
use crate::cases::Principal;

/// The map's layers besides the grids.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapView {
    /// The site's tile URL template (`{z}/{x}/{y}`), if it has a tile server.
    pub tiles: Option<String>,
    /// Cameras with their state (none for a role that may not watch cameras).
    pub cameras: Vec<MapCamera>,
    /// Sensors with their latest message (none for a role that may not watch sensors).
    pub sensors: Vec<MapSensor>,
}

/// A camera on the map.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapCamera {
    /// Camera id.
    pub id: String,
    /// Its grid cell.
    pub grid: String,
    /// `[longitude, latitude]`; none: drawn in its cell.
    pub location: Option<[f64; 2]>,
    /// Its health now.
    pub state: CameraState,
    /// When its latest frame was captured.
    pub last_frame_at: Option<DateTime<Utc>>,
}

/// A sensor on the map.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MapSensor {
    /// Device id.
    pub device: String,
    /// Its grid cell.
    pub grid: String,
    /// `[longitude, latitude]`; none: drawn in its cell.
    pub location: Option<[f64; 2]>,
    /// When its latest valid message was measured; none: not heard from since start.
    pub last_seen_at: Option<DateTime<Utc>>,
}

/// `GET /api/v1/map`: the cameras and sensors with their places and health, and the tile template.
#[utoipa::path(get, path = "/api/v1/map", tag = "grids", responses((status = 200, body = MapView), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn view(State(state): State<ApiState>, Extension(who): Extension<Principal>) -> Json<MapView> {
    let map = &state.map;
    let (cameras, sensors) = if who.role.may_watch_cameras() {
        let statuses: HashMap<String, _> =
            state.cameras.statuses().iter().map(|camera| camera.snapshot()).map(|s| (s.id.clone(), s)).collect();
        let cameras = map
            .cameras
            .listed()
            .into_iter()
            .map(|(id, site)| {
                let status = statuses.get(&*id);
                MapCamera {
                    id: id.to_string(),
                    grid: site.grid,
                    location: site.location,
                    state: status.as_ref().map_or(CameraState::Connecting, |s| s.state),
                    last_frame_at: status.and_then(|s| s.last_frame_at),
                }
            })
            .collect();
        let heard = state.sensors.snapshot();
        let sensors = map
            .sensors
            .iter()
            .map(|place| MapSensor {
                device: place.device.clone(),
                grid: place.grid.clone(),
                location: place.location,
                last_seen_at: heard.iter().find(|s| s.device == place.device).map(|s| s.at),
            })
            .collect();
        (cameras, sensors)
    } else {
        (Vec::new(), Vec::new())
    };
    Json(MapView { tiles: map.config.tiles.clone(), cameras, sensors })
}
