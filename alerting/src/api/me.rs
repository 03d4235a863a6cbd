use axum::{Extension, Json};
use serde::Serialize;

use super::error::ErrorBody;
use crate::cases::{Principal, Role, workflow::Action};

/// Who holds the token, and what the role may do: the dashboard decides its views by it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Me {
    /// The token's name.
    pub name: String,
    /// Its role.
    pub role: Role,
    /// The department it acts for, if bound to one.
    pub department: Option<String>,
    /// The workflow actions the role may take (each where the case's state allows it).
    pub actions: Vec<Action>,
    /// Whether it calls departments to cases.
    pub may_whistle: bool,
    /// Whether it creates and expires silences.
    pub may_silence: bool,
}

/// `GET /api/v1/me`: the caller's name, role and permissions.
#[utoipa::path(get, path = "/api/v1/me", tag = "auth", responses((status = 200, body = Me), (status = 401, description = "no or an unknown token", body = ErrorBody)))]
pub async fn me(Extension(who): Extension<Principal>) -> Json<Me> {
    Json(Me {
        name: who.name.to_string(),
        role: who.role,
        department: who.department.as_deref().map(str::to_owned),
        actions: Action::ALL.into_iter().filter(|a| who.role == Role::Admin || a.role() == who.role).collect(),
        may_whistle: who.role.may_blow_whistles(),
        may_silence: who.role.may_silence(),
    })
}
