//! `sharpeyes detect`: the detector on image files, JSON on stdout.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use serde_json::{Map, Value, json};
use sharpeyes_alerting::cases::evidence::{OBJECT_COLOR, draw_box, encode_jpeg};
use sharpeyes_inference::{Detector, runtime::SessionThreads};

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
    /// Write each image with its boxes drawn into this folder.
    #[arg(long)]
    annotate: Option<PathBuf>,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Images (JPEG, PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// Prints `{"<file name>": [{"class", "score", "box"}, ...]}`, boxes in original pixels, best first.
pub fn detect(args: &DetectArgs) -> anyhow::Result<()> {
    let threads = SessionThreads {
        intra: args.threads.max(1),
        inter: 1,
    };
    let mut detector = Detector::from_manifest_file(&args.model, threads)?;
    let thresholds = &detector.manifest().thresholds;
    let (conf, nms) = (
        args.conf.unwrap_or(thresholds.confidence),
        args.nms.unwrap_or(thresholds.nms),
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&conf),
        "--conf {conf} is outside 0..=1"
    );
    anyhow::ensure!((0.0..=1.0).contains(&nms), "--nms {nms} is outside 0..=1");
    detector.set_thresholds(conf, nms);
    if let Some(dir) = &args.annotate {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --annotate folder '{}'", dir.display()))?;
    }

    let mut results = Map::new();
    for path in &args.images {
        let (detections, mut image) = detector.detect_file(path)?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| path.display().to_string());
        let list: Vec<Value> = detections
            .iter()
            .map(|d| json!({ "class": &*d.class, "score": d.score, "box": d.bbox.to_array() }))
            .collect();
        if let Some(dir) = &args.annotate {
            for detection in &detections {
                draw_box(&mut image, detection.bbox, OBJECT_COLOR, 2);
            }
            let out = dir.join(std::path::Path::new(&name).with_extension("jpg"));
            let jpeg =
                encode_jpeg(&image).with_context(|| format!("encoding '{}'", out.display()))?;
            std::fs::write(&out, jpeg).with_context(|| format!("writing '{}'", out.display()))?;
        }
        results.insert(name, Value::Array(list));
    }
    println!("{}", serde_json::to_string_pretty(&Value::Object(results))?);
    Ok(())
}
