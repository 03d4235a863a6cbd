//! Licence plates of cases: the best reading so far with its crop, repeat offences, and erasure after
//! the retention period.

use chrono::{DateTime, Utc};

use super::{
    BeginWrite, CaseEvent, NewEvidence, PlateCase, Pool, Store, finished_statuses, insert_event, insert_evidence,
    status_kept_step, with_pool,
};
use crate::{
    Result,
    cases::{
        timeline::{Actor, Step},
        workflow::Status,
    },
};

/// Who reads plates, in the timeline.
const PLATE_READER: &str = "plate-reader";

/// A finished case whose plate was erased.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ErasedPlate {
    /// The case.
    pub case_id: i64,
    /// SHA-256 of the plate crop's evidence image, for the caller to delete the file if no other
    /// evidence row uses it.
    pub crop_sha256: Option<String>,
}

impl Store {
    /// Records `plate` read at `score` on case `case_id`, with its crop as the next evidence image, when
    /// the case has no plate yet or a lower-scoring one; the timeline says what was read (and what it
    /// replaced). Returns whether it was recorded.
    pub async fn record_plate(
        &self,
        case_id: i64,
        plate: &str,
        score: f64,
        crop: &NewEvidence,
        at: DateTime<Utc>,
    ) -> Result<bool> {
        let recorded = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let current: Option<(Option<String>, Option<f64>, Status, i64)> = sqlx::query_as(
                "SELECT plate, plate_score, status, (SELECT COUNT(*) FROM evidence WHERE case_id = $1)
                 FROM cases WHERE id = $1",
            )
            .bind(case_id)
            .fetch_optional(&mut *tx)
            .await?;
            let Some((old_plate, old_score, status, images)) = current else { return Ok(false) };
            if old_score.is_some_and(|old| old >= score) {
                return Ok(false);
            }
            insert_evidence!(tx, case_id, images, crop);
            sqlx::query(
                "UPDATE cases SET plate = $1, plate_score = $2, plate_evidence = $3, updated_at = $4 WHERE id = $5",
            )
            .bind(plate)
            .bind(score)
            .bind(images)
            .bind(at)
            .bind(case_id)
            .execute(&mut *tx)
            .await?;
            let note = match (old_plate, old_score) {
                (Some(old), Some(old_score)) => format!(
                    "plate {plate} ({score:.2}), read better than {old} ({old_score:.2}); crop: evidence {images}"
                ),
                _ => format!("plate {plate} ({score:.2}); crop: evidence {images}"),
            };
            let event = status_kept_step(at, PLATE_READER, Actor::System, Step::PlateRead, status, note);
            insert_event!(tx, case_id, &event);
            tx.commit().await?;
            Ok::<bool, crate::Error>(true)
        })?;
        if recorded {
            self.timeline_grew();
        }
        Ok(recorded)
    }

    /// Earlier cases (smaller id) of `plate` than case `case_id`, newest first, at most `limit`.
    pub async fn cases_of_plate(&self, plate: &str, case_id: i64, limit: i64) -> Result<Vec<PlateCase>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, PlateCase>(
                "SELECT id, code, camera, status, opened_at FROM cases WHERE plate = $1 AND id < $2
                 ORDER BY id DESC LIMIT $3",
            )
            .bind(plate)
            .bind(case_id)
            .bind(limit)
            .fetch_all(pool)
            .await?)
        })
    }

    /// Erases the plate text and score of every finished (closed, evaluated or voided) case opened before
    /// `before`, with a timeline step each; returns them, with their crops' digests.
    pub async fn erase_plates(
        &self,
        before: DateTime<Utc>,
        retention_days: u32,
        at: DateTime<Utc>,
    ) -> Result<Vec<ErasedPlate>> {
        let erased = with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let finished: Vec<(i64, Status, Option<String>)> = sqlx::query_as(concat!(
                "SELECT c.id, c.status, e.sha256 FROM cases c
                 LEFT JOIN evidence e ON e.case_id = c.id AND e.idx = c.plate_evidence
                 WHERE c.plate IS NOT NULL AND c.status IN ",
                finished_statuses!(),
                " AND c.opened_at < $1",
            ))
            .bind(before)
            .fetch_all(&mut *tx)
            .await?;
            let mut erased = Vec::with_capacity(finished.len());
            for (case_id, status, crop_sha256) in finished {
                sqlx::query("UPDATE cases SET plate = NULL, plate_score = NULL, updated_at = $1 WHERE id = $2")
                    .bind(at)
                    .bind(case_id)
                    .execute(&mut *tx)
                    .await?;
                let note =
                    format!("plate and its crop erased: the case is finished and over {retention_days} days old");
                let event = status_kept_step(at, PLATE_READER, Actor::System, Step::PlateErased, status, note);
                insert_event!(tx, case_id, &event);
                erased.push(ErasedPlate { case_id, crop_sha256 });
            }
            tx.commit().await?;
            Ok::<Vec<ErasedPlate>, crate::Error>(erased)
        })?;
        if !erased.is_empty() {
            self.timeline_grew();
        }
        Ok(erased)
    }

    /// Whether an evidence image with this digest is still listed by a case other than as an erased
    /// plate crop.
    pub async fn evidence_in_use(&self, sha256: &str) -> Result<bool> {
        with_pool!(self, |pool| {
            let (count,): (i64,) = sqlx::query_as(
                "SELECT COUNT(*) FROM evidence e JOIN cases c ON c.id = e.case_id
                 WHERE e.sha256 = $1 AND NOT (c.plate IS NULL AND c.plate_evidence = e.idx)",
            )
            .bind(sha256)
            .fetch_one(pool)
            .await?;
            Ok(count > 0)
        })
    }
}
