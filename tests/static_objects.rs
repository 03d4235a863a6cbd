//! Objects left in a `no_dumping` zone through the whole path, on clips made at test time from the
//! shared street clip (`traffic.mp4`: a road seen from above, cars passing below the turn lane the
//! zone watches), each served by simcam as its own camera:
//! - bags cut from a real photo and laid in the turn lane from second 10 to 45 → one `litter` (0102)
//!   case whose object outlines them; taken through verify, dispatch and accept meanwhile, it gets a
//!   `cleared_seen` step with the bare lane as evidence and is reported handled
//!   (`report_handled_when_cleared`) once the bags are gone;
//! - a larger pile of them → one `stacking` (0507) case;
//! - a man cut from a real photo standing in the lane for the same time → no case (the detector's
//!   person box explains the change);
//! - the clip darkening to 40 % over a minute (dusk) → no case;
//! - a soft shadow band crossing the view → no case.

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;
use image::{Rgba, RgbaImage, imageops};
use serde_json::Value;

/// Seconds into each clip when the object (or the man) appears.
const APPEARS_S: u32 = 10;
/// Seconds into the bags' clip when they are taken away.
const TAKEN_S: u32 = 45;
/// Seconds an object must stand still.
const DWELL_S: u32 = 12;
/// Where the bags lie in the 640 x 360 street: in the turn lane, between its two arrows.
const BAGS: (u32, u32, u32, u32) = (150, 96, 72, 40);
/// Where the large pile lies.
const PILE: (u32, u32, u32, u32) = (420, 88, 190, 50);

/// Runs ffmpeg, naming the clip it failed to make.
fn ffmpeg(args: &[&str], making: &Path) {
    let output = Command::new("ffmpeg").args(["-loglevel", "error", "-y"]).args(args).arg(making).output().unwrap();
    assert!(output.status.success(), "ffmpeg making {}: {}", making.display(), String::from_utf8_lossy(&output.stderr));
}

/// The street clip played four times over (80 s), with `filter` applied to it (and to `overlay`'s
/// picture, when given, as `[1:v]`).
fn clip(dir: &Path, name: &str, overlay: Option<&Path>, filter: &str) -> std::path::PathBuf {
    let out = dir.join(format!("{name}.mp4"));
    let street = media("traffic.mp4").display().to_string();
    let mut args = vec!["-stream_loop", "3", "-i", &street];
    let picture;
    if let Some(path) = overlay {
        picture = path.display().to_string();
        args.extend(["-loop", "1", "-i", &picture]);
    }
    args.extend(["-filter_complex", filter, "-t", "80", "-an", "-c:v", "libx264", "-preset", "ultrafast", "-g", "25"]);
    ffmpeg(&args, &out);
    out
}

/// `region` (x, y, width, height) of a shared photo, scaled to `width` x `height`, saved as a PNG.
fn cut(dir: &Path, name: &str, photo: &str, region: (u32, u32, u32, u32), size: (u32, u32)) -> std::path::PathBuf {
    let source = image::open(media(&format!("images/{photo}.jpg"))).unwrap().to_rgba8();
    let (x, y, width, height) = region;
    let piece = imageops::crop_imm(&source, x, y, width, height).to_image();
    let path = dir.join(format!("{name}.png"));
    imageops::resize(&piece, size.0, size.1, imageops::FilterType::Triangle).save(&path).unwrap();
    path
}

/// A 90 px wide shadow band, half dark, its edges soft over 12 px.
fn shadow_band(dir: &Path) -> std::path::PathBuf {
    let band = RgbaImage::from_fn(90, 360, |x, _| {
        let edge = (x.min(89 - x) as f32 / 12.0).min(1.0);
        Rgba([0, 0, 0, (128.0 * edge) as u8])
    });
    let path = dir.join("band.png");
    band.save(&path).unwrap();
    path
}

fn cases_of(base: &str, camera: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, &format!("/api/v1/cases?camera={camera}"));
    assert_eq!(status, 200);
    cases.as_array().unwrap().clone()
}

fn frames_of(base: &str, camera: &str) -> u64 {
    cameras_by_id(base)[camera]["frames"].as_u64().unwrap_or(0)
}

#[test]
fn bags_left_in_the_lane_are_one_litter_case_a_pile_stacking_and_a_man_dusk_or_a_shadow_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path();
    let bags = cut(path, "bags", "000000009891", (333, 267, 160, 113), (BAGS.2, BAGS.3));
    let pile = cut(path, "pile", "000000009891", (333, 267, 160, 113), (PILE.2, PILE.3));
    let man = cut(path, "man", "000000009891", (80, 100, 127, 187), (80, 118));
    let band = shadow_band(path);
    let at = |(x, y, ..): (u32, u32, u32, u32)| {
        format!("[0:v][1:v]overlay=x={x}:y={y}:enable='gte(t,{APPEARS_S})':shortest=1")
    };
    let (x, y, ..) = BAGS;
    let for_a_while = format!("[0:v][1:v]overlay=x={x}:y={y}:enable='between(t,{APPEARS_S},{TAKEN_S})':shortest=1");
    let clips = [
        ("bags", clip(path, "bags", Some(&bags), &for_a_while)),
        ("pile", clip(path, "pile", Some(&pile), &at(PILE))),
        ("man", clip(path, "man", Some(&man), &at((300, 10, 0, 0)))),
        // eq scales luma around mid-grey: contrast 1 - 0.6k with brightness -0.3k is luma x (1 - 0.6k).
        ("dusk", clip(path, "dusk", None, "eq=eval=frame:contrast='1-0.6*min(t/60,1)':brightness='-0.3*min(t/60,1)'")),
        ("shadow", clip(path, "shadow", Some(&band), "[0:v][1:v]overlay=x='-90+t*10':y=0:shortest=1")),
    ];

    let listen = format!("127.0.0.1:{}", free_port());
    let streams: Vec<(&str, &Path)> = clips.iter().map(|(name, clip)| (*name, clip.as_path())).collect();
    let (_simcam, urls) = start_simcam_on(&listen, &streams, &["--gop", "25"]);
    let cameras: Vec<TestCamera> =
        clips.iter().zip(&urls).map(|((id, _), url)| TestCamera { id, url, decode: "keyframes" }).collect();
    let (config, base) = write_config(path, &cameras, 300.0);
    // The zone is the turn lane between the two carriageways.
    let text =
        std::fs::read_to_string(&config).unwrap().replace("kind = \"no_parking\"", "kind = \"no_dumping\"").replace(
            "[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]",
            "[[0.0, 0.22], [1.0, 0.22], [1.0, 0.4], [0.0, 0.4]]",
        );
    std::fs::write(
        &config,
        format!(
            "{text}\n[rules.static_object]\nmin_dwell_s = {DWELL_S}\nshort_term_s = 3\nlong_term_s = 120\n\
             report_handled_when_cleared = true\n"
        ),
    )
    .unwrap();
    let service = start_service(&config, &base);

    // The bags' case opens once they stood still for the dwell time; the office takes it on before
    // they are taken away.
    wait_for(Duration::from_secs(120), || service.log(), || !cases_of(&base, "bags").is_empty());
    let id = cases_of(&base, "bags")[0]["id"].as_i64().unwrap();
    for action in ["verify", "dispatch", "accept"] {
        let response = reqwest::blocking::Client::new()
            .post(format!("{base}/api/v1/cases/{id}/actions"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "action": action, "note": "test" }))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{action}: {}", response.text().unwrap());
    }
    // Every clip plays until well after the bags were taken away (a key-frame a second).
    let enough = u64::from(TAKEN_S + 10);
    wait_for(Duration::from_secs(150), || service.log(), || clips.iter().all(|(id, _)| frames_of(&base, id) >= enough));

    let bags_cases = cases_of(&base, "bags");
    assert_eq!(bags_cases.len(), 1, "one case for the bags: {bags_cases:#?}\n{}", service.log());
    let (_, detail) = get_json(&base, &format!("/api/v1/cases/{}", bags_cases[0]["id"]));
    assert_eq!((detail["category"].as_str(), detail["code"].as_str()), (Some("litter"), Some("0102")), "{detail:#}");
    let object = detail["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|object| object["class"] == "static_object")
        .unwrap_or_else(|| panic!("the static-object rule found them: {detail:#}"));
    let [x1, y1, x2, y2] = ["x1", "y1", "x2", "y2"].map(|key| object[key].as_f64().unwrap());
    let (bx, by, bw, bh) = BAGS;
    let (cx, cy) = (f64::from(bx + bw / 2), f64::from(by + bh / 2));
    assert!(x1 <= cx && cx <= x2 && y1 <= cy && cy <= y2, "the outline holds the bags' centre: {:?}", [x1, y1, x2, y2]);
    assert!(
        (x2 - x1) < 3.0 * f64::from(bw) && (y2 - y1) < 3.0 * f64::from(bh),
        "and not much more: {:?}",
        [x1, y1, x2, y2]
    );
    let steps: Vec<&str> = detail["events"].as_array().unwrap().iter().filter_map(|e| e["action"].as_str()).collect();
    let cleared = steps.iter().position(|step| *step == "cleared_seen");
    assert!(
        cleared.is_some() && steps.get(cleared.unwrap() + 1) == Some(&"report_handled"),
        "the bags were seen gone and the case reported handled: {steps:?}"
    );
    assert_eq!(detail["status"], "feedback", "{detail:#}");
    assert_eq!(
        detail["evidence"].as_array().unwrap().len(),
        3,
        "when they were found, before they appeared, and the lane bare again: {detail:#}"
    );

    let pile_cases = cases_of(&base, "pile");
    let categories: Vec<&str> = pile_cases.iter().filter_map(|case| case["category"].as_str()).collect();
    let objects: Value = pile_cases
        .iter()
        .map(|case| get_json(&base, &format!("/api/v1/cases/{}", case["id"])).1["objects"].clone())
        .collect();
    assert_eq!(categories, ["stacking"], "the pile's objects: {objects:#}");
    assert_eq!(pile_cases[0]["code"], "0507");

    for quiet in ["man", "dusk", "shadow"] {
        let cases = cases_of(&base, quiet);
        assert!(cases.is_empty(), "{quiet}: no object was left, yet {cases:#?}\n{}", service.log());
    }
}
