//! Who reads through Open311: staff with a token (`api_key` in the query or, on `POST`, the form, or
//! a bearer header) see the staff view of the cases their role may read; anyone else, when
//! `[open311] public_read` is on, the public view of every case.

use axum::{
    extract::{Request, State},
    middleware::Next,
    response::Response,
};

use super::format::{Format, Open311Error};
use crate::{
    api::{auth, error::ApiError, state::ApiState},
    cases::Principal,
    store::{Case, ReadScope},
};

/// The refusal of a read or report without a token.
pub const NO_TOKEN: &str =
    "no token: send api_key (in the query, or in the form of a POST) or Authorization: Bearer <token>";

/// Who is reading.
#[derive(Clone, Debug)]
pub enum Reader {
    /// Someone without a token, allowed by `public_read`: the public view.
    Public,
    /// A token's holder: the staff view, within their read scope.
    Staff(Principal),
}

impl Reader {
    /// The cases this reader may see.
    pub fn scope(&self, state: &ApiState) -> ReadScope {
        match self {
            Self::Public => ReadScope::All,
            Self::Staff(who) => state.read_scope(who),
        }
    }

    /// Whether this reader gets the public view.
    pub fn is_public(&self) -> bool {
        matches!(self, Self::Public)
    }
}

/// The index of the first evidence image the public may see of `case`, if any.
pub fn first_public_image(state: &ApiState, case: &Case, evidence_count: i64) -> Option<i64> {
    (state.open311.config.public_media > 0 && evidence_count > 0 && case.plate_evidence != Some(0)).then_some(0)
}

/// Middleware of every read: puts the [`Reader`] into the request, or refuses it in Open311's format
/// (401 naming both ways to send a token when `public_read` is off; 401 for a token that is wrong even
/// where reading needs none).
pub async fn read_access(
    State(state): State<ApiState>,
    mut request: Request,
    next: Next,
) -> Result<Response, Open311Error> {
    let format = Format::of_path(request.uri().path());
    let refuse = |error: ApiError| Open311Error::new(format, error);
    let reader = match auth::presented_token(&request).map_err(refuse)? {
        Some(token) => Reader::Staff(state.auth.admit(&token, auth::peer_of(&request)).map_err(refuse)?),
        None if state.open311.config.public_read => Reader::Public,
        None => return Err(refuse(ApiError::Unauthorized(NO_TOKEN))),
    };
    request.extensions_mut().insert(reader);
    Ok(next.run(request).await)
}
