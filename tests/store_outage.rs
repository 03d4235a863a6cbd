//! A database outage loses no case: with its PostgreSQL stopped, sharpeyes keeps taking sensor
//! readings, holds the violation and retries it with backoff; when the database is back the case is
//! filed, once. Killed while it holds one, it has not acknowledged the reading: the broker delivers it
//! again after the restart and the case is filed then.

mod common;

use std::time::Duration;

use common::*;

fn cases_of(base: &str, device: &str) -> Option<usize> {
    let (status, cases) = get_json(base, "/api/v1/cases?category=manhole_cover");
    (status == 200).then(|| cases.as_array().unwrap().iter().filter(|c| c["device"] == device).count())
}

#[test]
fn a_violation_during_a_database_outage_is_filed_once_the_database_is_back() {
    let postgres = PrivatePostgres::start();
    let dir = tempfile::tempdir().unwrap();
    let prefix = format!("se-outage-{}", nanos_since_epoch());
    let refused = format!("rtsp://127.0.0.1:{}/nothing", free_port());
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "dead", url: &refused, decode: "keyframes" }], 300.0);
    let mut sensors = manhole_sensor("mh-1", None);
    for device in ["mh-2", "mh-3"] {
        sensors.push_str(&format!(
            "\n[[sensors]]\nid = \"{device}\"\nkind = \"manhole_cover\"\ngrid = \"110105001001001\"\n"
        ));
    }
    add_mqtt(&config, "mqtt://127.0.0.1:1883", &prefix, &sensors);
    use_database(&config, &postgres.url());
    let mut service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || service.log().contains("MQTT connected"));
    let open = |device: &str| {
        let topic = format!("{prefix}/sensors/{device}/manhole_cover");
        publish_lines(
            1883,
            &topic,
            &[r#"{"open": true, "tilt_deg": 30.0, "ts": "2026-11-23T10:00:00Z"}"#.into()],
            None,
        );
    };

    open("mh-1");
    wait_for(Duration::from_secs(20), || service.log(), || cases_of(&base, "mh-1") == Some(1));

    postgres.stop_server();
    assert_ne!(get_json(&base, "/readyz").0, 200, "not ready without its database");
    open("mh-2");
    wait_for(Duration::from_secs(60), || service.log(), || service.log().contains("case store unavailable; retrying"));
    std::thread::sleep(Duration::from_secs(3));
    postgres.start_server();

    wait_for(Duration::from_secs(90), || service.log(), || cases_of(&base, "mh-2") == Some(1));
    assert_eq!(get_json(&base, "/readyz").0, 200);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(cases_of(&base, "mh-2"), Some(1), "filed once");
    assert_eq!(cases_of(&base, "mh-1"), Some(1));
    let metrics = String::from_utf8(get_bytes(&base, "/metrics").1).unwrap();
    assert!(!metrics.contains("sharpeyes_case_errors_total{"), "no violation was given up:\n{metrics}");

    // Another outage, and the process is killed while it holds mh-3's violation.
    postgres.stop_server();
    open("mh-3");
    wait_for(Duration::from_secs(60), || service.log(), || service.log().contains("source=mh-3"));
    service.child.kill().unwrap();
    service.child.wait().unwrap();
    postgres.start_server();
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(90), || service.log(), || cases_of(&base, "mh-3") == Some(1));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!([cases_of(&base, "mh-1"), cases_of(&base, "mh-2"), cases_of(&base, "mh-3")], [Some(1); 3]);
}
