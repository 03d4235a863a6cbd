//! The API needs a valid bearer token for everything but health and metrics.

mod common;

use common::*;

fn status(base: &str, path: &str, authorization: Option<&str>) -> u16 {
    let mut request = reqwest::blocking::Client::new().get(format!("{base}{path}"));
    if let Some(value) = authorization {
        request = request.header("Authorization", value);
    }
    request.send().unwrap().status().as_u16()
}

/// Every API path (with ids filled in) that needs a token.
const PROTECTED: [&str; 15] = [
    "/api/v1/cases",
    "/api/v1/cases/1",
    "/api/v1/cases/1/evidence/0",
    "/api/v1/cameras",
    "/api/v1/cameras/cam/view",
    "/api/v1/cameras/cam/frame",
    "/api/v1/me",
    "/api/v1/sensors",
    "/api/v1/grids",
    "/api/v1/map",
    "/api/v1/stream",
    "/api/v1/deliveries",
    "/api/v1/silences",
    "/api/v1/audit",
    "/api/v1/dataset",
];

#[test]
fn missing_or_wrong_tokens_are_refused_with_401() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), &[], 5.0);
    let service = start_service(&config, &base);

    for path in PROTECTED {
        assert_eq!(status(&base, path, None), 401, "{path} without a token");
        assert_eq!(status(&base, path, Some("Bearer not-the-token")), 401, "{path} with a wrong token");
        assert_eq!(status(&base, path, Some(TOKEN)), 401, "{path} without the Bearer scheme");
        assert_eq!(status(&base, path, Some(&format!("Bearer {}", sha256_hex(TOKEN)))), 401, "{path} with the digest");
    }
    let good = format!("Bearer {TOKEN}");

    // The OpenAPI document lists every path probed above, and every path it lists is a real route
    // behind the token check (health and metrics aside, which it marks as open).
    assert_eq!(status(&base, "/api/v1/openapi.json", None), 401);
    let document: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/openapi.json"))
        .header("authorization", &good)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(document["openapi"].as_str().unwrap().starts_with("3."), "{document}");
    let paths = document["paths"].as_object().unwrap();
    for probed in PROTECTED {
        let template = probed.replace("/cases/1", "/cases/{id}").replace("/evidence/0", "/evidence/{index}");
        let template = template.replace("/cameras/cam/", "/cameras/{id}/");
        assert!(paths.contains_key(&template), "{template} is missing from the OpenAPI document");
    }
    for (path, operations) in paths {
        let concrete = path.replace("{id}", "1").replace("{index}", "0").replace("{whistle}", "1");
        for (method, operation) in operations.as_object().unwrap() {
            let open =
                operation["security"].as_array().is_some_and(|s| s.iter().all(|r| r.as_object().unwrap().is_empty()));
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let answer =
                reqwest::blocking::Client::new().request(method.clone(), format!("{base}{concrete}")).send().unwrap();
            let expected = if open { 200 } else { 401 };
            assert_eq!(answer.status().as_u16(), expected, "{method} {concrete} without a token");
        }
    }
    assert_eq!(status(&base, "/api/v1/cases", Some(&good)), 200);
    assert_eq!(status(&base, "/api/v1/cameras", Some(&good)), 200);
    assert_eq!(status(&base, "/api/v1/cases/1", Some(&good)), 404, "authorised, but no such case");
    assert_eq!(status(&base, "/api/v1/cameras/cam/view", Some(&good)), 404, "authorised, but no such camera");
    assert_eq!(status(&base, "/api/v1/cases?colour=red", Some(&good)), 400, "unknown filter");
    for (query, field) in [("limit=5000", "limit"), ("grid=11a", "grid")] {
        let response = reqwest::blocking::Client::new()
            .get(format!("{base}/api/v1/cases?{query}"))
            .header("authorization", &good)
            .send()
            .unwrap();
        assert_eq!(response.status(), 400, "{query}");
        let body: serde_json::Value = response.json().unwrap();
        assert!(body["error"].as_str().unwrap().starts_with(&format!("{field}:")), "{body}");
    }
    // A body over the limit is refused before it is parsed.
    let huge = serde_json::json!({ "action": "verify", "note": "x".repeat(100 * 1024) });
    let response = reqwest::blocking::Client::new()
        .post(format!("{base}/api/v1/cases/1/actions"))
        .header("authorization", &good)
        .json(&huge)
        .send()
        .unwrap();
    assert_eq!(response.status(), 413);

    // Health and metrics stay open for probes and scrapers.
    assert_eq!(status(&base, "/healthz", None), 200);
    assert_eq!(status(&base, "/readyz", None), 200);
    assert_eq!(status(&base, "/metrics", None), 200);
    // So does the dashboard's page, which holds no data and sends a strict content security policy.
    let page = reqwest::blocking::get(format!("{base}/")).unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().starts_with("default-src 'self'"));
    assert!(page.text().unwrap().contains("/dashboard/app.js"));

    let unauthorised = reqwest::blocking::Client::new().get(format!("{base}/api/v1/cases")).send().unwrap();
    assert_eq!(unauthorised.headers()["www-authenticate"], "Bearer");
    let body: serde_json::Value = unauthorised.json().unwrap();
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    drop(service);
}
