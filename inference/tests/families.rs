//! Every model family through ONNX Runtime itself: tiny ONNX graphs with known outputs in each family's
//! layout, written by `make_family_models.py` at test time, decoded by the real [`Detector`].

use std::{path::Path, process::Command};

use sharpeyes_inference::{
    BBox, Detector, DetectorOptions, Error, Manifest, RgbView,
    runtime::{SessionOptions, SessionThreads},
};

fn python() -> String {
    format!("{}/../.venv/bin/python", env!("CARGO_MANIFEST_DIR"))
}

/// Writes the tiny models into a temporary folder.
fn models() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script = format!("{}/tests/make_family_models.py", env!("CARGO_MANIFEST_DIR"));
    let status =
        Command::new(python()).arg(script).arg(dir.path()).status().expect("run .venv python (scripts/setup.sh)");
    assert!(status.success());
    dir
}

fn manifest(dir: &Path, file: &str, family: &str, size: u32) -> Manifest {
    let text = format!(
        r#"
name = "{file}"
file = "{file}"
family = "{family}"
classes = ["person", "car"]
[input]
width = {size}
height = {size}
[thresholds]
confidence = 0.25
nms = 0.45
"#
    );
    let path = dir.join(format!("{file}.toml"));
    std::fs::write(&path, text).unwrap();
    Manifest::load(&path).unwrap()
}

fn options(max_batch: usize) -> DetectorOptions {
    DetectorOptions {
        session: SessionOptions { threads: SessionThreads::default(), ..SessionOptions::default() },
        max_batch,
    }
}

fn assert_box(actual: BBox, expected: [f32; 4]) {
    let close = actual.to_array().iter().zip(expected).all(|(a, e)| (a - e).abs() < 1e-3);
    assert!(close, "{actual:?} != {expected:?}");
}

#[test]
fn each_family_decodes_its_known_output() {
    let dir = models();
    let blank = vec![0u8; 64 * 64 * 3];
    // (file, family, class, score, box in 64x64 input pixels)
    let cases = [
        ("yolox.onnx", "yolox", "car", 0.72, [12.0, 24.0, 28.0, 32.0]),
        ("yolov5.onnx", "yolov5", "person", 0.81, [22.0, 27.0, 42.0, 37.0]),
        ("yolov8.onnx", "yolov8", "car", 0.7, [22.0, 27.0, 42.0, 37.0]),
        ("end2end.onnx", "end2end", "car", 0.9, [1.0, 2.0, 30.0, 40.0]),
    ];
    for (file, family, class, score, corners) in cases {
        let mut detector = Detector::load(manifest(dir.path(), file, family, 64), options(1)).unwrap();
        let detections = detector.detect(&blank, 64, 64).unwrap();
        assert_eq!(detections.len(), 1, "{family}: {detections:?}");
        assert_eq!(&*detections[0].class, class, "{family}");
        assert!((detections[0].score - score).abs() < 1e-5, "{family}: {}", detections[0].score);
        assert_box(detections[0].bbox, corners);

        // A frame twice the input size: boxes come back in the frame's pixels.
        let large = vec![0u8; 128 * 128 * 3];
        let detections = detector.detect(&large, 128, 128).unwrap();
        assert_box(detections[0].bbox, corners.map(|v| (v * 2.0).min(128.0)));
    }
}

#[test]
fn dynamic_batches_run_in_one_call_and_fixed_ones_frame_by_frame() {
    let dir = models();
    let blank = vec![0u8; 64 * 64 * 3];
    let frames = vec![RgbView { rgb: &blank, width: 64, height: 64 }; 5];

    let mut dynamic = Detector::load(manifest(dir.path(), "yolov5.onnx", "yolov5", 64), options(4)).unwrap();
    assert_eq!(dynamic.call_batch(), 4);
    let results = dynamic.detect_batch(&frames).unwrap();
    assert_eq!(results.len(), 5);
    assert!(results.iter().all(|r| r.len() == 1 && (r[0].score - 0.81).abs() < 1e-5), "{results:?}");

    let mut fixed = Detector::load(manifest(dir.path(), "yolov5_fixed.onnx", "yolov5", 64), options(4)).unwrap();
    assert_eq!(fixed.call_batch(), 1, "a fixed batch dimension of 1 runs one frame per call");
    assert_eq!(fixed.detect_batch(&frames).unwrap(), results);
}

#[test]
fn a_manifest_contradicting_the_model_is_refused_with_both_shapes() {
    let dir = models();
    let err = Detector::load(manifest(dir.path(), "yolox_fixed.onnx", "yolox", 96), options(1)).err().unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::ShapeMismatch { .. }), "{text}");
    assert!(
        text.contains("yolox_fixed.onnx") && text.contains("[N, 3, 96, 96]") && text.contains("[1, 3, 64, 64]"),
        "{text}"
    );

    let err = Detector::load(manifest(dir.path(), "yolov8.onnx", "yolov5", 64), options(1)).err().unwrap().to_string();
    assert!(err.contains("output 'output'") && err.contains("[-1, 6, 2]"), "{err}");
}

#[test]
fn missing_and_corrupt_model_files_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing =
        Detector::load(manifest(dir.path(), "absent.onnx", "yolox", 64), options(1)).err().unwrap().to_string();
    assert!(missing.contains("absent.onnx") && missing.contains("no such file"), "{missing}");

    std::fs::write(dir.path().join("corrupt.onnx"), b"this is not a protobuf").unwrap();
    let corrupt =
        Detector::load(manifest(dir.path(), "corrupt.onnx", "yolox", 64), options(1)).err().unwrap().to_string();
    assert!(corrupt.contains("corrupt.onnx") && corrupt.contains("cannot load"), "{corrupt}");
}
