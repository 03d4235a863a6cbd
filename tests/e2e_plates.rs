//! Plates on parking cases, end to end: simcam serves a real photo of a parked car (HyperLPR's
//! test image, plate 苏ED51712) as an RTSP camera at full resolution, the detector and the dwell rule
//! open a parking case, the plate worker reads the vehicle's plate off the camera path; the case then
//! carries the plate, its crop as evidence and a `plate_read` step, and `?plate=` finds it; Open311's
//! public view shows neither the plate nor a legible image of it.

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
        .replace("decode = \"keyframes\"", "decode = \"keyframes\"\nmax_width = 1920")
        + "\n[open311]\npublic_read = true\n";
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

    // The public view (public_read): no plate anywhere, and the image the public sees has it blurred
    // beyond what the plate reader can read, where the staff's image of the same frame reads.
    let public = reqwest::blocking::get(format!("{base}/open311/v2/requests/{id}.json")).unwrap().text().unwrap();
    assert!(!public.contains("plate") && !public.contains("苏ED"), "{public}");
    let public: serde_json::Value = serde_json::from_str(&public).unwrap();
    let media_url = public[0]["media_url"].as_str().unwrap();
    let blurred = reqwest::blocking::get(media_url).unwrap();
    assert_eq!(blurred.status(), 200, "{media_url}");
    let (status, original) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/0"));
    assert_eq!(status, 200);
    // Both read as the plate worker reads: the vehicle's box cut from the image.
    let vehicle = &detail["objects"][0];
    let [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map(|key| vehicle[key].as_f64().unwrap().max(0.0) as u32);
    let vehicle_of = |jpeg: &[u8], name: &str| {
        let image = image::load_from_memory(jpeg).unwrap().to_rgb8();
        let (width, height) = (x2.min(image.width()) - x1, y2.min(image.height()) - y1);
        let path = dir.path().join(name);
        image::imageops::crop_imm(&image, x1, y1, width, height).to_image().save(&path).unwrap();
        path
    };
    let read = |path: &std::path::Path| {
        let out = std::process::Command::new(binary())
            .current_dir(root())
            .args(["--log", "warn", "plates", "--json"])
            .arg(path)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let staff_reads = read(&vehicle_of(&original, "staff.png"));
    assert!(staff_reads.contains("苏ED51712"), "the staff's evidence image shows the plate: {staff_reads}");
    let public_reads = read(&vehicle_of(&blurred.bytes().unwrap(), "public.png"));
    assert!(!public_reads.contains("苏ED"), "the public image's plate is blurred: {public_reads}");
    let (status, _) = get_bytes(&base, &format!("/open311/v2/media/{id}/{crop}.jpg"));
    assert_eq!(status, 200, "staff may read the crop through Open311");
    let crop_public = reqwest::blocking::get(format!("{base}/open311/v2/media/{id}/{crop}.jpg")).unwrap();
    assert_eq!(crop_public.status(), 404, "the public never sees the plate crop");

    let metrics = reqwest::blocking::get(format!("{base}/metrics")).unwrap().text().unwrap();
    assert!(metric(&metrics, "sharpeyes_plate_reads_total{outcome=\"recorded\"}") >= 1.0, "{metrics}");
}
