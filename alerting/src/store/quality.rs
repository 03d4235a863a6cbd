//! What became of camera cases, for the quality figures of [`crate::cases::quality`].

use chrono::{DateTime, Utc};

use super::{Pool, Store, with_pool};
use crate::{Result, cases::quality::CaseOutcome};

impl Store {
    /// The outcome of every camera case opened in `since..until`: its camera, zone, category, void
    /// reason and when an operator first verified it (filed it: the moment migration 19 keeps).
    pub async fn camera_case_outcomes(&self, since: DateTime<Utc>, until: DateTime<Utc>) -> Result<Vec<CaseOutcome>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_as::<_, CaseOutcome>(
                "SELECT camera, zone, category, void_reason, opened_at, filed_at AS verified_at
                 FROM cases WHERE source = 'camera' AND opened_at >= $1 AND opened_at < $2",
            )
            .bind(since)
            .bind(until)
            .fetch_all(pool)
            .await?)
        })
    }
}
