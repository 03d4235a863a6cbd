//! The detector around a fake engine: frames batched across a call come back each with its own
//! detections (an engine answer made from each image's own pixels), boxes map back from the letterboxed
//! input to the frame, and a fixed batch is padded and split — all without ONNX Runtime.

use std::{
    path::Path,
    sync::{Arc, Mutex},
};

use sharpeyes_inference::{Detector, Manifest, RgbView, engine::Engine};

/// Every call's input shape, as the fake engine saw it.
type Calls = Arc<Mutex<Vec<[usize; 4]>>>;

/// Answers one end-to-end row per image: a box of `[8, 4, 40, 20]` input pixels, class 0, scored with
/// the mean of the image's first channel (the input is scaled to 0..=1).
struct MeanScoringEngine {
    fixed_batch: Option<usize>,
    calls: Calls,
}

impl Engine for MeanScoringEngine {
    fn fixed_batch(&self) -> Option<usize> {
        self.fixed_batch
    }

    fn run(
        &mut self,
        shape: [usize; 4],
        input: &[f32],
        output: &mut dyn FnMut(&[f32]),
    ) -> sharpeyes_inference::Result<()> {
        self.calls.lock().unwrap().push(shape);
        let [batch, channels, height, width] = shape;
        assert_eq!(input.len(), batch * channels * height * width);
        let rows: Vec<f32> = input
            .chunks_exact(channels * height * width)
            .flat_map(|image| {
                let plane = &image[..height * width];
                let mean = plane.iter().sum::<f32>() / plane.len() as f32;
                [8.0, 4.0, 40.0, 20.0, mean, 0.0]
            })
            .collect();
        output(&rows);
        Ok(())
    }
}

fn manifest() -> Manifest {
    let text = r#"
name = "fake"
file = "fake.onnx"
family = "end2end"
classes = ["car", "person"]

[input]
width = 64
height = 64
channels = "rgb"
resize = "stretch"
pad_value = 0
scale = 0.00392156862745098
mean = [0.0, 0.0, 0.0]
std = [1.0, 1.0, 1.0]

[thresholds]
confidence = 0.1
nms = 0.45
"#;
    Manifest::parse(text, Path::new("models/fake.toml")).unwrap()
}

fn detector(fixed_batch: Option<usize>, max_batch: usize) -> (Detector, Calls) {
    let calls = Calls::default();
    let engine = MeanScoringEngine { fixed_batch, calls: calls.clone() };
    (Detector::with_engine(manifest(), Box::new(engine), max_batch).unwrap(), calls)
}

/// A 128x32 frame of one grey level.
fn frame(level: u8) -> Vec<u8> {
    vec![level; 128 * 32 * 3]
}

#[test]
fn each_frame_of_a_batch_gets_its_own_detections_mapped_back_to_its_pixels() {
    let (mut detector, calls) = detector(None, 4);
    let frames = [frame(51), frame(153), frame(255)];
    let views: Vec<RgbView<'_>> = frames.iter().map(|rgb| RgbView { rgb, width: 128, height: 32 }).collect();
    let results = detector.detect_batch(&views).unwrap();
    assert_eq!(calls.lock().unwrap().as_slice(), [[4, 3, 64, 64], [3, 3, 64, 64]], "warm-up, then one call of 3");
    let scores: Vec<f32> = results.iter().map(|detections| detections[0].score).collect();
    for (score, level) in scores.iter().zip([51.0, 153.0, 255.0]) {
        assert!((score - level / 255.0).abs() < 1e-3, "frame of level {level} scored {score}: {scores:?}");
    }
    // Stretched 128x32 → 64x64: x halves, y doubles on the way in, so the box is [16, 2, 80, 10] in the frame.
    let detection = &results[1][0];
    assert_eq!(&*detection.class, "car");
    assert_eq!(detection.bbox.to_array(), [16.0, 2.0, 80.0, 10.0]);
}

#[test]
fn a_fixed_batch_is_padded_and_the_frames_split_across_calls() {
    let (mut detector, calls) = detector(Some(2), 4);
    assert_eq!(detector.call_batch(), 2);
    let frames = [frame(0), frame(102), frame(204)];
    let views: Vec<RgbView<'_>> = frames.iter().map(|rgb| RgbView { rgb, width: 128, height: 32 }).collect();
    let results = detector.detect_batch(&views).unwrap();
    assert_eq!(calls.lock().unwrap().len(), 3, "warm-up, then two calls of 2 (the last padded)");
    assert!(calls.lock().unwrap().iter().all(|shape| shape[0] == 2));
    assert_eq!(results.len(), 3);
    assert!(results[0].is_empty(), "a black frame scores 0, under the threshold");
    assert!((results[2][0].score - 0.8).abs() < 1e-3);
}
