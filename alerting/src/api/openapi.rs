//! `GET /api/v1/openapi.json`: the OpenAPI 3.1 document, generated from the handlers' annotations and
//! the types they take and answer with, so it cannot drift from the code.

use axum::Json;
use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{
    camera_admin, cameras, cases, dataset, deliveries, export, grids, health, map, me, open311, parked, quality,
    rule_admin, sensors, shown_config, silences, stats, stream, zones,
};

/// The API's OpenAPI description.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sharpeyes",
        description = "Grid cases from city cameras and sensors: cases, their workflow and evidence, cameras, \
                       sensors, grids, notifications. Every `/api/` path needs `Authorization: Bearer <token>`."
    ),
    paths(
        health::healthz,
        health::readyz,
        health::metrics,
        me::me,
        shown_config::show,
        cases::list,
        cases::detail,
        cases::act,
        cases::acknowledge,
        cases::hand_over,
        cases::whistle,
        cases::report_in,
        cases::evidence,
        cameras::list,
        cameras::view,
        cameras::frame,
        camera_admin::add,
        camera_admin::replace,
        camera_admin::remove,
        rule_admin::set,
        rule_admin::reset,
        zones::get,
        zones::put,
        zones::reset,
        zones::preview,
        zones::put_one,
        zones::remove_one,
        grids::tree,
        map::view,
        dataset::export,
        sensors::list,
        stream::stream,
        deliveries::list,
        deliveries::retry,
        parked::list,
        quality::report,
        stats::report,
        export::cases,
        parked::retry,
        silences::list,
        silences::create,
        silences::expire,
        silences::audit,
        open311::services::discovery,
        open311::services::services,
        open311::services::definition,
        open311::requests::requests,
        open311::requests::request,
        open311::requests::token,
        open311::report::post_request,
        open311::media::media,
        document,
    ),
    modifiers(&BearerToken),
    security(("bearer" = [])),
    tags(
        (name = "cases", description = "Grid cases, their workflow, whistles, evidence and live changes"),
        (name = "cameras", description = "Camera status, zones and latest detections; cameras added, changed and removed at runtime"),
        (name = "rules", description = "The dwell rules' settings changed at runtime"),
        (name = "notifications", description = "Deliveries, silences and the audit log"),
        (name = "open311", description = "Open311 GeoReport v2: categories as services, cases as requests, \
                                          citizen reports with a photo; JSON or XML by the path's extension; \
                                          `api_key` (query, or the form of a POST) may replace the bearer header; \
                                          with `[open311] public_read` reads need no token (the public view)"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer token scheme the `security` requirement names.
struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// `GET /api/v1/openapi.json`: this document.
#[utoipa::path(get, path = "/api/v1/openapi.json", tag = "meta", responses((status = 200, description = "the OpenAPI document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_document_holds_the_schemas_of_what_the_handlers_take_and_answer() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let schemas = &document["components"]["schemas"];
        for schema in [
            "CaseView",
            "Case",
            "ErrorBody",
            "ActionRequest",
            "WhistleRequest",
            "StatusSnapshot",
            "SensorReading",
            "Delivery",
            "SilenceRequest",
            "GridNode",
            "CameraView",
            "ParkedViolation",
        ] {
            assert!(schemas[schema].is_object(), "{schema} missing: {schemas:#}");
        }
        let actions = schemas["Action"]["enum"].as_array().expect("Action as an enum of names");
        assert_eq!(actions.len(), crate::cases::workflow::Action::ALL.len());
        assert_eq!(document["components"]["securitySchemes"]["bearer"]["scheme"], "bearer");
        let list = &document["paths"]["/api/v1/cases"]["get"];
        let parameters: Vec<&str> =
            list["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert!(parameters.contains(&"status") && parameters.contains(&"before"), "{parameters:?}");
    }
}
