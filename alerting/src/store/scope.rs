//! Which cases a reader may see ([`ReadScope`]), as a condition the case queries carry.

use sqlx::{Database, QueryBuilder};

use super::{Pool, Result, Store, with_pool};
use crate::cases::whistles::Department;

/// The cases a reader may see: every case, the citizen reports one channel filed, or one
/// department's cases.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReadScope {
    /// Every case (viewers, operators, dispatchers, inspectors, admins, handlers bound to no department).
    All,
    /// The citizen reports filed through this channel (a reporter token's name): a citizen app reads
    /// what it filed and nothing else.
    FiledBy(String),
    /// A department's cases: those of its categories in its grids, and those it was called to by a
    /// whistle.
    Department {
        /// The department's id.
        id: String,
        /// The categories it handles.
        categories: Vec<String>,
        /// The grid codes or prefixes it covers.
        grids: Vec<String>,
    },
}

impl ReadScope {
    /// The cases `department` is responsible for: those of its categories in its grids (and those it
    /// was called to).
    pub fn of_department(department: &Department) -> Self {
        Self::Department {
            id: department.id.clone(),
            categories: department.categories.clone(),
            grids: department.grids.clone(),
        }
    }

    /// Adds ` AND <the scope's condition>` to a query over `cases` (its columns unqualified).
    pub(crate) fn push_condition<'args, DB>(&self, query: &mut QueryBuilder<'args, DB>)
    where
        DB: Database,
        String: sqlx::Encode<'args, DB> + sqlx::Type<DB>,
    {
        match self {
            Self::All => {}
            Self::FiledBy(channel) => {
                query.push(" AND source = 'citizen' AND device = ").push_bind(channel.clone());
            }
            Self::Department { id, categories, grids } => {
                query.push(" AND (");
                if categories.is_empty() || grids.is_empty() {
                    query.push("1 = 0");
                } else {
                    query.push("(category IN (");
                    let mut list = query.separated(", ");
                    for category in categories {
                        list.push_bind(category.clone());
                    }
                    query.push(") AND (");
                    for (n, grid) in grids.iter().enumerate() {
                        if n > 0 {
                            query.push(" OR ");
                        }
                        // The codes that start with the prefix (':' follows '9'), as the case list's grid filter.
                        query.push("(grid >= ").push_bind(grid.clone());
                        query.push(" AND grid < ").push_bind(format!("{grid}:")).push(")");
                    }
                    query.push("))");
                }
                query.push(
                    " OR id IN (SELECT w.case_id FROM whistles w JOIN whistle_calls c ON c.whistle_id = w.id
                     WHERE c.department = ",
                );
                query.push_bind(id.clone()).push("))");
            }
        }
    }
}

impl Store {
    /// Whether case `id` lies within `scope`: for [`ReadScope::All`] yes without a look at the
    /// database (whether the case exists is the caller's next question); otherwise whether it exists
    /// and its row meets the scope's condition.
    pub async fn case_in_scope(&self, id: i64, scope: &ReadScope) -> Result<bool> {
        if *scope == ReadScope::All {
            return Ok(true);
        }
        with_pool!(self, |pool| {
            let mut query = QueryBuilder::new("SELECT id FROM cases WHERE id = ");
            query.push_bind(id);
            scope.push_condition(&mut query);
            Ok(query.build().fetch_optional(pool).await?.is_some())
        })
    }
}
