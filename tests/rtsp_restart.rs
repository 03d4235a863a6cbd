//! The RTSP server of two cameras is killed mid-stream and started again: its cameras go `stalled`,
//! then `streaming` again within the backoff, while a camera on another server never stops producing.
//! A third camera speaks H.265. Of the two on the restarted server, one is received by retina (the
//! default), the other by GStreamer's `rtspsrc` (`client = "gstreamer"`).

mod common;

use std::time::{Duration, Instant};

use common::*;

#[test]
fn cameras_of_a_restarted_rtsp_server_come_back_while_the_others_stream() {
    let truck = media("images/000000009769.jpg");
    let traffic = media("traffic.mp4");
    let listen = format!("127.0.0.1:{}", free_port());
    let streams_a = [("a1", truck.as_path()), ("a2", truck.as_path())];
    let (mut server_a, urls_a) = start_simcam_on(&listen, &streams_a, &["--gop", "25"]);
    let (_server_b, urls_b) = start_simcam(&[("b1", &traffic)]);
    let (_server_c, urls_c) =
        start_simcam_on(&format!("127.0.0.1:{}", free_port()), &[("hevc", &truck)], &["--codec", "h265"]);

    let dir = tempfile::tempdir().unwrap();
    let cameras = [
        TestCamera { id: "a1", url: &urls_a[0], decode: "keyframes" },
        TestCamera { id: "a2", url: &urls_a[1], decode: "keyframes" },
        TestCamera { id: "b1", url: &urls_b[0], decode: "keyframes" },
        TestCamera { id: "hevc", url: &urls_c[0], decode: "keyframes" },
    ];
    let (config, base) = write_config(dir.path(), &cameras, 3600.0);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("id = \"hevc\"\n", "id = \"hevc\"\ncodec = \"h265\"\n")
        .replace("id = \"a2\"\n", "id = \"a2\"\nclient = \"gstreamer\"\n");
    std::fs::write(&config, text.replace("decode = \"keyframes\"", "decode = \"keyframes\"\nstall_timeout_s = 5"))
        .unwrap();
    let service = start_service(&config, &base);
    let received_by = |camera: &str| {
        let log = service.log();
        let line = log.lines().find(|l| l.contains("camera starting") && l.contains(&format!("camera={camera} ")));
        line.and_then(|l| ["retina", "rtspsrc"].into_iter().find(|c| l.contains(&format!("received by {c}"))))
    };
    assert_eq!((received_by("a1"), received_by("a2")), (Some("retina"), Some("rtspsrc")), "{}", service.log());

    let all_streaming = |ids: &[&str], cameras: &std::collections::HashMap<String, serde_json::Value>| {
        ids.iter().all(|id| cameras[*id]["state"] == "streaming")
    };
    let started = Instant::now();
    while !all_streaming(&["a1", "a2", "b1", "hevc"], &cameras_by_id(&base)) {
        assert!(started.elapsed() < Duration::from_secs(40), "{:#?}\n{}", cameras_by_id(&base), service.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(cameras_by_id(&base)["hevc"]["frames"].as_u64().unwrap() > 0, "H.265 key-frames are decoded");

    // Kill the server of a1 and a2; b1 must go on, every poll.
    let b1_before = cameras_by_id(&base)["b1"]["frames"].as_u64().unwrap();
    server_a.child.kill().unwrap();
    server_a.child.wait().unwrap();
    let killed = Instant::now();
    let mut seen_stalled = [false, false];
    loop {
        let cameras = cameras_by_id(&base);
        for (i, id) in ["a1", "a2"].iter().enumerate() {
            seen_stalled[i] |= cameras[*id]["state"] == "stalled";
        }
        assert_eq!(cameras["b1"]["state"], "streaming", "{:#?}", cameras["b1"]);
        if seen_stalled == [true, true] {
            break;
        }
        assert!(killed.elapsed() < Duration::from_secs(20), "{cameras:#?}\n{}", service.log());
        std::thread::sleep(Duration::from_millis(100));
    }

    // Start it again on the same address: both cameras stream again within the backoff.
    std::thread::sleep(Duration::from_secs(3));
    let (_server_a, _) = start_simcam_on(&listen, &streams_a, &["--gop", "25"]);
    let restarted = Instant::now();
    loop {
        let cameras = cameras_by_id(&base);
        assert_eq!(cameras["b1"]["state"], "streaming", "{:#?}", cameras["b1"]);
        if all_streaming(&["a1", "a2"], &cameras) {
            for id in ["a1", "a2"] {
                assert!(cameras[id]["restarts"].as_u64().unwrap() >= 1, "{:#?}", cameras[id]);
                assert!(cameras[id]["last_error"].as_str().is_some(), "{:#?}", cameras[id]);
            }
            break;
        }
        assert!(restarted.elapsed() < Duration::from_secs(40), "{cameras:#?}\n{}", service.log());
        std::thread::sleep(Duration::from_millis(200));
    }
    let b1 = &cameras_by_id(&base)["b1"];
    assert!(b1["frames"].as_u64().unwrap() > b1_before, "b1 kept producing: {b1:#}");
    assert_eq!(b1["restarts"], 0, "{b1:#}");

    let (_, metrics) = get_bytes(&base, "/metrics");
    let metrics = String::from_utf8(metrics).unwrap();
    assert!(metrics.contains("sharpeyes_camera_state{camera=\"a1\",state=\"streaming\"} 1"), "{metrics}");
    assert!(metrics.contains("sharpeyes_camera_restarts_total{camera=\"b1\"} 0"), "{metrics}");
}
