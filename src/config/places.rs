//! Grid areas from `cases.grid_polygons`, and cameras and sensors placed in the cells containing them.

use sharpeyes_alerting::cases::grids::{self, Grid};

use sharpeyes_alerting::cases::GridConfig;

use super::{Config, Problem};

/// Adds the grids mapped in `cases.grid_polygons` to `[[grids]]` (a listed grid gets its area, and
/// its name when it has none), then puts each camera and sensor that names no grid in the mapped cell
/// containing its location. Returns the problems, each named by its key.
pub fn place(config: &mut Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mapped = match &config.cases.grid_polygons {
        Some(path) => match std::fs::read_to_string(path) {
            Ok(text) => grids::grids_from_geojson(&text).unwrap_or_else(|messages| {
                let at = format!("cases.grid_polygons ({})", path.display());
                problems.extend(messages.into_iter().map(|message| Problem { path: at.clone(), message }));
                Vec::new()
            }),
            Err(err) => {
                let message = format!("cannot read '{}': {err}", path.display());
                problems.push(Problem { path: "cases.grid_polygons".into(), message });
                Vec::new()
            }
        },
        None => Vec::new(),
    };
    for Grid { code, name, area } in mapped {
        match config.grids.iter_mut().find(|grid| grid.code == code) {
            Some(listed) => {
                listed.area = area;
                if listed.name.is_empty() {
                    listed.name = name;
                }
            }
            None => config.grids.push(GridConfig { code, name, area }),
        }
    }

    let areas: Vec<Grid> = config
        .grids
        .iter()
        .filter(|grid| grid.area.is_some())
        .map(|grid| Grid { code: grid.code.clone(), name: grid.name.clone(), area: grid.area.clone() })
        .collect();
    let mut place_one = |key: String, grid: &mut String, location: Option<[f64; 2]>| {
        if !grid.is_empty() {
            return;
        }
        match location {
            Some(location) => match grids::cell_at(&areas, location) {
                Some(cell) => grid.clone_from(&cell.code),
                None => problems.push(Problem {
                    path: format!("{key}.location"),
                    message: format!("{location:?} lies in no grid cell of cases.grid_polygons; set {key}.grid"),
                }),
            },
            None => problems.push(Problem {
                path: format!("{key}.grid"),
                message: "missing: name a grid cell, or give a location inside a cell of cases.grid_polygons".into(),
            }),
        }
    };
    for (i, camera) in config.cameras.iter_mut().enumerate() {
        place_one(format!("cameras[{i}]"), &mut camera.grid, camera.location);
    }
    for (i, sensor) in config.sensors.iter_mut().enumerate() {
        place_one(format!("sensors[{i}]"), &mut sensor.grid, sensor.location);
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    fn map_file() -> tempfile::NamedTempFile {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            file.path(),
            r#"{"type": "FeatureCollection", "features": [
                {"type": "Feature", "properties": {"code": "110105001001001", "name": "东区网格"},
                 "geometry": {"type": "Polygon", "coordinates": [[[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1], [116.0, 39.0]]]}},
                {"type": "Feature", "properties": {"code": "110105001001002", "name": "西区网格"},
                 "geometry": {"type": "Polygon", "coordinates": [[[116.1, 39.0], [116.2, 39.0], [116.2, 39.1], [116.1, 39.1], [116.1, 39.0]]]}}
            ]}"#,
        )
        .unwrap();
        file
    }

    fn config(map: &std::path::Path, cameras: &str) -> String {
        format!(
            "[cases]\ngrid_polygons = {:?}\n[[grids]]\ncode = \"110105001001001\"\n{cameras}",
            map.display().to_string()
        )
    }

    #[test]
    fn cameras_and_sensors_without_a_grid_are_placed_by_location() {
        let map = map_file();
        let text = config(
            map.path(),
            r#"
[[cameras]]
id = "a"
url = "rtsp://127.0.0.1/a"
location = [116.15, 39.05]
[[cameras]]
id = "b"
url = "rtsp://127.0.0.1/b"
grid = "110105001001001"
location = [116.15, 39.05]
[mqtt]
url = "mqtt://127.0.0.1"
[[sensors]]
id = "mh-1"
kind = "manhole_cover"
location = [116.05, 39.05]
"#,
        );
        let config = Config::parse(&text).unwrap();
        assert_eq!(config.cameras[0].grid, "110105001001002");
        assert_eq!(config.cameras[1].grid, "110105001001001", "a named grid is kept");
        assert_eq!(config.sensors[0].grid, "110105001001001");
        let listed = &config.grids[0];
        assert_eq!((listed.name.as_str(), listed.area.is_some()), ("东区网格", true), "listed grid completed");
        assert_eq!(config.grids.len(), 2, "the second cell is added from the map");
    }

    #[test]
    fn a_camera_outside_every_cell_or_without_grid_and_location_is_named() {
        let map = map_file();
        let text = config(
            map.path(),
            r#"
[[cameras]]
id = "a"
url = "rtsp://127.0.0.1/a"
location = [117.0, 39.05]
[[cameras]]
id = "b"
url = "rtsp://127.0.0.1/b"
"#,
        );
        let problems: Vec<String> = Config::parse(&text).unwrap_err().iter().map(ToString::to_string).collect();
        assert!(problems[0].starts_with("cameras[0].location: [117.0, 39.05] lies in no grid cell"), "{problems:?}");
        assert!(problems[1].starts_with("cameras[1].grid: missing"), "{problems:?}");
        let unreadable = Config::parse("[cases]\ngrid_polygons = \"/nonexistent.geojson\"\n").unwrap_err();
        assert_eq!(unreadable[0].path, "cases.grid_polygons");
    }
}
