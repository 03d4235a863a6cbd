//! Output decoders, one per model family: raw model output → candidate detections in input-tensor
//! pixels, before NMS.

pub mod yolox;

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
