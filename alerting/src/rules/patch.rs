//! A patch of a frame as a small grid of brightness samples, compared on **structure**: the
//! correlation of two patches' patterns after removing each one's mean and scaling by its spread, so
//! that lighting (day, dusk, a cloud, a shadow: brightness and contrast) changes nothing, while
//! something new in the patch (a building, a bag of rubbish) does. The scene-change and static-object
//! rules both compare patches this way.

use sharpeyes_inference::BBox;
use sharpeyes_ingest::Frame;

/// Structure this strong appearing on (or vanishing from) a flat patch is a change.
const STRONG: f32 = 20.0;

/// `SIDE` x `SIDE` brightness samples (0..255) spread evenly over a box of a frame.
#[derive(Clone, Copy, Debug)]
pub(super) struct Samples<const SIDE: usize>(pub [[f32; SIDE]; SIDE]);

/// A patch's pattern with its mean removed, and its spread (the root mean square of the pattern).
#[derive(Clone, Copy, Debug)]
pub(super) struct Structure<const SIDE: usize> {
    centred: [[f32; SIDE]; SIDE],
    spread: f32,
}

impl<const SIDE: usize> Samples<SIDE> {
    /// Samples `bbox` (frame pixels) of `frame` at the centres of a `SIDE` x `SIDE` grid.
    pub fn of(frame: &Frame, bbox: &BBox) -> Self {
        let (step_x, step_y) = ((bbox.x2 - bbox.x1) / SIDE as f32, (bbox.y2 - bbox.y1) / SIDE as f32);
        let mut samples = [[0f32; SIDE]; SIDE];
        for (row, line) in samples.iter_mut().enumerate() {
            let y = bbox.y1 + (row as f32 + 0.5) * step_y;
            for (column, sample) in line.iter_mut().enumerate() {
                *sample = luma(frame, (bbox.x1 + (column as f32 + 0.5) * step_x) as u32, y as u32);
            }
        }
        Self(samples)
    }

    /// Moves every sample `weight` (0..=1) of the way towards `other`'s: a running average.
    pub fn blend(&mut self, other: &Self, weight: f32) {
        for (line, other) in self.0.iter_mut().zip(&other.0) {
            for (sample, other) in line.iter_mut().zip(other) {
                *sample += weight * (other - *sample);
            }
        }
    }

    /// The samples' structure.
    pub fn structure(&self) -> Structure<SIDE> {
        let count = (SIDE * SIDE) as f32;
        let mean = self.0.iter().flatten().sum::<f32>() / count;
        let centred = self.0.map(|line| line.map(|sample| sample - mean));
        let spread = (centred.iter().flatten().map(|s| s * s).sum::<f32>() / count).sqrt();
        Structure { centred, spread }
    }
}

impl<const SIDE: usize> Structure<SIDE> {
    /// Whether `other`'s structure differs from this one's: their patterns correlate less than
    /// `similarity`, or one is flat (spread below `flat`, where noise is all there is to correlate)
    /// and the other has strong structure.
    pub fn differs(&self, other: &Self, similarity: f32, flat: f32) -> bool {
        let (low, high) = (self.spread.min(other.spread), self.spread.max(other.spread));
        if low < flat {
            return high > STRONG;
        }
        let dot: f32 = self.centred.iter().flatten().zip(other.centred.iter().flatten()).map(|(a, b)| a * b).sum();
        let correlation = dot / (self.spread * other.spread * (SIDE * SIDE) as f32);
        correlation < similarity
    }
}

/// Brightness (BT.601 luma) of a pixel, clamped to the frame.
fn luma(frame: &Frame, x: u32, y: u32) -> f32 {
    let (x, y) = (x.min(frame.width - 1) as usize, y.min(frame.height - 1) as usize);
    let at = (y * frame.width as usize + x) * 3;
    let [r, g, b] = [frame.rgb[at], frame.rgb[at + 1], frame.rgb[at + 2]].map(f32::from);
    0.299 * r + 0.587 * g + 0.114 * b
}
