//! Open311 GeoReport v2 under `/open311/v2/`, in JSON and XML (`.json` / `.xml` on every path):
//! - [`services`]: `discovery`, the case categories as `services` and each one's definition (its
//!   questions, from the taxonomy);
//! - [`requests`]: cases as service `requests`, one request, and `tokens`;
//! - [`report`]: `POST requests` for citizen reports with a photo, which the detector looks at to
//!   suggest the category;
//! - [`media`]: a request's evidence images by index, the public's blurred by [`blur`].
//!
//! [`access`] decides who reads: staff with a token see the staff view; with `[open311] public_read`
//! anyone else sees the public view (no plate, no internal notes, no names, only the first
//! `public_media` images with their text blurred). Errors are always Open311's list, in the
//! [`format`] asked for, naming the field.

mod access;
mod blur;
pub mod config;
mod format;
pub mod media;
pub mod report;
pub mod requests;
pub mod services;

use axum::{
    Router,
    extract::{DefaultBodyLimit, OriginalUri, Request},
    handler::Handler,
    http::{HeaderValue, Method},
    middleware,
    middleware::Next,
    response::Response,
    routing::get,
};
pub use blur::PublicBlur;
pub use config::{Open311Config, Open311Settings};
use format::{Format, error_body};
pub use report::MAX_REPORT_BYTES;
use tower_http::cors::{AllowOrigin, CorsLayer};

use super::{
    error::{ApiError, excerpt, rewrite_framework_error},
    state::ApiState,
};

/// Every Open311 route; reads through [`access::read_access`], reports checking their own token
/// (which may come in the form), an Open311 404 for anything else.
pub fn router(state: &ApiState) -> Router<ApiState> {
    let read = middleware::from_fn_with_state(state.clone(), access::read_access);
    let requests = || {
        get(requests::requests)
            .layer(read.clone())
            .post(report::post_request.layer(DefaultBodyLimit::max(MAX_REPORT_BYTES)))
    };
    let reads = Router::new()
        .route("/discovery.json", get(services::discovery))
        .route("/discovery.xml", get(services::discovery))
        .route("/services.json", get(services::services))
        .route("/services.xml", get(services::services))
        .route("/services/{file}", get(services::definition))
        .route("/requests/{file}", get(requests::request))
        .route("/tokens/{file}", get(requests::token))
        .route("/media/{id}/{file}", get(media::media))
        .route_layer(read.clone());
    let router = reads
        .route("/requests.json", requests())
        .route("/requests.xml", requests())
        .fallback(no_such_endpoint)
        .layer(middleware::from_fn(open311_error_bodies));
    match cors(&state.open311.config.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    }
}

/// CORS for GET from `origins`; none when there are none.
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()).collect();
    (!origins.is_empty())
        .then(|| CorsLayer::new().allow_origin(AllowOrigin::list(origins)).allow_methods([Method::GET]))
}

/// Any other path: Open311's 404, in the format the path asks for.
async fn no_such_endpoint(method: Method, OriginalUri(uri): OriginalUri) -> format::Open311Error {
    let path = excerpt(uri.path());
    format::Open311Error::new(
        Format::of_path(uri.path()),
        ApiError::NotFound(format!("no such endpoint: {method} {path}")),
    )
}

/// Middleware: the framework's own refusals (a path it could not parse, a wrong method) in Open311's
/// error list, in the format the path asks for.
async fn open311_error_bodies(OriginalUri(uri): OriginalUri, request: Request, next: Next) -> Response {
    let asked = format!("{} {}", request.method(), excerpt(uri.path()));
    let format = Format::of_path(uri.path());
    let response = next.run(request).await;
    rewrite_framework_error(response, &asked, "text/xml", |status, message| error_body(format, status, message)).await
}
