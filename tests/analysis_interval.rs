//! `analyse_every_s`: a camera that needs a look every few seconds, not every key-frame. Two cameras on
//! the same simcam stream (a key-frame a second): one analyses every key-frame, the other one every
//! 3 s — it decodes about a third as many, counts the rest as skipped, and still files the parked truck.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_camera_with_an_analysis_interval_analyses_a_key_frame_every_interval_and_still_files() {
    let truck = media("images/000000009769.jpg");
    let rtsp = format!("127.0.0.1:{}", free_port());
    let (_simcam, urls) = start_simcam_on(&rtsp, &[("truck", &truck)], &["--gop", "25"]);
    let dir = tempfile::tempdir().unwrap();
    let cameras = [
        TestCamera { id: "every", url: &urls[0], decode: "keyframes" },
        TestCamera { id: "sparse", url: &urls[0], decode: "keyframes" },
    ];
    let (config, base) = write_config(dir.path(), &cameras, 6.0);
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replace("id = \"sparse\"\n", "id = \"sparse\"\nanalyse_every_s = 3.0\n")).unwrap();
    let service = start_service(&config, &base);

    let started = Instant::now();
    loop {
        let (_, cases) = get_json(&base, "/api/v1/cases?camera=sparse");
        if !cases.as_array().unwrap().is_empty() {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(90), "no case for the sparse camera:\n{}", service.log());
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(6));
    let cameras = cameras_by_id(&base);
    let count = |camera: &str, field: &str| cameras[camera][field].as_u64().unwrap();
    let (every, sparse, skipped) =
        (count("every", "frames"), count("sparse", "frames"), count("sparse", "frames_skipped"));
    println!("every key-frame: {every} analysed; every 3 s: {sparse} analysed, {skipped} skipped");
    assert_eq!(count("every", "frames_skipped"), 0, "no interval: nothing skipped");
    assert!(skipped >= sparse, "about two of every three key-frames skipped: {sparse} analysed, {skipped} skipped");
    let received = sparse + skipped;
    assert!((received / 3).abs_diff(sparse) <= 2, "one analysed per three received: {sparse} of {received}");
    assert!(every + 3 >= received, "both cameras received the same stream: {every} vs {received}");
    let metrics = String::from_utf8(get_bytes(&base, "/metrics").1).unwrap();
    let counted = metric(&metrics, "sharpeyes_camera_frames_skipped_total{camera=\"sparse\"}") as u64;
    assert!(counted >= skipped, "/metrics counts the skipped key-frames: {counted}");

    // The pace each camera asks for and gets: every key-frame (1 s apart) and every 3 s, both kept up
    // with on this idle box, with the detector's count of each.
    let pace = |camera: &str| {
        let c = &cameras[camera];
        (c["target_interval_s"].as_f64().unwrap(), c["analysis_interval_s"].as_f64().unwrap(), c["state"].clone())
    };
    let (every_target, every_interval, every_state) = pace("every");
    let (sparse_target, sparse_interval, sparse_state) = pace("sparse");
    println!(
        "asked/got: every {every_target:.2}/{every_interval:.2} s, sparse {sparse_target:.2}/{sparse_interval:.2} s"
    );
    assert!((0.8..1.3).contains(&every_target) && every_interval < every_target * 1.5, "{:#?}", cameras["every"]);
    assert!((2.9..3.3).contains(&sparse_target) && sparse_interval < sparse_target * 1.5, "{:#?}", cameras["sparse"]);
    assert_eq!((every_state.as_str(), sparse_state.as_str()), (Some("streaming"), Some("streaming")));
    let analysed = metric(&metrics, "sharpeyes_camera_keyframes_analysed_total{camera=\"sparse\"}") as u64;
    let detected = metric(&metrics, "sharpeyes_inference_frames_total{camera=\"sparse\"}") as u64;
    assert!(analysed.abs_diff(detected) <= 1, "taken by the detector {analysed}, detected {detected}");
    let interval = metric(&metrics, "sharpeyes_camera_analysis_interval_seconds{camera=\"sparse\"}");
    assert!(interval > 2.0 && interval < 4.5, "/metrics carries the interval: {interval}");
}
