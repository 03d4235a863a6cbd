//! How Open311 answers are written: JSON or XML as the path's extension asks (`services.xml`), errors
//! as Open311's list (`[{"code": 400, "description": ...}]`, `<errors><error>...`), and times in city
//! time to the second (`2026-11-30T12:19:12+08:00`), which every GeoReport client parses.

use axum::{
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use serde_json::Value;

use crate::api::{
    error::{ApiError, excerpt},
    state::ApiState,
};

/// The format an answer is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `.json`: `application/json`.
    Json,
    /// `.xml`: `text/xml`, GeoReport's XML.
    Xml,
}

impl Format {
    /// The format a request's path asks for: XML for `.xml`, else JSON.
    pub fn of_path(path: &str) -> Self {
        if path.ends_with(".xml") { Self::Xml } else { Self::Json }
    }

    /// Splits `file` (`123.json`, `illegal_parking.xml`) into its name and format; `None` without
    /// either extension.
    pub fn split(file: &str) -> Option<(&str, Self)> {
        if let Some(name) = file.strip_suffix(".json") {
            Some((name, Self::Json))
        } else {
            file.strip_suffix(".xml").map(|name| (name, Self::Xml))
        }
    }

    /// The format of `file`, or a 404 in JSON naming the extensions served.
    pub fn of_file(file: &str) -> Result<(&str, Self), Open311Error> {
        Self::split(file).ok_or_else(|| Open311Error {
            error: ApiError::NotFound(format!("no '{}': ask for <name>.json or <name>.xml", excerpt(file))),
            format: Self::Json,
        })
    }
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Format {
    type Rejection = std::convert::Infallible;

    /// The format the request's path asks for.
    async fn from_request_parts(parts: &mut axum::http::request::Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self::of_path(parts.uri.path()))
    }
}

/// An answer: `value` as JSON, or as XML under the element `root` (an array's items under its
/// singular: `services` → `service`, `service_requests` → `request`).
#[derive(Debug)]
pub struct Reply {
    format: Format,
    root: &'static str,
    value: Value,
}

impl Reply {
    /// `body` in `format` with the XML root element `root`.
    pub fn new(format: Format, root: &'static str, body: &impl Serialize) -> Self {
        Self { format, root, value: serde_json::to_value(body).unwrap_or(Value::Null) }
    }
}

impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        match self.format {
            Format::Json => axum::Json(self.value).into_response(),
            Format::Xml => {
                ([(header::CONTENT_TYPE, "text/xml; charset=utf-8")], to_xml(self.root, &self.value)).into_response()
            }
        }
    }
}

/// A refusal in Open311's error list, in the format asked for, with the status (and headers such as
/// `Retry-After`) of the [`ApiError`] it carries.
#[derive(Debug)]
pub struct Open311Error {
    /// What went wrong.
    pub error: ApiError,
    /// How to write it.
    pub format: Format,
}

impl Open311Error {
    /// `error`, to be written as JSON.
    pub fn json(error: impl Into<ApiError>) -> Self {
        Self { error: error.into(), format: Format::Json }
    }

    /// `error` in `format`.
    pub fn new(format: Format, error: impl Into<ApiError>) -> Self {
        Self { error: error.into(), format }
    }
}

impl<E: Into<ApiError>> From<E> for Open311Error {
    fn from(error: E) -> Self {
        Self::json(error)
    }
}

impl IntoResponse for Open311Error {
    fn into_response(self) -> Response {
        let description = self.error.to_string();
        let response = self.error.into_response();
        let (mut parts, _) = response.into_parts();
        let (content_type, body) = error_body(self.format, parts.status, &description);
        parts.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        parts.headers.remove(header::CONTENT_LENGTH);
        Response::from_parts(parts, axum::body::Body::from(body))
    }
}

/// The content type and body of an Open311 error list holding one error.
pub fn error_body(format: Format, status: StatusCode, description: &str) -> (&'static str, String) {
    let errors = serde_json::json!([{ "code": status.as_u16(), "description": description }]);
    match format {
        Format::Json => ("application/json", errors.to_string()),
        Format::Xml => ("text/xml; charset=utf-8", to_xml("errors", &errors)),
    }
}

/// `value` as GeoReport XML under `root`.
pub fn to_xml(root: &str, value: &Value) -> String {
    let mut xml = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    write_element(&mut xml, root, value);
    xml
}

/// The element name of one item of the list `name`.
fn singular(name: &str) -> &str {
    match name {
        "service_requests" => "request",
        "errors" => "error",
        other => other.strip_suffix('s').unwrap_or(other),
    }
}

fn write_element(xml: &mut String, name: &str, value: &Value) {
    match value {
        Value::Null => {
            xml.push_str(&format!("<{name}/>"));
        }
        Value::Array(items) => {
            xml.push_str(&format!("<{name}>"));
            for item in items {
                write_element(xml, singular(name), item);
            }
            xml.push_str(&format!("</{name}>"));
        }
        Value::Object(fields) => {
            xml.push_str(&format!("<{name}>"));
            for (key, field) in fields {
                write_element(xml, key, field);
            }
            xml.push_str(&format!("</{name}>"));
        }
        Value::String(text) => {
            xml.push_str(&format!("<{name}>{}</{name}>", quick_xml::escape::partial_escape(text.as_str())));
        }
        Value::Bool(_) | Value::Number(_) => {
            xml.push_str(&format!("<{name}>{value}</{name}>"));
        }
    }
}

/// The address clients reach the service at: `base_url`, else `http://` and the `Host` header.
pub fn public_base(state: &ApiState, headers: &HeaderMap) -> String {
    if let Some(base) = &state.open311.config.base_url {
        return base.trim_end_matches('/').to_owned();
    }
    let host = headers
        .get(header::HOST)
        .and_then(|value| value.to_str().ok())
        .filter(|host| !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b)))
        .unwrap_or("localhost");
    format!("http://{host}")
}

/// `at` in city time to the second, as FixMyStreet writes Open311 times.
pub fn city_time(at: DateTime<Utc>, offset: FixedOffset) -> String {
    at.with_timezone(&offset).format("%Y-%m-%dT%H:%M:%S%:z").to_string()
}

/// A W3C datetime of a query (`2026-11-30T12:00:00+08:00`, `...Z`), or a date (its start in city
/// time); the error names `field`.
pub fn parse_time(field: &str, text: &str, offset: FixedOffset) -> Result<DateTime<Utc>, ApiError> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&Utc));
    }
    NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|date| date.and_hms_opt(0, 0, 0)?.and_local_timezone(offset).single())
        .map(|at| at.with_timezone(&Utc))
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "{field}: '{}' is not a W3C datetime like 2026-11-30T12:00:00+08:00 or a date like 2026-11-30",
                excerpt(text)
            ))
        })
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    #[test]
    fn lists_nest_under_their_singular_and_text_is_escaped() {
        let value = serde_json::json!([{
            "service_code": "a<b",
            "metadata": true,
            "expected_datetime": null,
            "attributes": [{ "values": [{ "key": "car", "name": "小汽车" }] }],
        }]);
        assert_eq!(
            to_xml("services", &value),
            "<?xml version=\"1.0\" encoding=\"utf-8\"?><services><service><attributes><attribute><values>\
             <value><key>car</key><name>小汽车</name></value></values></attribute></attributes>\
             <expected_datetime/><metadata>true</metadata><service_code>a&lt;b</service_code></service></services>"
        );
        assert!(
            to_xml("service_requests", &serde_json::json!([{}]))
                .ends_with("<service_requests><request></request></service_requests>")
        );
    }

    #[test]
    fn times_are_city_time_to_the_second_and_queries_take_dates_too() {
        let offset = FixedOffset::east_opt(8 * 3600).unwrap();
        let at = DateTime::parse_from_rfc3339("2026-11-30T04:19:12.123456789Z").unwrap().with_timezone(&Utc);
        assert_eq!(city_time(at, offset), "2026-11-30T12:19:12+08:00");
        assert_eq!(
            parse_time("start_date", "2026-11-30T12:19:12+08:00", offset).unwrap(),
            at.with_nanosecond(0).unwrap()
        );
        assert_eq!(
            city_time(parse_time("start_date", "2026-11-30", offset).unwrap(), offset),
            "2026-11-30T00:00:00+08:00"
        );
        let refused = parse_time("end_date", "yesterday", offset).unwrap_err().to_string();
        assert!(refused.starts_with("end_date: 'yesterday' is not a W3C datetime"), "{refused}");
    }
}
