//! A camera seeing an object left gone: a `cleared_seen` step, with the frame that shows the place
//! bare as the case's next evidence image.

use chrono::{DateTime, Utc};

use super::{
    BeginWrite, CaseEvent, NewEvidence, Pool, Store, insert_event, insert_evidence, status_kept_step, with_pool,
};
use crate::{
    Result,
    cases::{
        timeline::{Actor, Step},
        workflow::Status,
    },
};

/// Who sees objects gone, in the timeline.
const CAMERA: &str = "camera";

impl Store {
    /// Records on case `case_id` that its camera saw the object gone at `at`, with `frame` as the next
    /// evidence image; returns the case's status, or `None` when there is no such case.
    pub async fn record_cleared(&self, case_id: i64, frame: &NewEvidence, at: DateTime<Utc>) -> Result<Option<Status>> {
        let status = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let current: Option<(Status, i64)> = sqlx::query_as(
                "SELECT status, (SELECT COUNT(*) FROM evidence WHERE case_id = $1) FROM cases WHERE id = $1",
            )
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((status, images)) = current else { return Ok(None) };
            insert_evidence!(tx, case_id, images, frame);
            sqlx::query("UPDATE cases SET updated_at = $1 WHERE id = $2")
                .bind(at)
                .bind(case_id)
                .execute(&mut *tx)
                .await?;
            let note = format!("the camera sees the object gone; the place bare: evidence {images}");
            let event = status_kept_step(at, CAMERA, Actor::Camera, Step::ClearedSeen, status, note);
            insert_event!(tx, case_id, &event);
            tx.commit().await?;
            Ok::<Option<Status>, crate::Error>(Some(status))
        })?;
        if status.is_some() {
            self.timeline_grew();
        }
        Ok(status)
    }
}
