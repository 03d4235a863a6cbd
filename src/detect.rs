//! `sharpeyes detect`: the detector on image files, JSON on stdout.

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Args;
use serde_json::{Map, Value, json};
use sharpeyes_alerting::cases::evidence::{OBJECT_COLOR, draw_box, draw_label, encode_jpeg};
use sharpeyes_inference::{
    DetectedFile, Detection, Detector, DetectorOptions, Manifest, detect_files, detect_files_parallel,
    runtime::{Provider, SessionOptions, SessionThreads},
};

/// Arguments of `sharpeyes detect`.
#[derive(Debug, Args)]
pub struct DetectArgs {
    /// Model manifest (models/*.toml).
    #[arg(long)]
    model: PathBuf,
    /// Score threshold (default: the manifest's).
    #[arg(long)]
    conf: Option<f32>,
    /// NMS IoU threshold (default: the manifest's).
    #[arg(long)]
    nms: Option<f32>,
    /// Write each image with its boxes and labels drawn into this folder.
    #[arg(long)]
    annotate: Option<PathBuf>,
    /// ONNX Runtime intra-op threads of each detector.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Detectors working on different images in parallel (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Execution provider: cpu, cuda, tensorrt, openvino (falls back to cpu when unavailable).
    #[arg(long, default_value = "cpu", value_parser = parse_provider)]
    provider: Provider,
    /// Images (JPEG, PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

fn parse_provider(text: &str) -> Result<Provider, String> {
    serde_json::from_value(Value::String(text.to_owned()))
        .map_err(|_| format!("'{text}' is not one of cpu, cuda, tensorrt, openvino"))
}

/// Prints `{"<file name>": [{"class", "score", "box"}, ...]}`, boxes in original pixels, best first.
pub fn detect(args: &DetectArgs) -> anyhow::Result<()> {
    let options = DetectorOptions {
        session: SessionOptions {
            threads: SessionThreads { intra: args.threads.max(1), inter: 1 },
            provider: args.provider,
        },
        max_batch: 1,
    };
    let manifest = Manifest::load(&args.model)?;
    let (conf, nms) =
        (args.conf.unwrap_or(manifest.thresholds.confidence), args.nms.unwrap_or(manifest.thresholds.nms));
    anyhow::ensure!((0.0..=1.0).contains(&conf), "--conf {conf} is outside 0..=1");
    anyhow::ensure!((0.0..=1.0).contains(&nms), "--nms {nms} is outside 0..=1");
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let jobs = args.jobs.unwrap_or(cores).clamp(1, args.images.len().max(1));
    let mut detectors = Vec::with_capacity(jobs);
    for _ in 0..jobs {
        let mut detector = Detector::load(manifest.clone(), options)?;
        detector.set_thresholds(conf, nms);
        detectors.push(detector);
    }
    if let Some(dir) = &args.annotate {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create --annotate folder '{}'", dir.display()))?;
    }

    let files: Box<dyn Iterator<Item = sharpeyes_inference::Result<DetectedFile>>> = if jobs == 1 {
        let detector = detectors.pop().expect("one detector");
        Box::new(detect_files(detector, args.images.clone()))
    } else {
        Box::new(detect_files_parallel(detectors, args.images.clone()))
    };
    let mut results = Map::new();
    for file in files {
        let DetectedFile { path, mut image, detections } = file?;
        let name = file_name(&path);
        if let Some(dir) = &args.annotate {
            annotate(&mut image, &detections, &dir.join(Path::new(&name).with_extension("jpg")))?;
        }
        let list = detections
            .iter()
            .map(|d| json!({ "class": &*d.class, "score": d.score, "box": d.bbox.to_array() }))
            .collect();
        results.insert(name, Value::Array(list));
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(results))?);
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| path.display().to_string())
}

fn annotate(image: &mut image::RgbImage, detections: &[Detection], out: &Path) -> anyhow::Result<()> {
    for detection in detections {
        draw_box(image, detection.bbox, OBJECT_COLOR, 2);
    }
    // Labels after all boxes, so that no box is drawn over a label.
    for detection in detections {
        let label = format!("{} {:.2}", detection.class, detection.score);
        draw_label(image, &label, detection.bbox.x1, detection.bbox.y1, OBJECT_COLOR, 1);
    }
    let jpeg = encode_jpeg(image).with_context(|| format!("encoding '{}'", out.display()))?;
    std::fs::write(out, jpeg).with_context(|| format!("writing '{}'", out.display()))
}
