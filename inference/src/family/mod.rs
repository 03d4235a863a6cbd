//! Output decoders, one per model family: the raw output of one image → candidate detections in
//! input-tensor pixels, before NMS.
//!
//! | family | output of one image | rows |
//! |---|---|---|
//! | `yolox` | `[N, 5 + C]` raw grid: `cx, cy, w, h` relative to cells, objectness, class scores | strides 8, 16, 32 |
//! | `yolov5` | `[N, 5 + C]`: `cx, cy, w, h` in pixels, objectness, class scores | any |
//! | `yolov8` (also v11) | `[4 + C, N]` (transposed): `cx, cy, w, h` in pixels, class scores | any |
//! | `end2end` | `[N, 6]`: `x1, y1, x2, y2, score, class`, already suppressed (YOLOv10, RT-DETR style) | any |

pub mod end2end;
pub mod yolov5;
pub mod yolov8;
pub mod yolox;

use crate::Family;

/// A detection candidate in input-tensor pixels.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Candidate {
    /// Class index.
    pub class_id: usize,
    /// Score in 0..=1.
    pub score: f32,
    /// `[x1, y1, x2, y2]` in input pixels.
    pub corners: [f32; 4],
}

impl Candidate {
    /// A candidate from a centre, a size and a score.
    pub fn from_center(class_id: usize, score: f32, cx: f32, cy: f32, w: f32, h: f32) -> Self {
        Self { class_id, score, corners: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0] }
    }
}

/// Per-class score thresholds: a candidate is kept when its score reaches its class's threshold.
pub trait ScoreFilter {
    /// The least score kept for `class_id`.
    fn threshold(&self, class_id: usize) -> f32;
    /// The lowest threshold of any class (a cheap first test).
    fn lowest(&self) -> f32;
}

impl ScoreFilter for [f32] {
    fn threshold(&self, class_id: usize) -> f32 {
        self[class_id]
    }
    fn lowest(&self) -> f32 {
        self.iter().copied().fold(f32::INFINITY, f32::min)
    }
}

/// The shape `[rows, values per row]` (or `[values, rows]` for `yolov8`) of one image's output.
pub fn item_shape(family: Family, classes: usize, rows: usize) -> [usize; 2] {
    match family {
        Family::Yolox | Family::Yolov5 => [rows, 5 + classes],
        Family::Yolov8 => [4 + classes, rows],
        Family::End2end => [rows, 6],
    }
}

/// Decodes one image's output.
pub fn decode(
    family: Family,
    output: &[f32],
    classes: usize,
    input_size: (usize, usize),
    thresholds: &[f32],
) -> Vec<Candidate> {
    match family {
        Family::Yolox => yolox::decode(output, classes, input_size.0, input_size.1, thresholds),
        Family::Yolov5 => yolov5::decode(output, classes, thresholds),
        Family::Yolov8 => yolov8::decode(output, classes, thresholds),
        Family::End2end => end2end::decode(output, classes, thresholds),
    }
}

/// The best class of a row of class scores.
fn best_class(scores: &[f32]) -> (usize, f32) {
    scores.iter().copied().enumerate().max_by(|a, b| a.1.total_cmp(&b.1)).expect("at least one class")
}
