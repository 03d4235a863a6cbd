//! Cross-camera batching on the real detector: the shipped YOLOX-nano made batch-dynamic at test time
//! (`benches/make_dynamic_batch.py`), four different photos of different sizes in one session call,
//! each getting exactly the detections it gets alone — a batch that mixed frames up, letterboxed one
//! with another's scale or decoded the wrong slice of the output would differ.

use std::{path::PathBuf, process::Command};

use sharpeyes_inference::{
    Detection, Detector, DetectorOptions, Manifest, RgbView,
    runtime::{SessionOptions, SessionThreads},
};

fn root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn options(max_batch: usize) -> DetectorOptions {
    DetectorOptions {
        session: SessionOptions { threads: SessionThreads::default(), ..SessionOptions::default() },
        max_batch,
    }
}

/// The shipped manifest pointing at a batch-dynamic copy of its model, written into `dir`.
fn dynamic_manifest(dir: &std::path::Path) -> Manifest {
    let model = dir.join("yolox_nano_dynamic.onnx");
    let status = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("benches/make_dynamic_batch.py"))
        .arg(root().join("models/yolox_nano.onnx"))
        .arg(&model)
        .status()
        .expect("run .venv python (scripts/setup.sh)");
    assert!(status.success());
    let text = std::fs::read_to_string(root().join("models/yolox_nano.toml")).unwrap();
    let text = text.replace("file = \"yolox_nano.onnx\"", &format!("file = \"{}\"", model.display()));
    let path = dir.join("yolox_nano_dynamic.toml");
    std::fs::write(&path, text).unwrap();
    Manifest::load(&path).unwrap()
}

fn same(a: &[Detection], b: &[Detection]) -> bool {
    a.len() == b.len()
        && a.iter().zip(b).all(|(a, b)| {
            a.class == b.class
                && (a.score - b.score).abs() < 1e-4
                && a.bbox.to_array().iter().zip(b.bbox.to_array()).all(|(p, q)| (p - q).abs() < 0.05)
        })
}

#[test]
fn four_photos_in_one_batch_get_exactly_their_single_image_detections() {
    let dir = tempfile::tempdir().unwrap();
    let photos: Vec<image::RgbImage> = ["000000009769.jpg", "000000000285.jpg", "000000006723.jpg", "000000001268.jpg"]
        .iter()
        .map(|name| image::open(root().join("media/images").join(name)).expect("shared media").to_rgb8())
        .collect();
    let views: Vec<RgbView<'_>> =
        photos.iter().map(|p| RgbView { rgb: p.as_raw(), width: p.width(), height: p.height() }).collect();
    let sizes: std::collections::HashSet<_> = views.iter().map(|v| (v.width, v.height)).collect();
    assert!(sizes.len() >= 2, "photos of different sizes: {sizes:?}");

    let manifest = dynamic_manifest(dir.path());
    let mut batched = Detector::load(manifest.clone(), options(4)).unwrap();
    assert_eq!(batched.call_batch(), 4, "the copy's batch dimension is dynamic");
    let together = batched.detect_batch(&views).unwrap();

    let mut single = Detector::load(manifest, options(1)).unwrap();
    let mut shipped =
        Detector::load(Manifest::load(&root().join("models/yolox_nano.toml")).unwrap(), options(1)).unwrap();
    for (index, view) in views.iter().enumerate() {
        let alone = single.detect(view.rgb, view.width, view.height).unwrap();
        assert!(same(&together[index], &alone), "photo {index}: {:?}\nalone: {alone:?}", together[index]);
        let original = shipped.detect(view.rgb, view.width, view.height).unwrap();
        assert!(same(&alone, &original), "photo {index}: the dynamic copy detects what the shipped model does");
    }
    let found = together.iter().filter(|d| !d.is_empty()).count();
    assert!(found >= 3, "most photos hold objects, so a mix-up would show: {together:?}");
    for (a, b) in together.iter().zip(together.iter().skip(1)) {
        assert!(!same(a, b), "neighbouring photos differ in what they hold");
    }
}
