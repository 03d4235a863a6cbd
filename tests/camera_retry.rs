//! A camera whose URL refuses connections is logged with its id and retried with backoff, while the
//! other cameras keep producing.

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn a_refusing_camera_is_retried_while_the_others_stream() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("truck", &truck)]);
    let refused = format!("rtsp://127.0.0.1:{}/nothing-listens-here", free_port());
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(
        dir.path(),
        &[
            TestCamera { id: "dead-cam", url: &refused, decode: "keyframes" },
            TestCamera { id: "live-cam", url: &urls[0], decode: "keyframes" },
        ],
        300.0,
    );
    let service = start_service(&config, &base);

    let started = Instant::now();
    let mut frames_seen = Vec::new();
    loop {
        let (status, cameras) = get_json(&base, "/api/v1/cameras");
        assert_eq!(status, 200);
        let camera = |id: &str| cameras.as_array().unwrap().iter().find(|c| c["id"] == id).unwrap().clone();
        let (dead, live) = (camera("dead-cam"), camera("live-cam"));
        frames_seen.push(live["frames"].as_u64().unwrap());
        let retries = service.log().matches("camera failed; retrying").count();
        let increasing =
            frames_seen.len() > 2 && frames_seen[frames_seen.len() - 1] > frames_seen[frames_seen.len() - 3];
        if dead["restarts"].as_u64().unwrap() >= 2 && retries >= 2 && increasing {
            assert_ne!(dead["state"], "streaming");
            assert!(dead["last_error"].as_str().unwrap().contains("dead-cam"), "{dead}");
            assert_eq!(live["state"], "streaming", "{live}");
            assert!(live["frames_dropped"].as_u64().is_some(), "dropped frames are reported: {live}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "{cameras:#}\n{}", service.log());
        std::thread::sleep(Duration::from_millis(500));
    }

    let log = service.log();
    let failures: Vec<&str> = log.lines().filter(|l| l.contains("camera failed; retrying")).collect();
    assert!(failures.iter().all(|l| l.contains("camera=dead-cam")), "only the dead camera fails: {failures:#?}");
    // Exponential backoff: the announced delays grow (1 s, then about 2 s, with jitter).
    let delays: Vec<u64> = failures
        .iter()
        .filter_map(|l| l.split("retry_in_ms=").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect();
    assert!(delays.len() >= 2 && delays[1] > delays[0], "{delays:?}");
}
