//! YOLOv8 / YOLO11 output, transposed: `4 + C` rows of `N` values — `cx, cy, w, h` in input pixels, then
//! one row per class score. No objectness: the score is the best class score.

use super::{Candidate, ScoreFilter};

/// Decodes the candidates reaching their class's threshold.
pub fn decode(output: &[f32], classes: usize, thresholds: &[f32]) -> Vec<Candidate> {
    let anchors = output.len() / (4 + classes);
    let value = |row: usize, anchor: usize| output[row * anchors + anchor];
    let lowest = thresholds.lowest();
    let mut candidates = Vec::new();
    for anchor in 0..anchors {
        let (mut class_id, mut score) = (0, f32::NEG_INFINITY);
        for class in 0..classes {
            let s = value(4 + class, anchor);
            if s > score {
                (class_id, score) = (class, s);
            }
        }
        if score < lowest || score < thresholds.threshold(class_id) {
            continue;
        }
        candidates.push(Candidate::from_center(
            class_id,
            score,
            value(0, anchor),
            value(1, anchor),
            value(2, anchor),
            value(3, anchor),
        ));
    }
    candidates
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_are_anchors() {
        // Two anchors, two classes: rows cx, cy, w, h, class 0, class 1.
        let output = [
            50.0, 5.0, // cx
            40.0, 5.0, // cy
            20.0, 2.0, // w
            10.0, 2.0, // h
            0.1, 0.2, // class 0
            0.7, 0.1, // class 1
        ];
        let candidates = decode(&output, 2, &[0.25, 0.25]);
        assert_eq!(candidates, vec![Candidate { class_id: 1, score: 0.7, corners: [40.0, 35.0, 60.0, 45.0] }]);
    }
}
