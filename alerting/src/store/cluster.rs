//! What several centers sharing one PostgreSQL database coordinate through it: relayed violations
//! filed once (by stable id), one filer per place at a time (an advisory lock per place), the state of
//! a place read from the database rather than from one process's memory, and one leader (an advisory
//! lock held on its own connection) that runs the notifier and the supervision passes. On SQLite,
//! which one process owns, the locks are no-ops and that process always leads.

use chrono::{DateTime, Utc};
use sha2::Digest;
use sqlx::{Connection, PgConnection, Postgres, pool::PoolConnection};

use super::{Pool, Store, finished_statuses, with_pool};
use crate::Result;

/// Advisory lock key of the leader (any constant distinct from the place keys' range works; place keys
/// are hashes, so a collision is as unlikely as any other 64-bit one).
const LEADER_KEY: i64 = 0x5348_4152_5045_5945; // "SHARPEYE"

/// How often a filer waiting for a place another center holds looks again.
const PLACE_LOCK_POLL: std::time::Duration = std::time::Duration::from_millis(20);

/// A place as the store sees it: `source` is `camera` or `sensor`.
#[derive(Clone, Copy, Debug)]
pub struct PlaceKey<'a> {
    /// `camera` or `sensor`.
    pub source: &'a str,
    /// Camera or device id.
    pub id: &'a str,
    /// Zone id (cameras) or rule id (sensors).
    pub zone: &'a str,
    /// Category.
    pub category: &'a str,
}

impl PlaceKey<'_> {
    fn lock_key(&self) -> i64 {
        let digest = sha2::Sha256::new()
            .chain_update(format!("{}\n{}\n{}\n{}", self.source, self.id, self.zone, self.category))
            .finalize();
        i64::from_be_bytes(digest[..8].try_into().expect("8 bytes"))
    }

    fn columns(&self) -> (&str, &str) {
        if self.source == "sensor" { ("", self.id) } else { (self.id, "") }
    }
}

/// What the database knows of a place.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PlaceState {
    /// Its open case, with its objects' boxes `[x1, y1, x2, y2]`.
    pub open: Option<(i64, Vec<[f64; 4]>)>,
    /// When its latest case finished, if at or after the `since` asked about.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Held while one process files a violation at a place; released by [`PlaceLock::release`] (or, if
/// dropped, by closing its connection).
#[derive(Debug)]
pub struct PlaceLock {
    held: Option<(PoolConnection<Postgres>, i64)>,
}

impl PlaceLock {
    /// Lets the other centers file at the place.
    pub async fn release(mut self) {
        if let Some((mut connection, key)) = self.held.take() {
            let unlocked = sqlx::query("SELECT pg_advisory_unlock($1)").bind(key).execute(&mut *connection).await;
            if unlocked.is_err() {
                connection.close_on_drop();
            }
        }
    }
}

impl Drop for PlaceLock {
    fn drop(&mut self) {
        if let Some((mut connection, _)) = self.held.take() {
            // Not released on purpose (an error in between): the server frees the lock with the session.
            connection.close_on_drop();
        }
    }
}

/// This process leads the centers while it holds this (on PostgreSQL: an advisory lock on a
/// connection of its own, which the server frees if the process dies).
#[derive(Debug)]
pub struct Leadership(Option<PgConnection>);

impl Leadership {
    /// Whether the lock is still held (its connection still answers).
    pub async fn is_held(&mut self) -> bool {
        match &mut self.0 {
            None => true,
            Some(connection) => sqlx::query("SELECT 1").execute(&mut *connection).await.is_ok(),
        }
    }
}

impl Store {
    /// The case a relayed violation with stable id `violation` was filed into, if it was.
    pub async fn filed_violation(&self, violation: &str) -> Result<Option<i64>> {
        with_pool!(self, |pool| {
            Ok(sqlx::query_scalar("SELECT case_id FROM filed_violations WHERE id = $1")
                .bind(violation)
                .fetch_optional(pool)
                .await?)
        })
    }

    /// Records that the relayed violation `violation` belongs to case `case_id` without adding to it (an
    /// object the case already holds); a second record of the same id changes nothing.
    pub async fn attribute_violation(&self, violation: &str, case_id: i64, at: DateTime<Utc>) -> Result<()> {
        with_pool!(self, |pool| {
            sqlx::query(
                "INSERT INTO filed_violations (id, case_id, filed_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            )
            .bind(violation)
            .bind(case_id)
            .bind(at)
            .execute(pool)
            .await?;
            Ok(())
        })
    }

    /// Waits until no other process files at `place`. Cancel-safe: if the wait is dropped, its
    /// connection is closed rather than returned to the pool (a session the pool kept could hold the
    /// lock and never let go of it).
    pub async fn lock_place(&self, place: PlaceKey<'_>) -> Result<PlaceLock> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(PlaceLock { held: None }),
            Pool::Postgres(pool) => {
                let key = place.lock_key();
                // Whatever happens until the lock is ours, the connection goes with this value.
                let mut pending = PlaceLock { held: Some((pool.acquire().await?, key)) };
                loop {
                    let (connection, _) = pending.held.as_mut().expect("held until returned");
                    // A try-lock and a short sleep rather than a server-side wait: a server waiting
                    // for a lock does not notice that its client went away.
                    let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                        .bind(key)
                        .fetch_one(&mut **connection)
                        .await?;
                    if won {
                        return Ok(pending);
                    }
                    tokio::time::sleep(PLACE_LOCK_POLL).await;
                }
            }
        }
    }

    /// The open case of `place` and when its latest case finished (if at or after `since`).
    pub async fn place_state(&self, place: PlaceKey<'_>, since: DateTime<Utc>) -> Result<PlaceState> {
        let (camera, device) = place.columns();
        with_pool!(self, |pool| {
            let open: Option<i64> = sqlx::query_scalar(concat!(
                "SELECT id FROM cases WHERE source = $1 AND camera = $2 AND device = $3 AND zone = $4
                   AND category = $5 AND status NOT IN ",
                finished_statuses!(),
                " ORDER BY id LIMIT 1"
            ))
            .bind(place.source)
            .bind(camera)
            .bind(device)
            .bind(place.zone)
            .bind(place.category)
            .fetch_optional(pool)
            .await?;
            let open = match open {
                Some(id) => {
                    let boxes: Vec<(f64, f64, f64, f64)> =
                        sqlx::query_as("SELECT x1, y1, x2, y2 FROM case_objects WHERE case_id = $1 ORDER BY idx")
                            .bind(id)
                            .fetch_all(pool)
                            .await?;
                    Some((id, boxes.into_iter().map(|(x1, y1, x2, y2)| [x1, y1, x2, y2]).collect()))
                }
                None => None,
            };
            let finished_at: Option<DateTime<Utc>> = sqlx::query_scalar(concat!(
                "SELECT updated_at FROM cases WHERE source = $1 AND camera = $2 AND device = $3 AND zone = $4
                   AND category = $5 AND updated_at >= $6 AND status IN ",
                finished_statuses!(),
                " ORDER BY updated_at DESC LIMIT 1"
            ))
            .bind(place.source)
            .bind(camera)
            .bind(device)
            .bind(place.zone)
            .bind(place.category)
            .bind(since)
            .fetch_optional(pool)
            .await?;
            Ok(PlaceState { open, finished_at })
        })
    }

    /// Leadership of the centers, if no other process holds it now (always, on SQLite).
    pub async fn try_lead(&self) -> Result<Option<Leadership>> {
        match &self.pool {
            Pool::Sqlite(_) => Ok(Some(Leadership(None))),
            Pool::Postgres(pool) => {
                let mut connection = pool.acquire().await?.detach();
                let won: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(LEADER_KEY)
                    .fetch_one(&mut connection)
                    .await?;
                if won {
                    Ok(Some(Leadership(Some(connection))))
                } else {
                    let _ = connection.close().await;
                    Ok(None)
                }
            }
        }
    }
}
