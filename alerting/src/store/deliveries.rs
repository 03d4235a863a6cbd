//! The notification outbox: timeline entries routed into deliveries, each sent until delivered or dead.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, de::Error as _};

use super::{BeginWrite, CaseEvent, Pool, Store, finished_statuses, insert_event, status_kept_step, with_pool};
use crate::{
    Result,
    cases::{
        taxonomy::Urgency,
        timeline::{Actor, Step},
        workflow::Status,
    },
    rules::Category,
};

/// One step of a case's timeline with what a receiver needs to know of the case: what the event
/// stream and the webhooks carry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct TimelineEntry {
    /// Timeline entry id: increasing, the event stream's `id`.
    pub id: i64,
    /// The case.
    pub case_id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who: a token's name, or the source that reported the case.
    pub actor: String,
    /// In which role (a person's), or `system`, or the reporting source.
    #[schema(value_type = String)]
    pub role: Actor,
    /// `report`, `verify`, `dispatch`, ... `supervise`, `whistle`.
    #[schema(value_type = String)]
    pub action: Step,
    /// Status before (none for the report that opened the case).
    #[serde(default, deserialize_with = "status_before")]
    pub from_status: Option<Status>,
    /// Status after.
    pub to_status: Status,
    /// The note given with the action.
    pub note: String,
    /// The case's taxonomy code.
    pub code: String,
    /// Its category.
    pub category: Category,
    /// Its camera (empty for sensor cases).
    pub camera: String,
    /// Its zone (or sensor rule).
    pub zone: String,
    /// Its 15-digit grid.
    pub grid: String,
    /// Its urgency now.
    pub urgency: Urgency,
    /// `camera`, `sensor` or `citizen`.
    pub source: String,
    /// The sensor (empty for camera cases).
    pub device: String,
    /// The vehicle's licence plate, when one has been read.
    #[serde(default)]
    pub plate: Option<String>,
}

/// Reads the status before a step: none as `null` or, in delivery bodies stored before the status was
/// typed, as `""`.
fn status_before<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Status>, D::Error> {
    match Option::<String>::deserialize(deserializer)?.as_deref() {
        None | Some("") => Ok(None),
        Some(name) => {
            Status::parse(name).map(Some).ok_or_else(|| D::Error::custom(format!("'{name}' is not a known status")))
        }
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its (next) attempt.
    Pending,
    /// The receiver took it.
    Delivered,
    /// Every attempt failed: kept for an operator to look at and retry.
    Dead,
    /// Muted when routed (a silence, a camera's maintenance window, inhibition): never sent.
    Silenced,
    /// Waiting for its group to be due (a grouped route).
    Held,
    /// Sent as part of another delivery of its group (`merged_into`).
    Merged,
}

impl DeliveryState {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Dead => "dead",
            Self::Silenced => "silenced",
            Self::Held => "held",
            Self::Merged => "merged",
        }
    }
}

/// One timeline entry for one receiver.
#[derive(Clone, Debug, PartialEq, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct Delivery {
    /// The delivery id, the same on every attempt (receivers deduplicate by it).
    pub id: i64,
    /// The timeline entry.
    pub event_id: i64,
    /// Its case.
    pub case_id: i64,
    /// Receiver id.
    pub receiver: String,
    /// The JSON body sent on every attempt.
    #[serde(skip)]
    pub body: String,
    /// `pending`, `delivered`, `dead` or `silenced`.
    pub state: String,
    /// Attempts made.
    pub attempts: i32,
    /// When the next attempt is due.
    pub next_at: DateTime<Utc>,
    /// Why the last attempt failed, or what silenced it.
    pub last_error: String,
    /// When it was routed.
    pub created_at: DateTime<Utc>,
    /// When the receiver took it.
    pub delivered_at: Option<DateTime<Utc>>,
}

/// A delivery to add when routing an entry.
#[derive(Clone, Debug, PartialEq)]
pub struct NewDelivery {
    /// Receiver id.
    pub receiver: String,
    /// The JSON body.
    pub body: String,
    /// Why it is not to be sent (a silence, a maintenance window, inhibition), if it is muted.
    pub muted: Option<String>,
    /// The group it waits in, for a grouped route.
    pub group: Option<String>,
}

/// An open case and a receiver last told of it at `last_told`.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct QuietCase {
    /// Case id.
    pub case_id: i64,
    /// Receiver id.
    pub receiver: String,
    /// When the receiver's latest delivery about the case was made.
    pub last_told: DateTime<Utc>,
}

/// A group of held deliveries of one receiver.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct HeldGroup {
    /// Receiver id.
    pub receiver: String,
    /// The group's key (`grid=...,category=...`).
    pub group_key: String,
    /// When its oldest held delivery was routed.
    pub first_held: DateTime<Utc>,
    /// The body of its oldest held delivery (to find the route that grouped it).
    pub first_body: String,
    /// When the group was last sent, if ever.
    pub last_flush: Option<DateTime<Utc>>,
}

const ENTRY_COLUMNS: &str =
    "e.id, e.case_id, e.at, e.actor, e.role, e.action, NULLIF(e.from_status, '') AS from_status, e.to_status, e.note,
     c.code, c.category, c.camera, c.zone, c.grid, c.urgency, c.source, c.device, c.plate";

impl Store {
    /// Timeline entries not routed yet, oldest first.
    pub async fn unrouted_entries(&self, limit: i64) -> Result<Vec<TimelineEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM case_events e JOIN cases c ON c.id = e.case_id
             WHERE NOT e.routed ORDER BY e.id LIMIT $1"
        );
        with_pool!(self, |pool| Ok(sqlx::query_as(&sql).bind(limit).fetch_all(pool).await?))
    }

    /// Timeline entries after `after`, oldest first (the event stream).
    pub async fn entries_after(&self, after: i64, limit: i64) -> Result<Vec<TimelineEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM case_events e JOIN cases c ON c.id = e.case_id
             WHERE e.id > $1 ORDER BY e.id LIMIT $2"
        );
        with_pool!(self, |pool| Ok(sqlx::query_as(&sql).bind(after).bind(limit).fetch_all(pool).await?))
    }

    /// The newest timeline entry of a case.
    pub async fn latest_entry_of(&self, case_id: i64) -> Result<Option<TimelineEntry>> {
        let sql = format!(
            "SELECT {ENTRY_COLUMNS} FROM case_events e JOIN cases c ON c.id = e.case_id
             WHERE e.case_id = $1 ORDER BY e.id DESC LIMIT 1"
        );
        with_pool!(self, |pool| Ok(sqlx::query_as(&sql).bind(case_id).fetch_optional(pool).await?))
    }

    /// Open cases and the receivers told of them, where the receiver was last told at or before
    /// `told_before` (reminder candidates), at most `limit`.
    pub async fn quiet_open_cases(&self, told_before: DateTime<Utc>, limit: i64) -> Result<Vec<QuietCase>> {
        with_pool!(self, |pool| Ok(sqlx::query_as(concat!(
            "SELECT d.case_id, d.receiver, MAX(d.created_at) AS last_told
               FROM deliveries d JOIN cases c ON c.id = d.case_id
              WHERE d.state <> 'silenced' AND c.status NOT IN ",
            finished_statuses!(),
            " GROUP BY d.case_id, d.receiver HAVING MAX(d.created_at) <= $1 ORDER BY d.case_id LIMIT $2"
        ))
        .bind(told_before)
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }

    /// Appends a `remind` entry to an open case's timeline (actor `reminder:<receiver>`): the case is
    /// still open, and the receiver hears of it again.
    pub async fn remind(&self, case_id: i64, receiver: &str, note: String, now: DateTime<Utc>) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let status: Status =
                sqlx::query_scalar("SELECT status FROM cases WHERE id = $1").bind(case_id).fetch_one(&mut *tx).await?;
            let event =
                status_kept_step(now, format!("reminder:{receiver}"), Actor::System, Step::Remind, status, note);
            insert_event!(tx, case_id, &event);
            tx.commit().await?;
            self.timeline_grew();
            Ok(())
        })
    }

    /// The id of the newest timeline entry (0 when there is none).
    pub async fn latest_entry_id(&self) -> Result<i64> {
        with_pool!(self, |pool| Ok(sqlx::query_scalar::<_, Option<i64>>("SELECT MAX(id) FROM case_events")
            .fetch_one(pool)
            .await?
            .unwrap_or(0)))
    }

    /// Adds the deliveries of `entry` and marks it routed, atomically; a delivery already there (an
    /// entry routed twice by two processes) is not added again.
    pub async fn route_entry(
        &self,
        entry: &TimelineEntry,
        deliveries: &[NewDelivery],
        now: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            for delivery in deliveries {
                let state = match (&delivery.muted, &delivery.group) {
                    (Some(_), _) => DeliveryState::Silenced,
                    (None, Some(_)) => DeliveryState::Held,
                    (None, None) => DeliveryState::Pending,
                };
                sqlx::query(
                    "INSERT INTO deliveries (event_id, case_id, receiver, body, next_at, created_at, state, last_error,
                                             group_key)
                     VALUES ($1, $2, $3, $4, $5, $5, $6, $7, $8) ON CONFLICT (event_id, receiver) DO NOTHING",
                )
                .bind(entry.id)
                .bind(entry.case_id)
                .bind(&delivery.receiver)
                .bind(&delivery.body)
                .bind(now)
                .bind(state.as_str())
                .bind(delivery.muted.as_deref().unwrap_or_default())
                .bind(delivery.group.as_deref().unwrap_or_default())
                .execute(&mut *tx)
                .await?;
            }
            sqlx::query("UPDATE case_events SET routed = TRUE WHERE id = $1").bind(entry.id).execute(&mut *tx).await?;
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every group with held deliveries, with its oldest one and its last sending.
    pub async fn held_groups(&self) -> Result<Vec<HeldGroup>> {
        with_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT h.receiver, h.group_key, h.created_at AS first_held, h.body AS first_body,
                    (SELECT MAX(f.flushed_at) FROM deliveries f
                      WHERE f.receiver = h.receiver AND f.group_key = h.group_key AND f.flushed_at IS NOT NULL)
                      AS last_flush
               FROM deliveries h
              WHERE h.state = 'held'
                AND h.id = (SELECT MIN(o.id) FROM deliveries o
                             WHERE o.state = 'held' AND o.receiver = h.receiver AND o.group_key = h.group_key)"
        )
        .fetch_all(pool)
        .await?))
    }

    /// Sends a group: its oldest held delivery carries the batch (`{"receiver", "group", "entry": the
    /// latest, "entries": all}`) and becomes pending; the others are merged into it. Returns the
    /// carrier's id and how many entries it carries (none when nothing was held).
    pub async fn flush_group(&self, receiver: &str, key: &str, now: DateTime<Utc>) -> Result<Option<(i64, usize)>> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let held: Vec<(i64, String)> = sqlx::query_as(
                "SELECT id, body FROM deliveries WHERE state = 'held' AND receiver = $1 AND group_key = $2 ORDER BY id",
            )
            .bind(receiver)
            .bind(key)
            .fetch_all(&mut *tx)
            .await?;
            let Some(&(carrier, _)) = held.first() else {
                return Ok(None);
            };
            let entries: Vec<serde_json::Value> = held
                .iter()
                .map(|(_, body)| {
                    let mut body: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
                    body["entry"].take()
                })
                .collect();
            let body = serde_json::json!({
                "receiver": receiver,
                "group": key,
                "entry": entries.last(),
                "entries": entries,
            });
            sqlx::query(
                "UPDATE deliveries SET state = 'pending', body = $1, flushed_at = $2, next_at = $2 WHERE id = $3",
            )
            .bind(body.to_string())
            .bind(now)
            .bind(carrier)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "UPDATE deliveries SET state = 'merged', merged_into = $1
                  WHERE state = 'held' AND receiver = $2 AND group_key = $3 AND id <> $1",
            )
            .bind(carrier)
            .bind(receiver)
            .bind(key)
            .execute(&mut *tx)
            .await?;
            tx.commit().await?;
            Ok(Some((carrier, held.len())))
        })
    }

    /// Pending deliveries due by `now`, oldest first.
    pub async fn due_deliveries(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<Delivery>> {
        with_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT * FROM deliveries WHERE state = 'pending' AND next_at <= $1 ORDER BY next_at, id LIMIT $2"
        )
        .bind(now)
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }

    /// When the next pending delivery is due, if any.
    pub async fn next_delivery_due(&self) -> Result<Option<DateTime<Utc>>> {
        with_pool!(self, |pool| Ok(sqlx::query_scalar("SELECT MIN(next_at) FROM deliveries WHERE state = 'pending'")
            .fetch_one(pool)
            .await?))
    }

    /// Records an attempt: delivered, or failed with `error` and retried at `retry_at` (dead when
    /// `None`).
    pub async fn record_attempt(
        &self,
        id: i64,
        outcome: std::result::Result<(), &str>,
        retry_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            match outcome {
                Ok(()) => sqlx::query(
                    "UPDATE deliveries SET state = 'delivered', attempts = attempts + 1, delivered_at = $2, last_error = ''
                     WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(pool)
                .await?,
                Err(error) => sqlx::query(
                    "UPDATE deliveries SET state = $2, attempts = attempts + 1, last_error = $3, next_at = $4 WHERE id = $1",
                )
                .bind(id)
                .bind(if retry_at.is_some() { "pending" } else { "dead" })
                .bind(error)
                .bind(retry_at.unwrap_or(now))
                .execute(pool)
                .await?,
            };
            Ok(())
        })
    }

    /// Deliveries in `state` (all when `None`), newest first, before id `before` when given.
    pub async fn deliveries(
        &self,
        state: Option<DeliveryState>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<Delivery>> {
        with_pool!(self, |pool| Ok(sqlx::query_as(
            "SELECT * FROM deliveries WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR id < $2)
             ORDER BY id DESC LIMIT $3"
        )
        .bind(state.map(DeliveryState::as_str))
        .bind(before)
        .bind(limit)
        .fetch_all(pool)
        .await?))
    }

    /// Sends a dead delivery again from its first attempt; `false` when it is not dead.
    pub async fn revive_delivery(&self, id: i64, now: DateTime<Utc>) -> Result<bool> {
        with_pool!(self, |pool| {
            let done = sqlx::query(
                "UPDATE deliveries SET state = 'pending', attempts = 0, next_at = $2 WHERE id = $1 AND state = 'dead'",
            )
            .bind(id)
            .bind(now)
            .execute(pool)
            .await?;
            Ok(done.rows_affected() == 1)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_reads_back_from_its_body_old_or_new() {
        let entry = crate::notify::routes::tests::entry("litter", "110105", "normal", "verify");
        let entry = TimelineEntry { from_status: Some(Status::Reported), to_status: Status::Filed, ..entry };
        let body = serde_json::to_value(&entry).unwrap();
        assert_eq!(body["from_status"], "reported");
        assert_eq!(serde_json::from_value::<TimelineEntry>(body.clone()).unwrap(), entry);

        // A report has no status before it; bodies written before the status was typed say "".
        let mut old = body;
        old["from_status"] = "".into();
        assert_eq!(serde_json::from_value::<TimelineEntry>(old.clone()).unwrap().from_status, None);
        old["from_status"] = "lost".into();
        let error = serde_json::from_value::<TimelineEntry>(old).unwrap_err().to_string();
        assert!(error.contains("'lost' is not a known status"), "{error}");
    }
}
