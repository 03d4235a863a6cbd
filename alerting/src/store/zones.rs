//! Camera zones changed through the API: the database keeps them (as the JSON of their
//! [`ZoneConfig`](crate::rules::ZoneConfig) list) so that they outlive a restart; a camera without a row
//! keeps its configuration file's zones.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Pool, Store, audit, with_pool};
use crate::{Result, cases::Principal};

/// A camera's zones as an admin last set them.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredZones {
    /// Camera id.
    pub camera: String,
    /// The zones, a JSON list of zone settings.
    pub zones: String,
    /// When they were set.
    pub changed_at: DateTime<Utc>,
    /// Who set them (the token's name).
    pub changed_by: String,
}

impl Store {
    /// Keeps `zones` (JSON) as `camera`'s zones, replacing any kept before (audited as `zones.set`).
    pub async fn set_camera_zones(&self, camera: &str, zones: &str, who: &Principal, now: DateTime<Utc>) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO camera_zones (camera, zones, changed_at, changed_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (camera) DO UPDATE
                 SET zones = excluded.zones, changed_at = excluded.changed_at, changed_by = excluded.changed_by",
            )
            .bind(camera)
            .bind(zones)
            .bind(now)
            .bind(&*who.name)
            .execute(&mut *tx)
            .await?;
            audit!(&mut *tx, who, "zones.set", format!("camera {camera}"), zones, now);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Forgets `camera`'s kept zones (audited as `zones.reset`); `false` when none were kept.
    pub async fn reset_camera_zones(&self, camera: &str, who: &Principal, now: DateTime<Utc>) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("DELETE FROM camera_zones WHERE camera = $1").bind(camera).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            audit!(&mut *tx, who, "zones.reset", format!("camera {camera}"), String::new(), now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// `camera`'s kept zones, if an admin set them.
    pub async fn camera_zones(&self, camera: &str) -> Result<Option<StoredZones>> {
        with_pool!(self, |pool| Ok(sqlx::query_as("SELECT * FROM camera_zones WHERE camera = $1")
            .bind(camera)
            .fetch_optional(pool)
            .await?))
    }

    /// Every camera's kept zones, by camera id.
    pub async fn all_camera_zones(&self) -> Result<Vec<StoredZones>> {
        with_pool!(self, |pool| Ok(sqlx::query_as("SELECT * FROM camera_zones ORDER BY camera")
            .fetch_all(pool)
            .await?))
    }
}
