//! Cameras added, changed and removed through the API: the database keeps each as the JSON of its
//! `[[cameras]]` entry (or a removal), so that the change outlives a restart and a SIGHUP; a camera
//! without a row is as the configuration file has it.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Pool, Store, audit, with_pool};
use crate::{Result, cases::Principal};

/// A camera as an admin last set it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredCamera {
    /// Camera id.
    pub camera: String,
    /// Its `[[cameras]]` entry as JSON, zones included; `None`: removed.
    pub settings: Option<String>,
    /// When it was set.
    pub changed_at: DateTime<Utc>,
    /// Who set it (the token's name).
    pub changed_by: String,
}

impl Store {
    /// Keeps `settings` (JSON, zones included) as `camera`'s, or (`None`) keeps it removed; zones kept for
    /// it before are forgotten, the settings carrying its zones now. Audited as `action`
    /// (`camera.add`, `camera.change`, `camera.remove`) with the settings as detail, which the caller
    /// gives without secrets.
    pub async fn set_camera(
        &self,
        camera: &str,
        settings: Option<&str>,
        shown: &str,
        action: &str,
        who: &Principal,
        now: DateTime<Utc>,
    ) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO camera_settings (camera, settings, changed_at, changed_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (camera) DO UPDATE
                 SET settings = excluded.settings, changed_at = excluded.changed_at, changed_by = excluded.changed_by",
            )
            .bind(camera)
            .bind(settings)
            .bind(now)
            .bind(&*who.name)
            .execute(&mut *tx)
            .await?;
            sqlx::query("DELETE FROM camera_zones WHERE camera = $1").bind(camera).execute(&mut *tx).await?;
            audit!(&mut *tx, who, action, format!("camera {camera}"), shown, now);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Every camera an admin set, by camera id.
    pub async fn stored_cameras(&self) -> Result<Vec<StoredCamera>> {
        with_pool!(self, |pool| Ok(sqlx::query_as("SELECT * FROM camera_settings ORDER BY camera")
            .fetch_all(pool)
            .await?))
    }
}
