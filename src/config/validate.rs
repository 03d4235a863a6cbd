use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
};

use sharpeyes_alerting::{cases::GridConfig, rules::ZoneConfig};

use sharpeyes_alerting::cases::DepartmentConfig;

use super::{Config, Problem, parse_window};

/// What is wrong with the grid a camera or sensor names (nothing for an empty one: it was reported
/// when it could not be placed by its location).
fn grid_problem(grid: &str, listed: &HashSet<&str>) -> Option<String> {
    if grid.is_empty() {
        None
    } else if !listed.contains(grid) {
        Some(format!("'{grid}' is not one of the [[grids]] codes"))
    } else if grid.len() != 15 {
        Some(format!("'{grid}' is not a grid cell (15 digits): cameras and sensors belong to cells"))
    } else {
        None
    }
}

/// Every semantic problem of a parsed configuration, each with its key path.
pub fn validate(config: &Config) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut report = |path: String, message: String| problems.push(Problem { path, message });

    if config.server.listen.parse::<SocketAddr>().is_err() {
        report("server.listen".into(), format!("'{}' is not an address like 127.0.0.1:8080", config.server.listen));
    }
    if let Some(url) = &config.server.database
        && !(url.starts_with("postgres://") || url.starts_with("postgresql://"))
    {
        report(
            "server.database".into(),
            "must be a postgres:// URL (SQLite needs no setting: it lives in data_dir)".into(),
        );
    }
    let cells: Vec<&str> = config.grids.iter().map(|grid| grid.code.as_str()).filter(|code| code.len() == 15).collect();
    let open311 = config.open311.validate(&cells);
    for problem in config
        .cluster
        .validate()
        .into_iter()
        .chain(config.plates.validate())
        .chain(open311)
        .chain(config.map.validate())
    {
        report(problem.path, problem.message);
    }
    if config.server.failed_logins_per_minute == 0 {
        report("server.failed_logins_per_minute".into(), "must be at least 1".into());
    }
    if config.server.rate_limit_per_s == 0 || config.server.rate_limit_burst == 0 {
        report("server.rate_limit_per_s".into(), "the rate and the burst must be at least 1".into());
    }
    for (key, seconds) in [
        ("server.header_timeout_s", config.server.header_timeout_s),
        ("server.idle_timeout_s", config.server.idle_timeout_s),
    ] {
        if !(seconds.is_finite() && (0.1..=86_400.0).contains(&seconds)) {
            report(key.into(), format!("{seconds} is outside 0.1..=86400 seconds"));
        }
    }
    for (key, count) in [
        ("server.max_connections", config.server.max_connections),
        ("server.streams_per_token", config.server.streams_per_token),
    ] {
        if count == 0 {
            report(key.into(), "must be at least 1".into());
        }
    }
    for problem in config.detector.validate() {
        report(problem.path, problem.message);
    }

    for problem in config.cases.validate() {
        report(problem.path, problem.message);
    }
    for (i, camera) in config.cameras.iter().enumerate() {
        if let Some([longitude, latitude]) = camera.location
            && !((-180.0..=180.0).contains(&longitude) && (-90.0..=90.0).contains(&latitude))
        {
            report(format!("cameras[{i}].location"), "must be [longitude, latitude] in degrees".into());
        }
    }
    for problem in DepartmentConfig::validate_all(&config.departments) {
        report(problem.path, problem.message);
    }
    let department_ids: HashSet<&str> = config.departments.iter().map(|d| d.id.as_str()).collect();
    for problem in config.auth.validate(&department_ids) {
        report(problem.path, problem.message);
    }

    for problem in GridConfig::validate_all(&config.grids) {
        report(problem.path, problem.message);
    }
    let grid_codes: HashSet<&str> = config.grids.iter().map(|grid| grid.code.as_str()).collect();

    let mut camera_ids = HashMap::new();
    for (i, camera) in config.cameras.iter().enumerate() {
        let at = |key: &str| format!("cameras[{i}].{key}");
        if camera.id.is_empty() || camera.id.contains(['/', '+', '#']) {
            report(at("id"), "must be non-empty, without '/', '+' or '#' (it names MQTT topics and URL paths)".into());
        } else if let Some(first) = camera_ids.insert(camera.id.as_str(), i) {
            report(at("id"), format!("'{}' is also the id of cameras[{first}]", camera.id));
        }
        if let Some(message) = grid_problem(&camera.grid, &grid_codes) {
            report(at("grid"), message);
        }
        for (k, window) in camera.maintenance.iter().enumerate() {
            if parse_window(window).is_none() {
                report(at(&format!("maintenance[{k}]")), format!("{window:?} is not a window of two HH:MM times"));
            }
        }
        for problem in camera.validate(&format!("cameras[{i}]")) {
            report(problem.path, problem.message);
        }
        for problem in ZoneConfig::validate_list(&camera.zones, &format!("cameras[{i}]")) {
            report(problem.path, problem.message);
        }
    }

    let devices: HashSet<&str> = config.sensors.iter().map(|s| s.id.as_str()).collect();
    for problem in config.rules.validate(&devices) {
        report(problem.path, problem.message);
    }
    for problem in config.notify.validate(config.mqtt.is_some()) {
        report(problem.path, problem.message);
    }

    if let Some(mqtt) = &config.mqtt {
        for problem in mqtt.validate() {
            report(problem.path, problem.message);
        }
    }
    let mut sensor_ids = HashSet::new();
    for (i, sensor) in config.sensors.iter().enumerate() {
        if sensor.id.is_empty() || sensor.id.contains(['/', '+', '#']) {
            report(format!("sensors[{i}].id"), "must be non-empty, without '/', '+' or '#'".into());
        } else if !sensor_ids.insert(sensor.id.as_str()) {
            report(format!("sensors[{i}].id"), format!("'{}' is listed twice", sensor.id));
        }
        if let Some(message) = grid_problem(&sensor.grid, &grid_codes) {
            report(format!("sensors[{i}].grid"), message);
        }
    }
    if !config.sensors.is_empty() && config.mqtt.is_none() {
        report("mqtt".into(), "[[sensors]] are listed but no [mqtt] broker is configured".into());
    }

    problems
}

#[cfg(test)]
mod tests {
    use super::super::Config;

    const DESIGN_EXAMPLE: &str = r#"
[server]
listen   = "127.0.0.1:8080"
data_dir = "data"

[[grids]]
code = "110105001001001"
name = "..."

[[cameras]]
id     = "cam-01"
url    = "rtsp://127.0.0.1:8554/street"
grid   = "110105001001001"
decode = "keyframes"
  [[cameras.zones]]
  id      = "np-1"
  kind    = "no_parking"
  polygon = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]

[rules.illegal_parking]
min_dwell_s = 300

[[auth.tokens]]
name   = "ops-desk"
role   = "admin"
sha256 = "5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8"
"#;

    #[test]
    fn the_design_example_is_valid() {
        let config = Config::parse(DESIGN_EXAMPLE).unwrap();
        assert_eq!(config.cameras[0].zones[0].polygon.len(), 4);
        assert_eq!(config.rules.illegal_parking.min_dwell_s.get(), 300.0);
    }

    #[test]
    fn a_camera_from_the_api_is_checked_as_the_file_checks_it_with_paths_within_its_entry() {
        let config = Config::parse(DESIGN_EXAMPLE).unwrap();
        let camera = config
            .checked_camera(serde_json::json!({
                "id": "cam-02", "url": "rtsp://127.0.0.1:8554/gate", "grid": "110105001001001",
                "zones": [{ "id": "np-1", "kind": "no_parking", "polygon": [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0]] }],
            }))
            .unwrap();
        assert_eq!((camera.id.as_str(), camera.zones.len()), ("cam-02", 1));
        assert!(camera.analyse_every_s.is_none(), "defaults are filled in");

        let problems = config
            .checked_camera(serde_json::json!({
                "id": "", "url": "http://127.0.0.1/gate", "grid": "110105001001999", "colour": "red",
                "maintenance": [["25:00", "04:00"]],
                "zones": [{ "id": "a", "kind": "no_parking", "polygon": [[0.0, 0.0]] }],
            }))
            .unwrap_err();
        let mut paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["colour", "grid", "id", "maintenance[0]", "url", "zones[0].polygon"], "{problems:?}");

        let problems = config.checked_camera(serde_json::json!({ "id": "cam-03", "url": 7 })).unwrap_err();
        assert_eq!(problems[0].path, "url", "a wrong type names its path: {problems:?}");
        let problems = config.checked_camera(serde_json::json!(["not", "an", "entry"])).unwrap_err();
        assert_eq!(problems[0].path, "(camera)", "{problems:?}");
    }

    #[test]
    fn a_rule_section_from_the_api_is_checked_as_the_file_checks_it() {
        let config = Config::parse(DESIGN_EXAMPLE).unwrap();
        let section = config.checked_rule("litter", serde_json::json!({ "min_dwell_s": 60, "classes": ["bottle"] }));
        let section = section.unwrap().unwrap();
        assert_eq!((section.min_dwell_s.get(), section.classes), (60.0, Some(vec!["bottle".to_owned()])));
        assert!(config.checked_rule("scene_change", serde_json::json!({})).is_none(), "not a dwell rule");

        let problems = config
            .checked_rule("illegal_parking", serde_json::json!({ "min_dwell_s": 0, "min_score": 1.5, "colour": "red" }))
            .unwrap()
            .unwrap_err();
        let mut paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["colour", "min_dwell_s", "min_score"], "{problems:?}");
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let broken = DESIGN_EXAMPLE
            .replace("grid   = \"110105001001001\"", "grid   = \"110105001001999\"\ncolour = \"red\"")
            .replace("[[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]", "[[0.0, 0.5], [1.5, 0.5]]")
            .replace("min_dwell_s = 300", "min_dwell_s = -1");
        let problems = Config::parse(&broken).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        for expected in [
            "cameras[0].colour",
            "cameras[0].grid",
            "cameras[0].zones[0].polygon",
            "cameras[0].zones[0].polygon[1]",
            "rules.illegal_parking.min_dwell_s",
        ] {
            assert!(paths.contains(&expected), "{expected} missing from {problems:?}");
        }
    }

    #[test]
    fn tokens_from_a_second_file_are_added_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens.toml");
        let config = dir.path().join("sharpeyes.toml");
        let main = DESIGN_EXAMPLE
            .replace("[[auth.tokens]]", &format!("[auth]\ntokens_file = \"{}\"\n[[auth.tokens]]", tokens.display()));
        std::fs::write(&config, &main).unwrap();
        std::fs::write(&tokens, "[[tokens]]\nname = \"desk-2\"\nrole = \"operator\"\nsha256 = \"5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d9\"\n").unwrap();
        let loaded = Config::load(&config).unwrap();
        assert_eq!(loaded.auth.tokens.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["ops-desk", "desk-2"]);

        std::fs::write(&tokens, "[[tokens]]\nname = \"ops-desk\"\nrole = \"operator\"\nsha256 = \"00\"\n").unwrap();
        let paths: Vec<String> = Config::load(&config).unwrap_err().into_iter().map(|p| p.path).collect();
        assert!(paths.contains(&"auth.tokens[1].sha256".to_owned()), "{paths:?}");
        assert!(paths.contains(&"auth.tokens[1].name".to_owned()), "{paths:?}");

        std::fs::remove_file(&tokens).unwrap();
        let problems = Config::load(&config).unwrap_err();
        assert_eq!(problems[0].path, "auth.tokens_file");
    }

    #[test]
    fn a_wrong_type_names_its_path() {
        let broken = DESIGN_EXAMPLE.replace("decode = \"keyframes\"", "decode = \"everything\"");
        let problems = Config::parse(&broken).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(problems[0].path, "cameras[0].decode");
        assert!(problems[0].message.contains("everything"), "{}", problems[0].message);
    }

    #[test]
    fn sensor_rules_name_their_field_condition_and_devices() {
        let with_rules = format!(
            "{DESIGN_EXAMPLE}{}",
            r#"
[mqtt]
url = "mqtt://127.0.0.1:1883"

[[sensors]]
id = "mh-1"
kind = "manhole_cover"
grid = "110105001001001"

[[rules.sensor]]
id = "tilt"
kind = "manhole_cover"
field = "tilt_deg"
above = 15.0
clear_below = 20.0
for_s = -1
category = "manhole_cover"

[[rules.sensor]]
id = "open"
kind = "manhole_cover"
field = "open"
devices = ["mh-1", "mh-9"]
category = "manhole_cover"
"#
        );
        let problems = Config::parse(&with_rules).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "rules.sensor[0].clear_below",
                "rules.sensor[0].for_s",
                "rules.sensor[1].equals",
                "rules.sensor[1].devices[1]"
            ],
            "{problems:?}"
        );
        let fixed = with_rules.replace("clear_below = 20.0", "clear_below = 10.0").replace("for_s = -1", "for_s = 30");
        let fixed = fixed.replace("field = \"open\"", "field = \"open\"\nequals = true").replace(", \"mh-9\"", "");
        let config = Config::parse(&fixed).unwrap_or_else(|p| panic!("{p:?}"));
        assert_eq!(config.rules.sensor.len(), 2);
    }

    #[test]
    fn receivers_and_routes_are_checked_by_path() {
        let text = format!(
            "{DESIGN_EXAMPLE}{}",
            r#"
[notify]
max_attempts = 0
[[notify.receivers]]
id = "ops"
url = "ftp://example.org/hook"
[[notify.receivers]]
id = "ops"
url = "http://127.0.0.1:9/hook"
secret = "k"
[notify.route]
receivers = ["ops"]
[[notify.route.routes]]
match = { grids = ["110105"] }
receivers = ["police"]
"#
        );
        let problems = Config::parse(&text).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "notify.max_attempts",
                "notify.receivers[0].url",
                "notify.receivers[0].secret",
                "notify.receivers[1].id",
                "notify.route.routes[0].receivers[0]"
            ],
            "{problems:?}"
        );
    }
}
