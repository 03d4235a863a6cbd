//! Inference benchmarks (figures printed with their ratios; nothing here is asserted):
//! 1. the full detect path (JPEG decode on a helper thread, letterbox, session, decode, NMS) against the
//!    bare ONNX Runtime session on the same model and thread count — target ratio >= 0.90;
//! 2. throughput of one session call over a batch of 1, 4 and 8 frames (a dynamic-batch copy of the
//!    model, written by benches/make_dynamic_batch.py).
//!
//! Run: `make bench` (or `source .env.sh && cargo bench --bench inference`).

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use ort::value::TensorRef;
use sharpeyes_inference::{
    Detector, DetectorOptions, Manifest, RgbView, detect_files, load_rgb,
    preprocess::Preprocessor,
    runtime::{self, SessionOptions},
};

const ROUNDS: usize = 200;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn photos() -> Vec<PathBuf> {
    let mut photos: Vec<PathBuf> = std::fs::read_dir(root().join("media/images"))
        .expect("media/ (scripts/setup.sh)")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    photos
}

fn bare_session_ms(manifest: &Manifest, photo: &Path) -> f64 {
    let mut session = runtime::load_session(manifest, SessionOptions::default()).unwrap().session;
    let image = load_rgb(photo).unwrap();
    let mut preprocessor = Preprocessor::new(&manifest.input);
    let mut tensor = vec![0.0; preprocessor.tensor_len()];
    preprocessor.prepare(image.as_raw(), image.width(), image.height(), &mut tensor).unwrap();
    let (w, h) = (manifest.input.width as usize, manifest.input.height as usize);
    let mut run = || {
        let input = TensorRef::from_array_view(([1usize, 3, h, w], &tensor[..])).unwrap();
        let outputs = session.run(ort::inputs![input]).unwrap();
        std::hint::black_box(outputs[0].try_extract_tensor::<f32>().unwrap().1[0]);
    };
    for _ in 0..10 {
        run();
    }
    let started = Instant::now();
    for _ in 0..ROUNDS {
        run();
    }
    started.elapsed().as_secs_f64() * 1000.0 / ROUNDS as f64
}

fn full_path_ms(manifest: &Manifest, photos: &[PathBuf], prefetch: bool) -> f64 {
    let mut detector = Detector::load(manifest.clone(), DetectorOptions::default()).unwrap();
    let paths: Vec<PathBuf> = photos.iter().cycle().take(ROUNDS).cloned().collect();
    let started = Instant::now();
    if prefetch {
        for file in detect_files(detector, paths) {
            std::hint::black_box(file.unwrap().detections.len());
        }
    } else {
        let (mut pre, mut session, mut post) = (0.0, 0.0, 0.0);
        for path in &paths {
            std::hint::black_box(detector.detect_file(path).unwrap().0.len());
            let times = detector.last_times();
            (pre, session, post) = (pre + times.preprocess, session + times.session, post + times.postprocess);
        }
        let per = |s: f64| s * 1000.0 / ROUNDS as f64;
        println!(
            "   steps: preprocess {:.2} ms, session {:.2} ms, decode + NMS {:.2} ms",
            per(pre),
            per(session),
            per(post)
        );
    }
    started.elapsed().as_secs_f64() * 1000.0 / ROUNDS as f64
}

fn dynamic_batch_manifest(manifest: &Manifest) -> Manifest {
    let dir = root().join("target/bench-models");
    std::fs::create_dir_all(&dir).unwrap();
    let onnx = dir.join("yolox_nano_dynamic.onnx");
    let status = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("benches/make_dynamic_batch.py"))
        .arg(manifest.model_path())
        .arg(&onnx)
        .status()
        .unwrap();
    assert!(status.success(), "make_dynamic_batch.py failed");
    let mut dynamic = manifest.clone();
    dynamic.name = "yolox_nano_dynamic".into();
    dynamic.file = onnx;
    dynamic.base_dir = PathBuf::new();
    dynamic
}

fn batch_images_per_s(manifest: &Manifest, photos: &[PathBuf], batch: usize) -> f64 {
    let options = DetectorOptions { max_batch: batch, ..DetectorOptions::default() };
    let mut detector = Detector::load(manifest.clone(), options).unwrap();
    let images: Vec<_> = photos.iter().map(|p| load_rgb(p).unwrap()).collect();
    let frames: Vec<RgbView<'_>> = images
        .iter()
        .cycle()
        .take(96)
        .map(|i| RgbView { rgb: i.as_raw(), width: i.width(), height: i.height() })
        .collect();
    detector.detect_batch(&frames[..batch]).unwrap();
    let started = Instant::now();
    let mut done = 0;
    for _ in 0..2 {
        done += detector.detect_batch(&frames).unwrap().len();
    }
    done as f64 / started.elapsed().as_secs_f64()
}

fn main() {
    let manifest = Manifest::load(&root().join("models/yolox_nano.toml")).unwrap();
    let photos = photos();
    println!("inference benchmarks: {} ({} photos, {ROUNDS} runs, 1 intra-op thread)", manifest.name, photos.len());

    let bare = bare_session_ms(&manifest, &photos[0]);
    let full = full_path_ms(&manifest, &photos, true);
    let sequential = full_path_ms(&manifest, &photos, false);
    println!("1. bare ORT session             {bare:7.2} ms/image");
    println!(
        "   full detect path (prefetch)  {full:7.2} ms/image   ratio bare/full = {:.3} (target >= 0.90)",
        bare / full
    );
    println!("   full detect path (1 thread)  {sequential:7.2} ms/image   ratio bare/full = {:.3}", bare / sequential);

    let dynamic = dynamic_batch_manifest(&manifest);
    let base = batch_images_per_s(&dynamic, &photos, 1);
    println!("2. batch  1: {base:7.1} images/s   ratio 1.00");
    for batch in [4, 8] {
        let rate = batch_images_per_s(&dynamic, &photos, batch);
        println!("   batch {batch:2}: {rate:7.1} images/s   ratio {:.2}", rate / base);
    }
}
