//! What the labelled-data export reads: the analysed frame behind each camera case and the operators'
//! decision on it (verified, or voided as a false detection).

use chrono::{DateTime, Utc};

use super::{NewEvidence, Pool, Store, with_pool};
use crate::Result;

/// A camera case an operator decided on, with its analysed frame and the object that opened it.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct LabelledCase {
    /// Case id.
    pub id: i64,
    /// Camera id.
    pub camera: String,
    /// Zone id.
    pub zone: String,
    /// Case category.
    pub category: String,
    /// `true`: an operator verified it (its object is a positive); `false`: it was voided as a false
    /// detection (its frame is a hard negative).
    pub verified: bool,
    /// SHA-256 of the frame's JPEG in the evidence store.
    pub frame_sha256: String,
    /// Frame width in pixels.
    pub width: i64,
    /// Frame height in pixels.
    pub height: i64,
    /// When the frame was captured.
    pub captured_at: DateTime<Utc>,
    /// The detector's class of the object that opened the case.
    pub class: String,
    /// Its box in the frame's pixels: left.
    pub x1: f64,
    /// Top.
    pub y1: f64,
    /// Right.
    pub x2: f64,
    /// Bottom.
    pub y2: f64,
    /// Every object the detector found in the frame, as the JSON of a list of
    /// [`FrameObject`](crate::rules::FrameObject)s; `None` for a frame kept before they were recorded.
    pub objects: Option<String>,
}

impl Store {
    /// Keeps `frame` (a JPEG already in the evidence store) as the analysed frame behind case `id`, with
    /// `objects` (the JSON of every object the detector found in it).
    pub async fn insert_case_frame(&self, id: i64, frame: &NewEvidence, objects: &str) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO case_frames (case_id, sha256, width, height, captured_at, objects)
                 VALUES ($1, $2, $3, $4, $5, $6)",
            )
            .bind(id)
            .bind(&frame.sha256)
            .bind(i64::from(frame.width))
            .bind(i64::from(frame.height))
            .bind(frame.captured_at)
            .bind(objects)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// The camera cases opened in `[since, until)` that an operator verified or voided as a false
    /// detection and whose analysed frame was kept, oldest first.
    pub async fn labelled_cases(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<LabelledCase>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, LabelledCase>(
                "SELECT c.id, c.camera, c.zone, c.category,
                        (COALESCE(c.void_reason, '') <> 'false_detection') AS verified,
                        f.sha256 AS frame_sha256, f.width, f.height, f.captured_at,
                        o.class, o.x1, o.y1, o.x2, o.y2, f.objects
                 FROM cases c
                 JOIN case_frames f ON f.case_id = c.id
                 JOIN case_objects o ON o.case_id = c.id AND o.idx = 0
                 WHERE c.source = 'camera' AND c.opened_at >= $1 AND c.opened_at < $2
                   AND (c.void_reason = 'false_detection'
                        OR EXISTS (SELECT 1 FROM case_events e WHERE e.case_id = c.id AND e.action = 'verify'))
                 ORDER BY c.id",
            )
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?)
        })
    }
}
