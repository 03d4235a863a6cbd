use axum::{
    Json,
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tracing::{error, warn};

/// Most characters of a client's input an error message repeats.
const EXCERPT_CHARS: usize = 64;

/// `text` as an error message may quote it: at most its first 64 characters, marked when cut, so
/// that a refused megabyte is not sent back.
pub fn excerpt(text: &str) -> String {
    match text.char_indices().nth(EXCERPT_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// The body of every error answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// What is wrong; a bad field is named first (`limit: 5000 is outside 1..=1000`).
    pub error: String,
}

/// An API failure, answered as JSON `{"error": "..."}` with the matching status.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request names the bad parameter.
    #[error("{0}")]
    BadRequest(String),
    /// 401: no or an unknown token.
    #[error("{0}")]
    Unauthorized(&'static str),
    /// 403: the token's role may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such resource.
    #[error("{0}")]
    NotFound(String),
    /// 409: the resource's state does not allow it.
    #[error("{0}")]
    Conflict(String),
    /// 413: the body is larger than the endpoint takes.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// 429: the token's request rate is used up; retry after this many seconds.
    #[error("too many requests: retry after {0} s")]
    TooManyRequests(u64),
    /// 500: logged in full, answered without internals; 503 with `Retry-After` when the database was
    /// busy or unreachable.
    #[error("internal error")]
    Internal(#[from] crate::Error),
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    /// A body that is not the JSON the endpoint takes is a 400 naming what is wrong; one over the size
    /// limit a 413.
    fn from(rejection: axum::extract::rejection::JsonRejection) -> Self {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Self::PayloadTooLarge(rejection.body_text())
        } else {
            Self::BadRequest(rejection.body_text())
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Internal(source) if source.is_transient() || matches!(source, crate::Error::Contended(_)) => {
                warn!(error = %source, "API request met a busy or unreachable database; the client is asked to retry");
                StatusCode::SERVICE_UNAVAILABLE
            }
            Self::Internal(source) => {
                error!(error = %source, "API request failed");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        let message = match status {
            StatusCode::SERVICE_UNAVAILABLE => "the database is busy or unreachable: retry".into(),
            _ => self.to_string(),
        };
        let mut response = (status, Json(ErrorBody { error: message })).into_response();
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(1));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Self::TooManyRequests(seconds) = self {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
