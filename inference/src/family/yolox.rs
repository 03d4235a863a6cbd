//! YOLOX raw grid output: rows of `cx, cy, w, h, objectness, C class scores`, cells of strides 8, 16
//! and 32 in row-major order. A row of cell `(gx, gy)` at stride `s` decodes to centre
//! `((cx + gx) * s, (cy + gy) * s)` and size `(exp(w) * s, exp(h) * s)`; the score is objectness times
//! the best class score.

use super::{Candidate, ScoreFilter, best_class};

/// Strides of the YOLOX heads.
pub const STRIDES: [usize; 3] = [8, 16, 32];

/// Number of output rows of a YOLOX model with the given input size.
pub fn rows(width: usize, height: usize) -> usize {
    STRIDES.iter().map(|s| (width / s) * (height / s)).sum()
}

/// Decodes the candidates reaching their class's threshold.
pub fn decode(output: &[f32], classes: usize, width: usize, height: usize, thresholds: &[f32]) -> Vec<Candidate> {
    let lowest = thresholds.lowest();
    let mut candidates = Vec::new();
    let mut rows = output.chunks_exact(5 + classes);
    for stride in STRIDES {
        let (grid_w, grid_h) = (width / stride, height / stride);
        for gy in 0..grid_h {
            for gx in 0..grid_w {
                let Some(row) = rows.next() else { return candidates };
                let objectness = row[4];
                // score = objectness * class score <= objectness
                if objectness < lowest {
                    continue;
                }
                let (class_id, class_score) = best_class(&row[5..]);
                let score = objectness * class_score;
                if score < thresholds.threshold(class_id) {
                    continue;
                }
                let s = stride as f32;
                candidates.push(Candidate::from_center(
                    class_id,
                    score,
                    (row[0] + gx as f32) * s,
                    (row[1] + gy as f32) * s,
                    row[2].exp() * s,
                    row[3].exp() * s,
                ));
            }
        }
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cell_decodes_to_its_place_on_the_grid() {
        // 64x32 input: 8x4 cells at stride 8, 4x2 at 16, 2x1 at 32.
        let classes = 2;
        let total = rows(64, 32);
        assert_eq!(total, 32 + 8 + 2);
        let mut output = vec![0.0f32; total * (5 + classes)];
        // Stride-16 cell (gx=1, gy=1) is row 32 + 1 * 4 + 1 = 37.
        let row = &mut output[37 * 7..38 * 7];
        row.copy_from_slice(&[0.5, 0.5, 0.0, (2.0f32).ln(), 0.9, 0.1, 0.8]);
        let candidates = decode(&output, classes, 64, 32, &[0.25, 0.25]);
        assert_eq!(candidates.len(), 1);
        let c = candidates[0];
        assert_eq!(c.class_id, 1);
        assert!((c.score - 0.72).abs() < 1e-6);
        // centre (24, 24), size 16 x 32
        let expected = [16.0, 8.0, 32.0, 40.0];
        assert!(c.corners.iter().zip(expected).all(|(a, b)| (a - b).abs() < 1e-4), "{:?}", c.corners);
        assert!(decode(&output, classes, 64, 32, &[0.25, 0.8]).is_empty(), "per-class threshold");
    }

    #[test]
    fn low_scores_are_dropped() {
        let mut output = vec![0.0f32; rows(32, 32) * 6];
        output[4] = 0.9;
        output[5] = 0.2; // 0.18 < 0.25
        assert!(decode(&output, 1, 32, 32, &[0.25]).is_empty());
    }
}
