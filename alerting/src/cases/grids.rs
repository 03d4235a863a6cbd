//! The grid hierarchy (区 → 街道 → 社区 → 网格): a 15-digit code is 6 digits of district, 3 of street,
//! 3 of community and 3 of grid cell, so every level's code is a prefix of the levels below it.
//! A grid may have an area (a GeoJSON polygon), by which cameras and sensors are placed in cells.

use geo::{Contains, MultiPolygon, Point};
use serde::Serialize;

/// A level of the hierarchy, told by the code's length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum GridLevel {
    /// 区 (6 digits).
    District,
    /// 街道 (9 digits).
    Street,
    /// 社区 (12 digits).
    Community,
    /// 网格 (15 digits): cameras and sensors belong to cells.
    Cell,
}

impl GridLevel {
    /// The level of a code, or `None` when it is not 6, 9, 12 or 15 digits.
    pub fn of(code: &str) -> Option<Self> {
        if !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        match code.len() {
            6 => Some(Self::District),
            9 => Some(Self::Street),
            12 => Some(Self::Community),
            15 => Some(Self::Cell),
            _ => None,
        }
    }
}

/// A grid's area: WGS 84 `[longitude, latitude]` polygons.
pub type Area = MultiPolygon<f64>;

/// A named grid of any level.
#[derive(Clone, Debug, PartialEq)]
pub struct Grid {
    /// 6, 9, 12 or 15 digits.
    pub code: String,
    /// Its name.
    pub name: String,
    /// Its area in WGS 84 `[longitude, latitude]`, when mapped.
    pub area: Option<Area>,
}

impl Grid {
    /// A grid without a mapped area.
    pub fn new(code: impl Into<String>, name: impl Into<String>) -> Self {
        Self { code: code.into(), name: name.into(), area: None }
    }
}

/// The grids of a GeoJSON `FeatureCollection`: each feature a `Polygon` or `MultiPolygon` with the
/// grid's `code` (and optionally `name`) in its properties. Every problem is named by its feature.
pub fn grids_from_geojson(text: &str) -> Result<Vec<Grid>, Vec<String>> {
    let collection: geojson::FeatureCollection = text.parse().map_err(|err| vec![format!("not GeoJSON: {err}")])?;
    let mut problems = Vec::new();
    let mut grids = Vec::new();
    for (i, feature) in collection.features.iter().enumerate() {
        let code = match feature.property("code") {
            Some(serde_json::Value::String(code)) if GridLevel::of(code).is_some() => code.clone(),
            other => {
                problems.push(format!(
                    "features[{i}].properties.code: {} is not a grid code of 6, 9, 12 or 15 digits (as a string)",
                    other.map_or("missing".to_owned(), ToString::to_string)
                ));
                continue;
            }
        };
        let name = feature.property("name").and_then(|name| name.as_str()).unwrap_or_default().to_owned();
        let area = match &feature.geometry {
            Some(geometry) => match MultiPolygon::<f64>::try_from(geometry) {
                Ok(area) => area,
                Err(_) => match geo::Polygon::<f64>::try_from(geometry) {
                    Ok(polygon) => MultiPolygon::new(vec![polygon]),
                    Err(_) => {
                        problems.push(format!("features[{i}].geometry: grid {code} must be a Polygon or MultiPolygon"));
                        continue;
                    }
                },
            },
            None => {
                problems.push(format!("features[{i}].geometry: grid {code} has no geometry"));
                continue;
            }
        };
        if grids.iter().any(|grid: &Grid| grid.code == code) {
            problems.push(format!("features[{i}].properties.code: {code} is mapped twice"));
            continue;
        }
        grids.push(Grid { code, name, area: Some(area) });
    }
    if problems.is_empty() { Ok(grids) } else { Err(problems) }
}

/// The grid cell (15 digits) whose area contains `[longitude, latitude]`.
pub fn cell_at(grids: &[Grid], [longitude, latitude]: [f64; 2]) -> Option<&Grid> {
    let point = Point::new(longitude, latitude);
    grids
        .iter()
        .filter(|grid| GridLevel::of(&grid.code) == Some(GridLevel::Cell))
        .find(|grid| grid.area.as_ref().is_some_and(|area| area.contains(&point)))
}

/// Cases of one grid cell, as counted by the store.
#[derive(Clone, Debug, Default, PartialEq, Eq, sqlx::FromRow)]
pub struct GridCaseCount {
    /// 15-digit cell code.
    pub grid: String,
    /// Cases not closed, evaluated or voided.
    pub open: i64,
    /// Open cases past their deadline (supervised).
    pub supervised: i64,
    /// All cases.
    pub total: i64,
}

/// A node of the grid tree with the cases of everything below it.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct GridNode {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: GridLevel,
    /// The code of the nearest listed grid above it, if any.
    pub parent: Option<String>,
    /// Open cases in it and below.
    pub open: i64,
    /// Supervised (overdue) open cases in it and below.
    pub supervised: i64,
    /// All cases in it and below.
    pub total: i64,
    /// Its area as a GeoJSON geometry, when mapped.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub geometry: Option<geojson::Geometry>,
}

/// The listed grids as a tree (ordered by code, so parents come before their children), each with
/// the cases of the cells under it.
pub fn grid_tree(grids: &[Grid], counts: &[GridCaseCount]) -> Vec<GridNode> {
    let mut nodes: Vec<GridNode> = grids
        .iter()
        .filter_map(|grid| {
            let level = GridLevel::of(&grid.code)?;
            let below = counts.iter().filter(|count| count.grid.starts_with(&grid.code));
            let (open, supervised, total) =
                below.fold((0, 0, 0), |(o, s, t), c| (o + c.open, s + c.supervised, t + c.total));
            let parent = grids
                .iter()
                .filter(|other| other.code.len() < grid.code.len() && grid.code.starts_with(&other.code))
                .max_by_key(|other| other.code.len())
                .map(|other| other.code.clone());
            let geometry = grid.area.as_ref().map(|area| geojson::Geometry::new(geojson::GeometryValue::from(area)));
            Some(GridNode {
                code: grid.code.clone(),
                name: grid.name.clone(),
                level,
                parent,
                open,
                supervised,
                total,
                geometry,
            })
        })
        .collect();
    nodes.sort_by(|a, b| a.code.cmp(&b.code));
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_roll_up_the_tree() {
        let grid = Grid::new;
        let grids = [
            grid("110105001001002", "cell 2"),
            grid("110105", "朝阳区"),
            grid("110105001", "建外街道"),
            grid("110105001001001", "cell 1"),
            grid("110105002001001", "other street's cell"),
        ];
        let count = |grid: &str, open, supervised, total| GridCaseCount { grid: grid.into(), open, supervised, total };
        let counts = [
            count("110105001001001", 2, 1, 5),
            count("110105001001002", 1, 0, 1),
            count("110105002001001", 4, 2, 4),
            count("110108001001001", 9, 9, 9),
        ];
        let tree = grid_tree(&grids, &counts);
        let codes: Vec<&str> = tree.iter().map(|n| n.code.as_str()).collect();
        assert_eq!(codes, ["110105", "110105001", "110105001001001", "110105001001002", "110105002001001"]);
        assert_eq!((tree[0].open, tree[0].supervised, tree[0].total), (7, 3, 10), "the district sums its cells");
        assert_eq!((tree[1].open, tree[1].supervised, tree[1].total), (3, 1, 6), "the street sums its own cells");
        assert_eq!(tree[1].level, GridLevel::Street);
        assert_eq!(tree[2].parent.as_deref(), Some("110105001"), "the nearest listed level above");
        assert_eq!(tree[4].parent.as_deref(), Some("110105"), "its street is not listed: the district");
        assert_eq!(GridLevel::of("11010500100"), None);
    }

    /// Two cells side by side in one community, the second a MultiPolygon with a hole.
    const MAP: &str = r#"{"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"code": "110105001001", "name": "community"},
         "geometry": {"type": "Polygon", "coordinates": [[[116.0, 39.0], [116.2, 39.0], [116.2, 39.1], [116.0, 39.1], [116.0, 39.0]]]}},
        {"type": "Feature", "properties": {"code": "110105001001001", "name": "west"},
         "geometry": {"type": "Polygon", "coordinates": [[[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1], [116.0, 39.0]]]}},
        {"type": "Feature", "properties": {"code": "110105001001002"},
         "geometry": {"type": "MultiPolygon", "coordinates": [[
            [[116.1, 39.0], [116.2, 39.0], [116.2, 39.1], [116.1, 39.1], [116.1, 39.0]],
            [[116.14, 39.04], [116.16, 39.04], [116.16, 39.06], [116.14, 39.06], [116.14, 39.04]]]]}}
    ]}"#;

    #[test]
    fn cameras_are_placed_in_the_cell_whose_area_contains_them() {
        let grids = grids_from_geojson(MAP).unwrap();
        assert_eq!(grids.len(), 3);
        assert_eq!((grids[1].name.as_str(), grids[2].name.as_str()), ("west", ""));
        let cell = |lon, lat| cell_at(&grids, [lon, lat]).map(|grid| grid.code.as_str());
        assert_eq!(cell(116.05, 39.05), Some("110105001001001"), "the cell, not the community around it");
        assert_eq!(cell(116.19, 39.01), Some("110105001001002"));
        assert_eq!(cell(116.15, 39.05), None, "inside the second cell's hole");
        assert_eq!(cell(117.0, 39.05), None, "outside every cell");
        let tree = grid_tree(&grids, &[]);
        assert!(tree.iter().all(|node| node.geometry.as_ref().map(|g| g.value.type_name()) == Some("MultiPolygon")));
    }

    #[test]
    fn a_bad_map_names_each_bad_feature() {
        let bad = r#"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"code": 110105001001001},
             "geometry": {"type": "Point", "coordinates": [116.0, 39.0]}},
            {"type": "Feature", "properties": {"code": "110105001001002"},
             "geometry": {"type": "Point", "coordinates": [116.0, 39.0]}},
            {"type": "Feature", "properties": {"code": "110105001001003"}, "geometry": null}
        ]}"#;
        assert_eq!(
            grids_from_geojson(bad).unwrap_err(),
            [
                "features[0].properties.code: 110105001001001 is not a grid code of 6, 9, 12 or 15 digits (as a string)",
                "features[1].geometry: grid 110105001001002 must be a Polygon or MultiPolygon",
                "features[2].geometry: grid 110105001001003 has no geometry",
            ]
        );
        assert!(grids_from_geojson("{").unwrap_err()[0].starts_with("not GeoJSON"));
    }
}
