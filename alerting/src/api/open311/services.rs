//! What the endpoint offers: `discovery`, the case categories as `services`, and each one's
//! `service definition` (the questions a report of it may answer).

use axum::extract::{Path, State};
use serde::Serialize;

use super::format::{Format, Open311Error, Reply, city_time, public_base};
use crate::{
    api::{error::ApiError, error::excerpt, state::ApiState},
    cases::taxonomy::{Answer, Question, QuestionType},
    rules::Category,
};

/// One service: a case category.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Service {
    /// The category's name (`illegal_parking`): codes alone are not unique across events and components.
    pub service_code: String,
    /// The standard Chinese name.
    pub service_name: String,
    /// Standard code, kind and urgency.
    pub description: String,
    /// Whether the service asks questions (`services/{code}` lists them).
    pub metadata: bool,
    /// Always `realtime`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The standard code and the English name.
    pub keywords: String,
    /// `event` or `component`.
    pub group: String,
}

/// A service's definition: its questions.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ServiceDefinition {
    /// The service.
    pub service_code: String,
    /// Its questions, in order.
    pub attributes: Vec<Attribute>,
}

/// One question of a service.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Attribute {
    /// Always true: the citizen answers it.
    pub variable: bool,
    /// Its code: reports send `attribute[<code>]`.
    pub code: String,
    /// `string`, `number`, `text` or `singlevaluelist`.
    #[schema(value_type = String)]
    pub datatype: QuestionType,
    /// Whether a report must answer it.
    pub required: bool,
    /// What the answer is.
    pub datatype_description: String,
    /// Its place, from 1.
    pub order: usize,
    /// The question.
    pub description: String,
    /// The allowed answers of a list.
    #[schema(value_type = Vec<Object>)]
    pub values: Vec<Answer>,
}

/// The endpoint as GeoReport's discovery describes it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Discovery {
    /// When the endpoint last changed (the service's start).
    pub changeset: String,
    /// Who answers for it.
    pub contact: String,
    /// How to get an `api_key`.
    pub key_service: String,
    /// The endpoint.
    pub endpoints: Vec<Endpoint>,
}

/// One endpoint in discovery.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Endpoint {
    /// GeoReport v2.
    pub specification: &'static str,
    /// Its absolute URL.
    pub url: String,
    /// When it last changed.
    pub changeset: String,
    /// `production`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The formats it answers in.
    pub formats: [&'static str; 2],
}

fn service_of(category: Category, state: &ApiState) -> Service {
    let entry = state.policy.taxonomy().entry(category);
    let kind = serde_json::to_value(entry.kind).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    Service {
        service_code: category.as_str().into(),
        service_name: entry.name.clone(),
        description: format!("{} {} ({kind}), {} by default", entry.code, entry.name, entry.urgency.as_str()),
        metadata: !entry.questions.is_empty(),
        kind: "realtime",
        keywords: format!("{}, {}", entry.code, category.as_str().replace('_', " ")),
        group: kind,
    }
}

fn attribute_of(order: usize, question: &Question) -> Attribute {
    Attribute {
        variable: true,
        code: question.code.clone(),
        datatype: question.datatype,
        required: question.required,
        datatype_description: match question.datatype {
            QuestionType::Number => "a number".into(),
            QuestionType::Singlevaluelist => "one of the values' keys".into(),
            QuestionType::String | QuestionType::Text => String::new(),
        },
        order: order + 1,
        description: question.description.clone(),
        values: question.values.clone(),
    }
}

/// `GET /open311/v2/services.{json,xml}`: every case category.
#[utoipa::path(get, path = "/open311/v2/services.json", tag = "open311", responses((status = 200, body = Vec<Service>)))]
pub async fn services(State(state): State<ApiState>, format: Format) -> Reply {
    let services: Vec<Service> = Category::ALL.into_iter().map(|category| service_of(category, &state)).collect();
    Reply::new(format, "services", &services)
}

/// `GET /open311/v2/services/{code}.{json,xml}`: a service's questions (an empty list where it asks none).
#[utoipa::path(get, path = "/open311/v2/services/{code}.json", tag = "open311", params(("code" = String, Path, description = "service code")), responses((status = 200, body = ServiceDefinition), (status = 404, description = "no such service")))]
pub async fn definition(State(state): State<ApiState>, Path(file): Path<String>) -> Result<Reply, Open311Error> {
    let (code, format) = Format::of_file(&file)?;
    let category = Category::parse(code).ok_or_else(|| {
        Open311Error::new(
            format,
            ApiError::NotFound(format!("service_code: '{}' is not a service (see services.json)", excerpt(code))),
        )
    })?;
    let entry = state.policy.taxonomy().entry(category);
    let definition = ServiceDefinition {
        service_code: category.as_str().into(),
        attributes: entry.questions.iter().enumerate().map(|(order, question)| attribute_of(order, question)).collect(),
    };
    Ok(Reply::new(format, "service_definition", &definition))
}

/// `GET /open311/v2/discovery.{json,xml}`: the endpoint, its formats and whom to ask.
#[utoipa::path(get, path = "/open311/v2/discovery.json", tag = "open311", responses((status = 200, body = Discovery)))]
pub async fn discovery(State(state): State<ApiState>, format: Format, headers: axum::http::HeaderMap) -> Reply {
    let changeset = city_time(state.open311.started_at, state.policy.calendar().utc_offset());
    let config = &state.open311.config;
    let discovery = Discovery {
        changeset: changeset.clone(),
        contact: config.contact.clone(),
        key_service: config.key_service.clone(),
        endpoints: vec![Endpoint {
            specification: "http://wiki.open311.org/GeoReport_v2",
            url: format!("{}/open311/v2", public_base(&state, &headers)),
            changeset,
            kind: "production",
            formats: ["application/json", "text/xml"],
        }],
    };
    Reply::new(format, "discovery", &discovery)
}
