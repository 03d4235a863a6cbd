//! Cases as Open311 service requests: one page of the cases a filter selects, each with its latest
//! timeline note and how many evidence images it has, in one query. Every filter runs in SQL, so a
//! page is the page of the filtered cases, not of the newest ones filtered afterwards.

use chrono::{DateTime, Utc};
use sqlx::QueryBuilder;

use super::{Case, Pool, ReadScope, Store, finished_statuses, with_pool};
use crate::Result;

/// Which requests a page holds; every part optional.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RequestFilter {
    /// These case ids only (the other filters still apply).
    pub ids: Vec<i64>,
    /// Any of these categories (none: all).
    pub categories: Vec<String>,
    /// Open (`true`) or finished (`false`) cases only.
    pub open: Option<bool>,
    /// Opened at or after.
    pub since: Option<DateTime<Utc>>,
    /// Opened before.
    pub until: Option<DateTime<Utc>>,
    /// Requests skipped before the page (newest first).
    pub offset: u32,
    /// Requests in the page.
    pub limit: u32,
}

/// A case with what its request shows besides the case row.
#[derive(Clone, Debug, PartialEq, sqlx::FromRow)]
pub struct RequestRow {
    /// The case.
    #[sqlx(flatten)]
    pub case: Case,
    /// The note of its latest timeline entry.
    pub latest_note: Option<String>,
    /// Its evidence images.
    pub evidence_count: i64,
}

impl Store {
    /// The page of cases `filter` selects within `scope`, newest first.
    pub async fn service_requests(&self, filter: &RequestFilter, scope: &ReadScope) -> Result<Vec<RequestRow>> {
        with_pool!(self, |pool| {
            let mut query = QueryBuilder::new(
                "SELECT cases.*,
                   (SELECT note FROM case_events WHERE case_events.case_id = cases.id
                    ORDER BY case_events.id DESC LIMIT 1) AS latest_note,
                   (SELECT COUNT(*) FROM evidence WHERE evidence.case_id = cases.id) AS evidence_count
                 FROM cases WHERE 1 = 1",
            );
            scope.push_condition(&mut query);
            if !filter.ids.is_empty() {
                query.push(" AND id IN (");
                let mut list = query.separated(", ");
                for id in &filter.ids {
                    list.push_bind(*id);
                }
                query.push(")");
            }
            if !filter.categories.is_empty() {
                query.push(" AND category IN (");
                let mut list = query.separated(", ");
                for category in &filter.categories {
                    list.push_bind(category.clone());
                }
                query.push(")");
            }
            if let Some(open) = filter.open {
                query.push(if open { " AND status NOT IN " } else { " AND status IN " }).push(finished_statuses!());
            }
            if let Some(since) = filter.since {
                query.push(" AND opened_at >= ").push_bind(since);
            }
            if let Some(until) = filter.until {
                query.push(" AND opened_at < ").push_bind(until);
            }
            query.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(filter.limit));
            query.push(" OFFSET ").push_bind(i64::from(filter.offset));
            Ok(query.build_query_as::<RequestRow>().fetch_all(pool).await?)
        })
    }
}
