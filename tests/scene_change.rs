//! Scene change through the whole path: a camera watches a `construction_watch` zone over a street;
//! its RTSP server is switched to the same street at dusk (no case, however long), then to the street
//! with a new building pasted in (one `illegal_construction` case, only once the change has lasted
//! `persist_s`, with the views after and before as evidence).

mod common;

use std::{
    path::Path,
    time::{Duration, Instant},
};

use common::*;
use serde_json::Value;

const PERSIST_S: i64 = 6;

fn construction_cases(base: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, "/api/v1/cases?category=illegal_construction");
    assert_eq!(status, 200);
    cases.as_array().unwrap().clone()
}

fn frames_of(base: &str) -> u64 {
    cameras_by_id(base)["site"]["frames"].as_u64().unwrap()
}

/// Serves `image` as the camera `site` on `listen` until the returned server is dropped.
fn serve(listen: &str, image: &Path) -> Running {
    start_simcam_on(listen, &[("site", image)], &[]).0
}

#[test]
fn a_new_building_opens_a_construction_case_after_the_persistence_time_and_dusk_never_does() {
    let dir = tempfile::tempdir().unwrap();
    let street = image::open(media("images/000000009769.jpg")).unwrap().to_rgb8();
    let (width, height) = street.dimensions();
    let other = image::open(media("images/000000006723.jpg"))
        .unwrap()
        .resize_exact(width, height, image::imageops::FilterType::Triangle)
        .to_rgb8();
    let mut dusk = street.clone();
    dusk.pixels_mut().for_each(|p| p.0 = p.0.map(|v| (f32::from(v) * 0.45) as u8));
    let mut built = street.clone();
    for (x, y, pixel) in built.enumerate_pixels_mut() {
        if x < width / 2 && y > height / 4 {
            *pixel = *other.get_pixel(x, y);
        }
    }
    let [street_png, dusk_png, built_png] =
        ["street", "dusk", "built"].map(|name| dir.path().join(format!("{name}.png")));
    street.save(&street_png).unwrap();
    dusk.save(&dusk_png).unwrap();
    built.save(&built_png).unwrap();

    let listen = format!("127.0.0.1:{}", free_port());
    let url = format!("rtsp://{listen}/site");
    let (config, base) = write_config(dir.path(), &[TestCamera { id: "site", url: &url, decode: "keyframes" }], 300.0);
    let text =
        std::fs::read_to_string(&config).unwrap().replace("kind = \"no_parking\"", "kind = \"construction_watch\"");
    std::fs::write(&config, format!("{text}\n[rules.scene_change]\npersist_s = {PERSIST_S}\n")).unwrap();

    let server = serve(&listen, &street_png);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(30), || service.log(), || frames_of(&base) >= 3);

    // Dusk: the camera reconnects and streams the darker view for three times the persistence time.
    drop(server);
    let server = serve(&listen, &dusk_png);
    let before_dusk = frames_of(&base);
    wait_for(Duration::from_secs(30), || service.log(), || frames_of(&base) >= before_dusk + 3);
    std::thread::sleep(Duration::from_secs(3 * PERSIST_S as u64));
    assert!(frames_of(&base) >= before_dusk + 8, "dusk was analysed:\n{}", service.log());
    assert!(construction_cases(&base).is_empty(), "lighting opened a case: {:#?}", construction_cases(&base));

    // A new building: one case, confirmed only after the change lasted PERSIST_S.
    drop(server);
    let _server = serve(&listen, &built_png);
    let switched = Instant::now();
    wait_for(Duration::from_secs(60), || service.log(), || !construction_cases(&base).is_empty());
    assert!(switched.elapsed() >= Duration::from_secs(PERSIST_S as u64), "confirmed before the persistence time");
    std::thread::sleep(Duration::from_secs(PERSIST_S as u64));
    let cases = construction_cases(&base);
    assert_eq!(cases.len(), 1, "one case for one change: {cases:#?}");
    let case = &cases[0];
    assert_eq!((case["code"].as_str(), case["zone"].as_str()), (Some("0101"), Some("all")));
    let id = case["id"].as_i64().unwrap();
    let (_, detail) = get_json(&base, &format!("/api/v1/cases/{id}"));
    let first_seen: chrono::DateTime<chrono::Utc> = detail["first_seen_at"].as_str().unwrap().parse().unwrap();
    let confirmed: chrono::DateTime<chrono::Utc> = detail["confirmed_at"].as_str().unwrap().parse().unwrap();
    assert!((confirmed - first_seen).num_seconds() >= PERSIST_S, "{first_seen} .. {confirmed}");
    assert_eq!(detail["objects"][0]["class"], "scene_change");
    assert_eq!(detail["evidence"].as_array().unwrap().len(), 2, "after and before: {detail:#}");
    for index in 0..2 {
        let (status, jpeg) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/{index}"));
        assert_eq!(status, 200);
        let image = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((image.width(), image.height()), (width, height));
    }
}
