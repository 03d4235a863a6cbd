//! Parked violations: those the case engine could not file for a reason other than an unreachable
//! database, kept with their frames until a retry files them.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{BeginWrite, Pool, Store, with_pool};
use crate::Result;

/// A parked violation as the API lists it (without its frames).
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ParkedViolation {
    /// Id.
    pub id: i64,
    /// The camera or sensor that saw it.
    pub source: String,
    /// Its case category.
    pub category: String,
    /// Why it could not be filed the last time it was tried.
    pub last_error: String,
    /// How many times it was tried.
    pub attempts: i64,
    /// When it was parked.
    pub parked_at: DateTime<Utc>,
    /// When it is tried next.
    pub retry_at: DateTime<Utc>,
}

/// A parked violation taken for a retry: its message (`rules::wire`) and how often it was tried.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct ParkedMessage {
    /// Id.
    pub id: i64,
    /// The violation, as `rules::wire::encode` wrote it.
    pub message: Vec<u8>,
    /// How many times it was tried before this retry.
    pub attempts: i64,
}

impl Store {
    /// Parks a violation that could not be filed: its message, why, and when to try again.
    pub async fn park_violation(
        &self,
        source: &str,
        category: &str,
        message: &[u8],
        error: &str,
        now: DateTime<Utc>,
        retry_at: DateTime<Utc>,
    ) -> Result<i64> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let id = sqlx::query_scalar(
                "INSERT INTO parked_violations (source, category, message, last_error, parked_at, retry_at)
                 VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            )
            .bind(source)
            .bind(category)
            .bind(message)
            .bind(error)
            .bind(now)
            .bind(retry_at)
            .fetch_one(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(id)
        })
    }

    /// Takes the oldest parked violation due at `now` for a retry, and holds it until `hold_until`
    /// (so that another center sharing the database does not take it too).
    pub async fn take_parked_violation(
        &self,
        now: DateTime<Utc>,
        hold_until: DateTime<Utc>,
    ) -> Result<Option<ParkedMessage>> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let taken = sqlx::query_as(
                "UPDATE parked_violations SET retry_at = $2
                  WHERE id = (SELECT id FROM parked_violations WHERE retry_at <= $1 ORDER BY retry_at, id LIMIT 1)
                    AND retry_at <= $1
                 RETURNING id, message, attempts",
            )
            .bind(now)
            .bind(hold_until)
            .fetch_optional(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(taken)
        })
    }

    /// A retried violation was filed: it is parked no more.
    pub async fn unpark_violation(&self, id: i64) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query("DELETE FROM parked_violations WHERE id = $1").bind(id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// A retried violation failed again: why, and when to try next.
    pub async fn parked_violation_failed(&self, id: i64, error: &str, retry_at: DateTime<Utc>) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "UPDATE parked_violations SET attempts = attempts + 1, last_error = $2, retry_at = $3 WHERE id = $1",
            )
            .bind(id)
            .bind(error)
            .bind(retry_at)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Makes every parked violation due at `now` (an operator's "retry now"); how many there are.
    pub async fn retry_parked_violations(&self, now: DateTime<Utc>) -> Result<u64> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("UPDATE parked_violations SET retry_at = $1").bind(now).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(done.rows_affected())
        })
    }

    /// The parked violations, oldest first (at most `limit`).
    pub async fn parked_violations(&self, limit: i64) -> Result<Vec<ParkedViolation>> {
        with_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT id, source, category, last_error, attempts, parked_at, retry_at
               FROM parked_violations ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }

    /// How many violations are parked.
    pub async fn parked_violation_count(&self) -> Result<i64> {
        with_pool!(self, |pool| Ok(sqlx::query_scalar("SELECT COUNT(*) FROM parked_violations")
            .fetch_one(pool)
            .await?))
    }
}
