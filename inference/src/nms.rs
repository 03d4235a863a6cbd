//! Non-maximum suppression.

use crate::Detection;

/// Class-wise non-maximum suppression: among detections of the same class, keeps the best-scoring of
/// every group whose boxes overlap by more than `iou_threshold`. Returns the survivors sorted by
/// descending score.
pub fn nms_by_class(mut detections: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    detections.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Detection> = Vec::with_capacity(detections.len());
    for candidate in detections {
        let suppressed =
            kept.iter().any(|k| k.class_id == candidate.class_id && k.bbox.iou(&candidate.bbox) > iou_threshold);
        if !suppressed {
            kept.push(candidate);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::BBox;
    use proptest::prelude::*;

    fn det(class_id: usize, score: f32, bbox: BBox) -> Detection {
        Detection { class_id, class: format!("c{class_id}").into(), score, bbox }
    }

    fn arb_box() -> impl Strategy<Value = BBox> {
        (0f32..500.0, 0f32..500.0, 1f32..200.0, 1f32..200.0).prop_map(|(x, y, w, h)| BBox::new(x, y, x + w, y + h))
    }

    fn arb_detections() -> impl Strategy<Value = Vec<Detection>> {
        prop::collection::vec((0usize..3, 0.01f32..1.0, arb_box()), 0..40)
            .prop_map(|v| v.into_iter().map(|(c, s, b)| det(c, s, b)).collect())
    }

    #[test]
    fn overlapping_boxes_of_one_class_collapse_to_the_best() {
        let a = det(2, 0.9, BBox::new(0.0, 0.0, 100.0, 100.0));
        let b = det(2, 0.8, BBox::new(5.0, 5.0, 105.0, 105.0));
        let other_class = det(7, 0.7, BBox::new(5.0, 5.0, 105.0, 105.0));
        let apart = det(2, 0.6, BBox::new(300.0, 300.0, 400.0, 400.0));
        let kept = nms_by_class(vec![b, apart.clone(), a.clone(), other_class.clone()], 0.45);
        assert_eq!(kept, vec![a, other_class, apart]);
    }

    proptest! {
        #[test]
        fn iou_is_symmetric_and_bounded(a in arb_box(), b in arb_box()) {
            let (ab, ba) = (a.iou(&b), b.iou(&a));
            prop_assert!((ab - ba).abs() < 1e-6);
            prop_assert!((0.0..=1.0 + 1e-6).contains(&ab));
            prop_assert!((a.iou(&a) - 1.0).abs() < 1e-5);
        }

        #[test]
        fn survivors_of_a_class_never_overlap_beyond_the_threshold(dets in arb_detections(), thr in 0.1f32..0.9) {
            let kept = nms_by_class(dets.clone(), thr);
            for (i, a) in kept.iter().enumerate() {
                for b in &kept[i + 1..] {
                    prop_assert!(a.class_id != b.class_id || a.bbox.iou(&b.bbox) <= thr);
                }
            }
            // Sorted, a subset of the input, and the best detection always survives.
            prop_assert!(kept.windows(2).all(|w| w[0].score >= w[1].score));
            prop_assert!(kept.iter().all(|k| dets.contains(k)));
            if let Some(best) = dets.iter().max_by(|a, b| a.score.total_cmp(&b.score)) {
                prop_assert!(kept.iter().any(|k| k.score == best.score));
            }
        }

        #[test]
        fn every_dropped_detection_is_covered_by_a_better_survivor(dets in arb_detections(), thr in 0.1f32..0.9) {
            let kept = nms_by_class(dets.clone(), thr);
            for d in dets.iter().filter(|d| !kept.contains(d)) {
                prop_assert!(kept.iter().any(|k| k.class_id == d.class_id && k.score >= d.score && k.bbox.iou(&d.bbox) > thr));
            }
        }
    }
}
