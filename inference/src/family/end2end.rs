//! End-to-end (NMS-free) output: rows of `x1, y1, x2, y2, score, class` in input pixels, already
//! suppressed by the model (YOLOv10, RT-DETR style exports). Padding rows score 0.

use super::{Candidate, ScoreFilter};

/// Decodes the rows reaching their class's threshold; rows naming no known class are skipped.
pub fn decode(output: &[f32], classes: usize, thresholds: &[f32]) -> Vec<Candidate> {
    output
        .chunks_exact(6)
        .filter_map(|row| {
            let class = row[5];
            if !(class >= 0.0 && (class as usize) < classes && class.fract() == 0.0) {
                return None;
            }
            let class_id = class as usize;
            (row[4] >= thresholds.threshold(class_id)).then(|| Candidate {
                class_id,
                score: row[4],
                corners: [row[0], row[1], row[2], row[3]],
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_boxes_with_score_and_class() {
        let output = [
            1.0, 2.0, 30.0, 40.0, 0.9, 1.0, // kept
            0.0, 0.0, 0.0, 0.0, 0.0, 0.0, // padding
            1.0, 2.0, 3.0, 4.0, 0.95, 7.0, // unknown class
        ];
        let candidates = decode(&output, 2, &[0.25, 0.25]);
        assert_eq!(candidates, vec![Candidate { class_id: 1, score: 0.9, corners: [1.0, 2.0, 30.0, 40.0] }]);
    }
}
