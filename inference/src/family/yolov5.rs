//! YOLOv5 (and v7) output: rows of `cx, cy, w, h` in input pixels, objectness, `C` class scores; the
//! score is objectness times the best class score.

use super::{Candidate, ScoreFilter, best_class};

/// Decodes the candidates reaching their class's threshold.
pub fn decode(output: &[f32], classes: usize, thresholds: &[f32]) -> Vec<Candidate> {
    let lowest = thresholds.lowest();
    output
        .chunks_exact(5 + classes)
        .filter(|row| row[4] >= lowest)
        .filter_map(|row| {
            let (class_id, class_score) = best_class(&row[5..]);
            let score = row[4] * class_score;
            (score >= thresholds.threshold(class_id))
                .then(|| Candidate::from_center(class_id, score, row[0], row[1], row[2], row[3]))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_decode_with_objectness() {
        let output = [
            50.0, 40.0, 20.0, 10.0, 0.9, 0.2, 0.9, // class 1, 0.81
            10.0, 10.0, 4.0, 4.0, 0.3, 0.9, 0.1, // class 0, 0.27 < 0.5
        ];
        let candidates = decode(&output, 2, &[0.5, 0.5]);
        assert_eq!(candidates.len(), 1);
        assert_eq!(candidates[0].class_id, 1);
        assert!((candidates[0].score - 0.81).abs() < 1e-6);
        assert_eq!(candidates[0].corners, [40.0, 35.0, 60.0, 45.0]);
    }
}
