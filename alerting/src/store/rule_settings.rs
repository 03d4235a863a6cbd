//! Dwell rules' sections changed through the API: the database keeps each as the JSON of its
//! `[rules.<rule>]` section, so that the change outlives a restart and a SIGHUP; a rule without a row
//! runs with the configuration file's section.

use chrono::{DateTime, Utc};

use super::{BeginWrite, Pool, Store, audit, with_pool};
use crate::{Result, cases::Principal};

/// A rule's section as an admin last set it.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredRule {
    /// The rule (`illegal_parking`, `litter`, `illegal_construction`).
    pub rule: String,
    /// Its section as JSON.
    pub settings: String,
    /// When it was set.
    pub changed_at: DateTime<Utc>,
    /// Who set it (the token's name).
    pub changed_by: String,
}

impl Store {
    /// Keeps `settings` (JSON) as `rule`'s section, replacing any kept before (audited as `rules.set`).
    pub async fn set_rule(&self, rule: &str, settings: &str, who: &Principal, now: DateTime<Utc>) -> Result<()> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO rule_settings (rule, settings, changed_at, changed_by) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (rule) DO UPDATE
                 SET settings = excluded.settings, changed_at = excluded.changed_at, changed_by = excluded.changed_by",
            )
            .bind(rule)
            .bind(settings)
            .bind(now)
            .bind(&*who.name)
            .execute(&mut *tx)
            .await?;
            audit!(&mut *tx, who, "rules.set", format!("rule {rule}"), settings, now);
            tx.commit().await?;
            Ok(())
        })
    }

    /// Forgets `rule`'s kept section (audited as `rules.reset`); `false` when none was kept.
    pub async fn reset_rule(&self, rule: &str, who: &Principal, now: DateTime<Utc>) -> Result<bool> {
        with_pool!(self, |pool| {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query("DELETE FROM rule_settings WHERE rule = $1").bind(rule).execute(&mut *tx).await?;
            if done.rows_affected() == 0 {
                return Ok(false);
            }
            audit!(&mut *tx, who, "rules.reset", format!("rule {rule}"), String::new(), now);
            tx.commit().await?;
            Ok(true)
        })
    }

    /// Every rule's kept section, by rule.
    pub async fn stored_rules(&self) -> Result<Vec<StoredRule>> {
        with_pool!(self, |pool| Ok(sqlx::query_as("SELECT * FROM rule_settings ORDER BY rule").fetch_all(pool).await?))
    }
}
