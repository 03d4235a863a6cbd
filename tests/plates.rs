//! `sharpeyes plates` on the shared plate photos and crops (HyperLPR, CCPD): each is read as its label
//! in `media/plates/labels.csv`, with its corners inside the image. Two-row plates, of which the shared
//! set has none, are rendered at test time (Pillow, the WenQuanYi font set-up installs) and read as one.

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

/// `sharpeyes plates --json` on `files`: its document, keyed by file.
fn plates_json(files: &[String]) -> Value {
    let out = Command::new(binary())
        .current_dir(root())
        .args(["--log", "warn", "plates", "--json"])
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
    let results = plates_json(&files);
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
    let results = plates_json(&files);
    for ((top, bottom, _), file) in cases.iter().zip(&files) {
        let best = &results[file][0];
        assert_eq!(best["text"], format!("{top}{bottom}"), "{results:#}");
        assert_eq!(best["rows"], 2, "{results:#}");
    }
}
