use axum::{
    Json,
    body::Body,
    extract::Request,
    http::{HeaderValue, StatusCode, header},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::Serialize;
use tracing::{error, warn};

/// Most characters of a client's input an error message repeats.
const EXCERPT_CHARS: usize = 64;

/// `text` as an error message may quote it: at most its first 64 characters, marked when cut, so
/// that a refused megabyte is not sent back.
pub fn excerpt(text: &str) -> String {
    first_chars(text, EXCERPT_CHARS)
}

/// The first `count` characters of `text`, marked when cut.
fn first_chars(text: &str, count: usize) -> String {
    match text.char_indices().nth(count) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Most characters of a framework error's text an answer repeats (it may quote the input too).
const FRAMEWORK_TEXT_CHARS: usize = 300;

/// When a token at its cap of event streams is asked to try again (a closed browser tab's stream ends
/// within one keep-alive).
const STREAM_RETRY_AFTER_S: u64 = 15;

/// Most bytes of a framework error's text (a path or query it could not parse) that are read.
const FRAMEWORK_TEXT_BYTES: usize = 16 * 1024;

/// Middleware: an error answer that is not JSON — axum's own refusals of a path or query it could
/// not parse (`text/plain`), an unknown route or method (empty) — is rewritten into the API's format,
/// `{"error": "..."}`. Open311 (`/open311/`) writes its own errors in its own format.
pub async fn json_error_bodies(request: Request, next: Next) -> Response {
    if request.uri().path().starts_with("/open311/") {
        return next.run(request).await;
    }
    let asked = format!("{} {}", request.method(), excerpt(request.uri().path()));
    let response = next.run(request).await;
    rewrite_framework_error(response, &asked, "application/json", |_, message| {
        ("application/json", serde_json::json!({ "error": message }).to_string())
    })
    .await
}

/// Rewrites `response` when it is an error the framework wrote (not of content type `written`, nor
/// JSON): `body` makes the new content type and body from the status and a message — the framework's
/// text, or for an empty 404 or 405 one naming `asked` (`GET /path`).
pub async fn rewrite_framework_error(
    response: Response,
    asked: &str,
    written: &str,
    body: impl FnOnce(StatusCode, &str) -> (&'static str, String),
) -> Response {
    let status = response.status();
    let is_written = response.headers().get(header::CONTENT_TYPE).is_some_and(|value| {
        let value = value.as_bytes();
        value.starts_with(b"application/json") || value.starts_with(written.as_bytes())
    });
    if !(status.is_client_error() || status.is_server_error()) || is_written {
        return response;
    }
    let (mut parts, framework_body) = response.into_parts();
    let text = axum::body::to_bytes(framework_body, FRAMEWORK_TEXT_BYTES)
        .await
        .map(|bytes| first_chars(String::from_utf8_lossy(&bytes).trim(), FRAMEWORK_TEXT_CHARS))
        .unwrap_or_default();
    let message = match (text.is_empty(), status) {
        (false, _) => text,
        (true, StatusCode::NOT_FOUND) => format!("no such endpoint: {asked}"),
        (true, StatusCode::METHOD_NOT_ALLOWED) => format!("method not allowed: {asked}"),
        (true, _) => status.canonical_reason().unwrap_or("error").to_owned(),
    };
    let (content_type, body) = body(status, &message);
    parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(body))
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
    /// 429: the token has this many event streams open already, its cap.
    #[error("this token has {0} event streams open already (the most it may): close one first")]
    TooManyStreams(usize),
    /// 502: the edge node that holds what was asked (a camera's frame) did not answer, or refused
    /// the center; the message names the edge and why.
    #[error("{0}")]
    EdgeUnreachable(String),
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
            Self::TooManyRequests(_) | Self::TooManyStreams(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::EdgeUnreachable(message) => {
                warn!(error = %message, "an edge node did not serve a forwarded read");
                StatusCode::BAD_GATEWAY
            }
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
        match self {
            Self::TooManyRequests(seconds) => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
            }
            Self::TooManyStreams(_) => {
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(STREAM_RETRY_AFTER_S));
            }
            _ => {}
        }
        response
    }
}
