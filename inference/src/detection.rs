use sharpeyes_ingest::Frame;
use std::sync::Arc;

/// An axis-aligned box in pixels of the original frame, `x1 <= x2`, `y1 <= y2`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BBox {
    /// A box from its corners.
    pub const fn new(x1: f32, y1: f32, x2: f32, y2: f32) -> Self {
        Self { x1, y1, x2, y2 }
    }

    /// Area in square pixels (0 for an empty box).
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    /// Area in square pixels that `self` and `other` share.
    pub fn intersection_area(&self, other: &BBox) -> f32 {
        let width = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let height = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        width * height
    }

    /// Intersection over union with `other`, in 0..=1.
    pub fn iou(&self, other: &BBox) -> f32 {
        let intersection = self.intersection_area(other);
        let union = self.area() + other.area() - intersection;
        if union <= 0.0 { 0.0 } else { intersection / union }
    }

    /// The smallest box holding both `self` and `other`.
    pub fn union(&self, other: &BBox) -> Self {
        Self::new(self.x1.min(other.x1), self.y1.min(other.y1), self.x2.max(other.x2), self.y2.max(other.y2))
    }

    /// The middle of the bottom edge: where a vehicle touches the ground.
    pub fn bottom_center(&self) -> (f32, f32) {
        ((self.x1 + self.x2) / 2.0, self.y2)
    }

    /// The box clipped to a `width` x `height` image.
    pub fn clip(&self, width: f32, height: f32) -> Self {
        Self {
            x1: self.x1.clamp(0.0, width),
            y1: self.y1.clamp(0.0, height),
            x2: self.x2.clamp(0.0, width),
            y2: self.y2.clamp(0.0, height),
        }
    }

    /// `[x1, y1, x2, y2]`.
    pub fn to_array(&self) -> [f32; 4] {
        [self.x1, self.y1, self.x2, self.y2]
    }
}

/// One object found by a detector.
#[derive(Clone, Debug, PartialEq)]
pub struct Detection {
    /// Class index in the model's output.
    pub class_id: usize,
    /// Class name from the manifest.
    pub class: Arc<str>,
    /// Confidence in 0..=1.
    pub score: f32,
    /// Where, in pixels of the original frame.
    pub bbox: BBox,
}

/// A frame and what the detector found in it: what the inference stage hands to the rules.
#[derive(Clone, Debug)]
pub struct FrameDetections {
    /// The analysed frame (kept for evidence).
    pub frame: Frame,
    /// Detections sorted by descending score.
    pub detections: Vec<Detection>,
}
