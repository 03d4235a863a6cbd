//! Plates on parking cases, end to end: simcam serves a real photo of a parked car (HyperLPR's
//! test image, plate 苏ED51712) as an RTSP camera at full resolution, the detector and the dwell rule
//! open a parking case, the plate worker reads the vehicle's plate off the camera path; the case then
//! carries the plate, its crop as evidence and a `plate_read` step, and `?plate=` finds it.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_parked_car_opens_a_case_that_carries_its_plate() {
    let photo = media("plates/hyperlpr_test_img.jpg");
    // A 1080p camera at 8 Mbit/s: at the encoder's default 2 Mbit/s the plate's characters blur away.
    let (_simcam, urls) = start_simcam_on("127.0.0.1:0", &[("car", &photo)], &["--bitrate", "8000"]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "plate-cam", url: &urls[0], decode: "keyframes" }], 4.0);
    // The plate is read on the frame as decoded: keep the camera's full 1920 pixels.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("decode = \"keyframes\"", "decode = \"keyframes\"\nmax_width = 1920");
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);

    let started = Instant::now();
    let case = loop {
        let (status, cases) = get_json(&base, "/api/v1/cases?category=illegal_parking");
        assert_eq!(status, 200);
        if let Some(case) = cases.as_array().unwrap().iter().find(|c| !c["plate"].is_null()) {
            break case.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no parking case with a plate: {cases:#}\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    assert_eq!(case["plate"], "苏ED51712", "{case:#}");
    let score = case["plate_score"].as_f64().unwrap();
    assert!((0.5..=1.0).contains(&score), "{score}");
    let id = case["id"].as_i64().unwrap();

    for (query, found) in [("苏ED51712", true), ("苏ED", true), ("苏", true), ("京A", false), ("苏ED51713", false)]
    {
        let (status, list) = get_json(&base, &format!("/api/v1/cases?plate={query}"));
        assert_eq!(status, 200, "{query}: {list}");
        let ids: Vec<i64> = list.as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
        assert_eq!(ids.contains(&id), found, "?plate={query}: {ids:?}");
    }
    let (status, refused) = get_json(&base, "/api/v1/cases?plate=%25");
    assert_eq!(status, 400);
    assert!(refused["error"].as_str().unwrap().contains("plate"), "{refused}");

    let (status, detail) = get_json(&base, &format!("/api/v1/cases/{id}"));
    assert_eq!(status, 200);
    let crop = detail["plate_evidence"].as_i64().expect("the crop's evidence index");
    let (status, jpeg) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/{crop}"));
    assert_eq!(status, 200);
    let image = image::load_from_memory(&jpeg).unwrap();
    assert!(
        image.width() < 400 && image.height() < 200,
        "a crop of the plate, not the frame: {}x{}",
        image.width(),
        image.height()
    );
    let events = detail["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["action"] == "plate_read" && e["note"].as_str().unwrap().contains("苏ED51712")),
        "{events:#?}"
    );
    assert!(detail["same_plate"].as_array().unwrap().is_empty(), "no earlier case of this plate");

    // Open311 requests carry it too (an extension field).
    let (status, request) = get_json(&base, &format!("/open311/v2/requests/{id}.json"));
    assert_eq!(status, 200);
    assert_eq!(request[0]["plate"], "苏ED51712", "{request:#}");

    let metrics = reqwest::blocking::get(format!("{base}/metrics")).unwrap().text().unwrap();
    assert!(metric(&metrics, "sharpeyes_plate_reads_total{outcome=\"recorded\"}") >= 1.0, "{metrics}");
}
