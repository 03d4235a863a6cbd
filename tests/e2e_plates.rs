//! Plates on parking cases, end to end: simcam serves a real photo of a parked car (HyperLPR's
//! test image, plate 苏ED51712) as two 1080p RTSP cameras, one decoded at its full 1920 pixels and one
//! at the default 1280; the detector and the dwell rule open a parking case on each, the plate worker
//! reads the vehicle's plate off the camera path from the key-frame at the camera's own resolution;
//! each case then carries the plate, its crop as evidence and a `plate_read` step, `?plate=` finds
//! it and the later case lists the earlier as the same plate's; Open311's public view shows neither
//! the plate nor a legible image of it.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_parked_car_opens_a_case_that_carries_its_plate() {
    let photo = media("plates/hyperlpr_test_img.jpg");
    // A 1080p camera at 8 Mbit/s: at the encoder's default 2 Mbit/s the plate's characters blur away.
    let (_simcam, urls) =
        start_simcam_on("127.0.0.1:0", &[("car", &photo), ("car-again", &photo)], &["--bitrate", "8000"]);
    let dir = tempfile::tempdir().unwrap();
    let cameras = [
        TestCamera { id: "plate-cam", url: &urls[0], decode: "keyframes" },
        TestCamera { id: "scaled-cam", url: &urls[1], decode: "keyframes" },
    ];
    let (config, base) = write_config(dir.path(), &cameras, 4.0);
    // plate-cam keeps the camera's full 1920 pixels for its evidence images (the public view's blur is
    // checked on them below); scaled-cam is decoded at the default 1280.
    let text = std::fs::read_to_string(&config).unwrap().replacen(
        "decode = \"keyframes\"",
        "decode = \"keyframes\"\nmax_width = 1920",
        1,
    ) + "\n[open311]\npublic_read = true\n";
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);

    let started = Instant::now();
    let with_plate = |camera: &str| {
        let (status, cases) = get_json(&base, &format!("/api/v1/cases?category=illegal_parking&camera={camera}"));
        assert_eq!(status, 200);
        cases.as_array().unwrap().iter().find(|c| !c["plate"].is_null()).cloned()
    };
    let (case, scaled) = loop {
        if let (Some(case), Some(scaled)) = (with_plate("plate-cam"), with_plate("scaled-cam")) {
            break (case, scaled);
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "no parking case with a plate on each camera\n{}",
            service.log()
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    for case in [&case, &scaled] {
        assert_eq!(case["plate"], "苏ED51712", "{case:#}");
        let score = case["plate_score"].as_f64().unwrap();
        assert!((0.5..=1.0).contains(&score), "{score}");
    }
    let id = case["id"].as_i64().unwrap();

    // The camera decoded at 1280 had its plate read, and cut, from the key-frame at 1920: the plate is
    // 149 pixels wide in the photo (100 at 1280), and its crop adds a quarter on each side.
    let scaled_id = scaled["id"].as_i64().unwrap();
    let (_, scaled_detail) = get_json(&base, &format!("/api/v1/cases/{scaled_id}"));
    let scaled_crop = scaled_detail["plate_evidence"].as_i64().expect("the crop's evidence index");
    let (status, jpeg) = get_bytes(&base, &format!("/api/v1/cases/{scaled_id}/evidence/{scaled_crop}"));
    assert_eq!(status, 200);
    let scaled_crop = image::load_from_memory(&jpeg).unwrap();
    assert!(
        (180..400).contains(&scaled_crop.width()),
        "the crop is cut from the full-resolution key-frame: {}x{}",
        scaled_crop.width(),
        scaled_crop.height()
    );
    // Repeat offenders: the later case lists the earlier one as the same plate's.
    let (earlier, later) = (id.min(scaled_id), id.max(scaled_id));
    let (_, later_detail) = get_json(&base, &format!("/api/v1/cases/{later}"));
    let same: Vec<i64> =
        later_detail["same_plate"].as_array().unwrap().iter().map(|c| c["id"].as_i64().unwrap()).collect();
    assert_eq!(same, vec![earlier], "{later_detail:#}");

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
    // The plate is 149 pixels wide in the 1920-pixel photo (100 at 1280); its crop adds a quarter on
    // each side.
    assert!(
        image.width() >= 180,
        "the crop is cut from the full-resolution key-frame: {}x{}",
        image.width(),
        image.height()
    );
    let events = detail["events"].as_array().unwrap();
    assert!(
        events.iter().any(|e| e["action"] == "plate_read" && e["note"].as_str().unwrap().contains("苏ED51712")),
        "{events:#?}"
    );

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
