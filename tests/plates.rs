//! `sharpeyes plates` on the shared plate photos and crops (HyperLPR, CCPD): each is read as its label
//! in `media/plates/labels.csv`, with its corners inside the image, and so is each photo's vehicle cut
//! as the plate worker cuts it (`--vehicle`). Two-row plates, of which the shared set has none, are
//! rendered at test time (Pillow, the WenQuanYi font set-up installs) and read as one.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

fn labels() -> Vec<(String, String)> {
    let text = std::fs::read_to_string(media("plates/labels.csv")).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            (fields[0].to_owned(), fields[1].to_owned())
        })
        .collect()
}

/// `sharpeyes plates --json` (and `more` options) on `files`: its document, keyed by file.
fn plates_json(files: &[String], more: &[&str]) -> Value {
    let out = Command::new(binary())
        .current_dir(root())
        .args(["--log", "warn", "plates", "--json"])
        .args(more)
        .args(files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn every_shared_plate_is_read_as_its_label() {
    let labels = labels();
    assert_eq!(labels.len(), 8, "labels.csv rows");
    let files: Vec<String> =
        labels.iter().map(|(file, _)| media(&format!("plates/{file}")).display().to_string()).collect();
    let results = plates_json(&files, &[]);
    let mut wrong = Vec::new();
    for ((file, plate), path) in labels.iter().zip(&files) {
        let read = results[path].as_array().unwrap_or_else(|| panic!("no entry for {path}: {results}"));
        let best = read.first().map(|p| (p["text"].as_str().unwrap().to_owned(), p["score"].as_f64().unwrap()));
        match best {
            Some((text, score)) if text == *plate => {
                assert!((0.5..=1.0).contains(&score), "{file}: score {score}");
                let image = image::ImageReader::open(path).unwrap().with_guessed_format().unwrap().decode().unwrap();
                for corner in read[0]["quad"].as_array().unwrap() {
                    let (x, y) = (corner[0].as_f64().unwrap(), corner[1].as_f64().unwrap());
                    assert!(x >= 0.0 && y >= 0.0 && x <= f64::from(image.width()) && y <= f64::from(image.height()));
                }
            }
            other => wrong.push(format!("{file}: want {plate}, read {other:?}")),
        }
    }
    assert!(wrong.is_empty(), "misread: {wrong:#?}");
}

/// The plate worker's way (`--vehicle`): the largest vehicle `sharpeyes detect` finds in each shared
/// photo, cut with the worker's margin around its box, is read as the photo's label.
#[test]
fn each_photos_vehicle_cut_as_the_plate_worker_cuts_it_is_read_as_its_label() {
    let labels = labels();
    let files: Vec<String> =
        labels.iter().map(|(file, _)| media(&format!("plates/{file}")).display().to_string()).collect();
    let out = Command::new(binary())
        .current_dir(root())
        .args(["--log", "warn", "detect", "--model", "models/yolox_nano.toml", "--jobs", "1"])
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let boxes: Value = serde_json::from_slice(&out.stdout).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let margin = f64::from(sharpeyes_inference::plate::VEHICLE_MARGIN);
    let mut cuts = Vec::new();
    for ((file, plate), path) in labels.iter().zip(&files) {
        let found = boxes[file].as_array().unwrap_or_else(|| panic!("no detections for {file}: {boxes}"));
        let area = |b: &Value| {
            (b[2].as_f64().unwrap() - b[0].as_f64().unwrap()) * (b[3].as_f64().unwrap() - b[1].as_f64().unwrap())
        };
        let vehicle = found
            .iter()
            .filter(|d| ["car", "bus", "truck", "motorcycle"].contains(&d["class"].as_str().unwrap()))
            .map(|d| &d["box"])
            .max_by(|a, b| area(a).total_cmp(&area(b)));
        let Some(b) = vehicle else { continue };
        let [x1, y1, x2, y2] = [0, 1, 2, 3].map(|i| b[i].as_f64().unwrap());
        let (mx, my) = ((x2 - x1) * margin, (y2 - y1) * margin);
        let image = image::ImageReader::open(path).unwrap().with_guessed_format().unwrap().decode().unwrap();
        let (left, top) = ((x1 - mx).max(0.0) as u32, (y1 - my).max(0.0) as u32);
        let right = ((x2 + mx) as u32).min(image.width());
        let bottom = ((y2 + my) as u32).min(image.height());
        let cut = dir.path().join(format!("vehicle-{file}.png"));
        image.crop_imm(left, top, right - left, bottom - top).save(&cut).unwrap();
        cuts.push((cut.display().to_string(), plate.clone()));
    }
    assert!(cuts.len() >= 3, "the detector finds a vehicle in 3 or more of the photos, found {}", cuts.len());
    let paths: Vec<String> = cuts.iter().map(|(path, _)| path.clone()).collect();
    let results = plates_json(&paths, &["--vehicle"]);
    let wrong: Vec<String> = cuts
        .iter()
        .filter(|(path, plate)| results[path][0]["text"].as_str() != Some(plate))
        .map(|(path, plate)| format!("{path}: want {plate}, read {}", results[path]))
        .collect();
    assert!(wrong.is_empty(), "misread: {wrong:#?}");
}

#[test]
fn an_unreadable_file_is_named_and_the_others_are_still_read() {
    let dir = tempfile::tempdir().unwrap();
    let broken = dir.path().join("broken.jpg");
    std::fs::write(&broken, b"not an image").unwrap();
    let good = media("plates/hyperlpr_crop_0.jpg");
    let out = Command::new(binary())
        .current_dir(root())
        .args(["--log", "warn", "plates"])
        .arg(&broken)
        .arg(&good)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.jpg"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("津B6H920"), "{}", String::from_utf8_lossy(&out.stdout));
}

/// Renders a yellow 440 × 220 two-row plate (GA 36's proportions: a small top row over a large one),
/// alone or shrunk into a grey scene.
const RENDER_TWO_ROWS: &str = r#"
import sys
from PIL import Image, ImageDraw, ImageFont
font = "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"
top_text, bottom_text, out, scene = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "scene"
plate = Image.new("RGB", (440, 220), (245, 190, 20))
draw = ImageDraw.Draw(plate)
draw.rectangle([4, 4, 435, 215], outline=(0, 0, 0), width=4)
draw.text((220, 48), " ".join(top_text), font=ImageFont.truetype(font, 64), fill=(0, 0, 0), anchor="mm")
draw.text((220, 150), bottom_text, font=ImageFont.truetype(font, 120), fill=(0, 0, 0), anchor="mm")
if scene:
    image = Image.new("RGB", (640, 400), (120, 120, 120))
    image.paste(plate.resize((176, 88)), (230, 200))
else:
    image = plate
image.save(out)
"#;

#[test]
fn a_two_row_plate_is_read_as_one_plate() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [("苏E", "12345", "scene"), ("冀B", "0871挂", "plate")];
    let mut files = Vec::new();
    for (i, (top, bottom, layout)) in cases.iter().enumerate() {
        let path = dir.path().join(format!("two_rows_{i}.png"));
        let status = Command::new(root().join(".venv/bin/python"))
            .args(["-c", RENDER_TWO_ROWS, top, bottom])
            .arg(&path)
            .arg(layout)
            .status()
            .unwrap();
        assert!(status.success(), "rendering {top}/{bottom}");
        files.push(path.display().to_string());
    }
    let results = plates_json(&files, &[]);
    for ((top, bottom, _), file) in cases.iter().zip(&files) {
        let best = &results[file][0];
        assert_eq!(best["text"], format!("{top}{bottom}"), "{results:#}");
        assert_eq!(best["rows"], 2, "{results:#}");
    }
    // The scene, its plate in the lower half, read as a vehicle cut (the plate worker's way).
    let as_vehicle = plates_json(&files[..1], &["--vehicle"]);
    assert_eq!(as_vehicle[&files[0]][0]["text"], "苏E12345", "{as_vehicle:#}");
    assert_eq!(as_vehicle[&files[0]][0]["rows"], 2, "{as_vehicle:#}");
}
