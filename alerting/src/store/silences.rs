//! Silences, the audit log of API writes, and what inhibition asks of the store.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::Matchers;
use super::{BeginWrite, Pool, Store, audit, finished_statuses, with_pool};
use crate::{Error, Result, cases::Principal};

/// A time-bounded mute: entries matching it while it is active are recorded, not sent.
#[derive(Clone, Debug, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Silence {
    /// Id.
    pub id: i64,
    /// What it mutes.
    pub matchers: Matchers,
    /// From when.
    pub starts_at: DateTime<Utc>,
    /// Until when (set to the time it was expired early).
    pub ends_at: DateTime<Utc>,
    /// Why.
    pub comment: String,
    /// Who created it.
    pub created_by: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

impl Silence {
    /// Whether it mutes at `at`.
    pub fn is_active_at(&self, at: DateTime<Utc>) -> bool {
        self.starts_at <= at && at < self.ends_at
    }
}

#[derive(sqlx::FromRow)]
struct SilenceRow {
    id: i64,
    matchers: String,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
    comment: String,
    created_by: String,
    created_at: DateTime<Utc>,
}

impl TryFrom<SilenceRow> for Silence {
    type Error = Error;

    fn try_from(row: SilenceRow) -> Result<Self> {
        let matchers = serde_json::from_str(&row.matchers)
            .map_err(|err| Error::Corrupt(format!("silence {}: matchers: {err}", row.id)))?;
        Ok(Self {
            id: row.id,
            matchers,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            comment: row.comment,
            created_by: row.created_by,
            created_at: row.created_at,
        })
    }
}

/// One write through the API.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct AuditRecord {
    /// Id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Token name.
    pub actor: String,
    /// Its role.
    pub role: String,
    /// `silence.create`, `silence.expire`, `delivery.retry`, ...
    pub action: String,
    /// What it was done to (`silence 3`).
    pub target: String,
    /// The request, in short.
    pub detail: String,
}

impl Store {
    /// Stores a silence (audited); returns its id.
    pub async fn create_silence(
        &self,
        matchers: &Matchers,
        (starts_at, ends_at): (DateTime<Utc>, DateTime<Utc>),
        comment: &str,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<i64> {
        let json = serde_json::to_string(matchers).expect("matchers serialise");
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO silences (matchers, starts_at, ends_at, comment, created_by, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(&json)
            .bind(starts_at)
            .bind(ends_at)
            .bind(comment)
            .bind(&*who.name)
            .bind(now)
            .fetch_one(&mut *tx)
            .await?;
            let detail = format!("{json} from {starts_at} to {ends_at}: {comment}");
            audit!(&mut *tx, who, "silence.create", format!("silence {id}"), detail, now);
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Silences that end after `after`, newest first.
    pub async fn silences(&self, after: DateTime<Utc>) -> Result<Vec<Silence>> {
        let rows: Vec<SilenceRow> =
            with_pool!(self, |pool| sqlx::query_as("SELECT * FROM silences WHERE ends_at > $1 ORDER BY id DESC")
                .bind(after)
                .fetch_all(pool)
                .await?);
        rows.into_iter().map(Silence::try_from).collect()
    }

    /// Ends a silence now (audited); `false` when there is no such silence or it has ended.
    pub async fn expire_silence(&self, id: i64, who: &Principal, now: DateTime<Utc>) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE silences SET ends_at = $2 WHERE id = $1 AND ends_at > $2")
                .bind(id)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            audit!(&mut *tx, who, "silence.expire", format!("silence {id}"), String::new(), now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Records an API write that leaves no other trace.
    pub async fn audit(
        &self,
        who: &Principal,
        action: &str,
        target: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            audit!(pool, who, action, target, detail, now);
            Ok(())
        })
    }

    /// The audit log, newest first.
    pub async fn audit_log(&self, limit: i64) -> Result<Vec<AuditRecord>> {
        with_pool!(self, |pool| Ok(sqlx::query_as("SELECT * FROM audit_log ORDER BY id DESC LIMIT $1")
            .bind(limit)
            .fetch_all(pool)
            .await?))
    }

    /// The open case of `grid`, other than `except`, with an urgent whistle blown, if any (its
    /// departments are on their way: lower alerts of the grid are inhibited).
    pub async fn urgent_whistle_in_grid(&self, grid: &str, except: i64) -> Result<Option<i64>> {
        with_pool!(self, |pool| Ok(sqlx::query_scalar(concat!(
            "SELECT c.id FROM whistles w JOIN cases c ON c.id = w.case_id
             WHERE w.level = 'urgent' AND c.grid = $1 AND c.id <> $2 AND c.status NOT IN ",
            finished_statuses!(),
            " ORDER BY c.id LIMIT 1"
        ))
        .bind(grid)
        .bind(except)
        .fetch_optional(pool)
        .await?))
    }
}
