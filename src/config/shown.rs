//! The configuration as `GET /api/v1/config` shows it: every setting with its default filled in, as
//! JSON with the keys of the TOML file, and no secret. Redaction works on the JSON rather than per
//! field, so that a setting added later is covered by the same rules: a value under a key named
//! `secret`, `password` or `sha256` (a token's digest) is replaced, and so are the credentials of every
//! URL, as the logs redact them ([`redact_url`]: a camera's `rtsp://***@…`, the database's, the
//! broker's), and its query values (a webhook's `?access_token=***`).

use serde_json::Value;
use sharpeyes_ingest::urls::redact_url;
use url::Url;

use super::Config;

/// What a secret is replaced with.
pub const REDACTED: &str = "***";

/// Keys whose values are secrets wherever they appear.
const SECRET_KEYS: [&str; 3] = ["secret", "password", "sha256"];

/// `settings` as JSON, each number as its type writes it: through the text, so that an `f32` of 0.6
/// shows as `0.6` (`serde_json::to_value` widens it to 0.6000000238418579).
pub fn as_json(settings: &impl serde::Serialize) -> Value {
    let text = serde_json::to_string(settings).expect("settings are plain data");
    serde_json::from_str(&text).expect("serde_json reads what it writes")
}

/// `config` as JSON, secrets replaced by [`REDACTED`].
pub fn redacted(config: &Config) -> Value {
    let mut value = as_json(config);
    redact(&mut value);
    value
}

/// Replaces the secrets in `value` (any part of the configuration as JSON) by [`REDACTED`].
pub fn redact(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            for (key, field) in fields.iter_mut() {
                if SECRET_KEYS.contains(&key.as_str()) && !field.is_null() {
                    *field = Value::String(REDACTED.into());
                } else {
                    redact(field);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(text) => {
            if let Some(url) = without_credentials(text) {
                *text = url;
            }
        }
        Value::Null | Value::Bool(_) | Value::Number(_) => {}
    }
}

/// `text` with its credentials and query values replaced, when it is a URL that has either (any other
/// text, a URL template among them, is left as written).
fn without_credentials(text: &str) -> Option<String> {
    let mut url = Url::parse(text).ok().filter(Url::has_host)?;
    let has_credentials = !url.username().is_empty() || url.password().is_some();
    if !has_credentials && url.query().is_none() {
        return None;
    }
    if url.query().is_some() {
        let names: Vec<String> = url.query_pairs().map(|(name, _)| name.into_owned()).collect();
        url.query_pairs_mut().clear().extend_pairs(names.iter().map(|name| (name.as_str(), REDACTED)));
    }
    Some(redact_url(url.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reference file, which sets every key: what is shown, before redaction, reads back as the same
    /// configuration (the keys are the file's).
    #[test]
    fn what_is_shown_has_the_keys_of_the_file() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/reference.toml");
        let config = Config::parse(&std::fs::read_to_string(path).unwrap()).expect("the reference file is valid");
        let shown = serde_json::to_value(&config).unwrap();
        assert_eq!(redacted(&config)["rules"]["illegal_parking"]["min_presence"], serde_json::json!(0.6));
        let read_back: Config = serde_json::from_value(shown.clone()).expect("shown keys are the file's keys");
        assert_eq!(serde_json::to_value(&read_back).unwrap(), shown);
        assert!(redacted(&config)["cameras"].as_array().is_some_and(|cameras| !cameras.is_empty()));
    }

    #[test]
    fn urls_lose_their_password_and_query_values_only() {
        assert_eq!(
            without_credentials("rtsp://admin:hunter2@10.0.0.5:554/Streaming/101").as_deref(),
            Some("rtsp://***@10.0.0.5:554/Streaming/101")
        );
        assert_eq!(
            without_credentials("https://oapi.dingtalk.com/robot/send?access_token=abc123").as_deref(),
            Some("https://oapi.dingtalk.com/robot/send?access_token=***")
        );
        assert_eq!(without_credentials("rtsp://10.0.0.5/live"), None, "nothing to hide");
        assert_eq!(without_credentials("cam-01"), None, "not a URL");
        assert_eq!(without_credentials("models/yolo.json"), None);
    }

    #[test]
    fn secret_keys_are_replaced_at_any_depth_and_nulls_stay_null() {
        let mut value = serde_json::json!({
            "notify": {"receivers": [{"id": "hook", "secret": "s3cret", "secret_env": "HOOK_SECRET"}]},
            "auth": {"tokens": [{"name": "ops", "sha256": "ab12"}]},
            "other": {"secret": null}
        });
        redact(&mut value);
        assert_eq!(value["notify"]["receivers"][0]["secret"], REDACTED);
        assert_eq!(value["notify"]["receivers"][0]["secret_env"], "HOOK_SECRET", "an environment variable's name");
        assert_eq!(value["auth"]["tokens"][0]["sha256"], REDACTED);
        assert_eq!(value["auth"]["tokens"][0]["name"], "ops");
        assert!(value["other"]["secret"].is_null());
    }
}
