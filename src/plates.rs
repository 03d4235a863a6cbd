//! `sharpeyes plates`: the licence-plate reader on image files.

use std::{path::PathBuf, time::Instant};

use anyhow::bail;
use clap::Args;
use serde_json::{Map, Value, json};
use sharpeyes_inference::{
    load_rgb,
    plate::{DEFAULT_MIN_SCORE, PlateReader},
    runtime::{SessionOptions, SessionThreads},
};

/// Arguments of `sharpeyes plates`.
#[derive(Debug, Args)]
pub struct PlatesArgs {
    /// Print one JSON document keyed by file name instead of lines of text.
    #[arg(long)]
    json: bool,
    /// Text detector manifest.
    #[arg(long, default_value = "models/plate_det.toml")]
    detector: PathBuf,
    /// Text recogniser manifest.
    #[arg(long, default_value = "models/plate_rec.toml")]
    recogniser: PathBuf,
    /// Readings scoring below this (0..1) are not plates.
    #[arg(long, default_value_t = DEFAULT_MIN_SCORE)]
    min_score: f32,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Each image is one vehicle, cut with the plate worker's margin (8 % of its box) as a parking
    /// case's vehicle is: read its one plate as the plate worker does (not in the vehicle's top part;
    /// the lowest lines first; a sure reading ends the search).
    #[arg(long)]
    vehicle: bool,
    /// Photos or plate crops (JPEG, PNG).
    #[arg(required = true)]
    images: Vec<PathBuf>,
}

/// Prints, per image, each plate read: text, score, its corners in pixels and the milliseconds the
/// reading took (after decoding the file). An image that cannot be
/// read is named on stderr and the others are still read; the exit status then says so.
pub fn plates(args: &PlatesArgs) -> anyhow::Result<()> {
    anyhow::ensure!((0.0..=1.0).contains(&args.min_score), "--min-score {} is outside 0..=1", args.min_score);
    let options =
        SessionOptions { threads: SessionThreads { intra: args.threads.max(1), inter: 1 }, ..Default::default() };
    let mut reader = PlateReader::open(&args.detector, &args.recogniser, options)?.with_min_score(args.min_score);
    let mut results = Map::new();
    let mut failed = Vec::new();
    for path in &args.images {
        let name = path.display().to_string();
        let mut started = Instant::now();
        let read = load_rgb(path).and_then(|image| {
            started = Instant::now();
            if args.vehicle { reader.read_vehicle(&image).map(Vec::from_iter) } else { reader.read(&image) }
        });
        let plates = match read {
            Ok(plates) => plates,
            Err(error) => {
                eprintln!("error: {error}");
                failed.push(name);
                continue;
            }
        };
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if args.json {
            let list = plates
                .iter()
                .map(|p| json!({ "text": p.text, "score": p.score, "quad": p.quad, "rows": p.rows }))
                .collect();
            results.insert(name, Value::Array(list));
        } else if plates.is_empty() {
            println!("{name}: no plate ({ms:.0} ms)");
        } else {
            for plate in &plates {
                let quad: Vec<String> = plate.quad.iter().map(|[x, y]| format!("{x:.0},{y:.0}")).collect();
                println!("{name}: {} {:.3} [{}] ({ms:.0} ms)", plate.text, plate.score, quad.join(" "));
            }
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&Value::Object(results))?);
    }
    if !failed.is_empty() {
        bail!("{} of {} images could not be read: {}", failed.len(), args.images.len(), failed.join(", "));
    }
    Ok(())
}
