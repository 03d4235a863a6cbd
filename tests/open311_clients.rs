//! Open311 as published clients use it: `georeport` 0.3.1 (PyPI), unmodified, reads services, a
//! service definition, requests with filters and one request, in JSON and in XML, from a service with
//! `[open311] public_read` on; the XML is read with Python's standard parser and checked against
//! GeoReport's element names. The public view carries none of the notes the staff view has, its media
//! is served without a token, and every refusal is Open311's error list in the format asked for.

mod common;

use std::process::Command;

use common::*;
use reqwest::blocking::{Client, multipart};
use serde_json::Value;

const REPORTER: &str = "citizen-app-secret";
/// Inside grid cell 110105001001001 of config/grids.geojson.
const LAT: &str = "39.9100";
const LONG: &str = "116.4550";
/// An internal note an operator writes on a case; the public never reads it.
const NOTE: &str = "called the owner 张先生 on 13800000000";
const PORTAL: &str = "https://portal.example.gov";

/// POSTs a report as a multipart form; the token only in the form's `api_key`, where the spec puts it.
fn post_report(base: &str, fields: &[(&str, &str)], photo: Option<Vec<u8>>) -> (u16, Value) {
    let mut form = multipart::Form::new().text("api_key", REPORTER);
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    if let Some(bytes) = photo {
        form = form.part("media", multipart::Part::bytes(bytes).file_name("photo.jpg").mime_str("image/jpeg").unwrap());
    }
    let response = Client::new().post(format!("{base}/open311/v2/requests.json")).multipart(form).send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

/// GET without a token: the status, content type and body.
fn public_get(url: &str) -> (u16, String, Vec<u8>) {
    let response = Client::new().get(url).send().unwrap();
    let content_type =
        response.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    (response.status().as_u16(), content_type, response.bytes().unwrap().to_vec())
}

fn ids(requests: &Value) -> Vec<String> {
    requests.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap().to_owned()).collect()
}

fn id_of(posted: &Value) -> String {
    posted[0]["service_request_id"].as_str().unwrap_or_else(|| panic!("a posted request: {posted}")).to_owned()
}

#[test]
fn a_published_georeport_client_reads_the_public_view_in_json_and_xml() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let text = std::fs::read_to_string(&config).unwrap().replace("name = \"test grid\"", "name = \"永安里第一网格\"");
    let text = format!(
        "{text}\n[[grids]]\ncode = \"110105001001002\"\nname = \"永安里第二网格\"\n\
         \n[[auth.tokens]]\nname = \"citizen-app\"\nrole = \"reporter\"\nsha256 = \"{}\"\n\
         \n[cases]\ngrid_polygons = \"{}\"\n\
         \n[[departments]]\nid = \"chengguan\"\nname = \"朝阳区城管执法局\"\ncategories = [\"illegal_parking\", \"litter\", \"manhole_cover\"]\ngrids = [\"110105\"]\n\
         \n[open311]\npublic_read = true\ncors_origins = [\"{PORTAL}\"]\ncontact = \"12345\"\n",
        sha256_hex(REPORTER),
        root().join("config/grids.geojson").display()
    );
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);

    // Three reports: a photo placed by lat/long answering the parking question; litter placed only by
    // the grid cell its address names; a manhole placed by a grid code in address_id.
    let truck = std::fs::read(media("images/000000009769.jpg")).unwrap();
    let fields =
        [("lat", LAT), ("long", LONG), ("description", "pickup on the pavement"), ("attribute[vehicle]", "truck")];
    let (status, posted) = post_report(&base, &fields, Some(truck));
    assert_eq!(status, 200, "{posted}\n{}", service.log());
    let parking = id_of(&posted);
    assert_eq!(posted[0]["token"], parking.as_str(), "{posted}");
    let fields = [("service_code", "litter"), ("address_string", "建外街道永安里第二网格 3号楼南侧")];
    let (status, posted) = post_report(&base, &fields, None);
    assert_eq!(status, 200, "{posted}");
    let litter = id_of(&posted);
    let fields =
        [("service_code", "manhole_cover"), ("address_id", "110105001001001"), ("attribute[state]", "missing")];
    let (status, posted) = post_report(&base, &fields, None);
    assert_eq!(status, 200, "{posted}");
    let manhole = id_of(&posted);
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{litter}"));
    assert_eq!(case["grid"], "110105001001002", "placed by the cell its address names: {case}");
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{parking}"));
    assert_eq!(case["detail"]["attributes"]["vehicle"], "truck", "{case}");

    // Refused reports name the field, in the format asked for.
    let refusals: [(&[(&str, &str)], &str); 4] = [
        (&[("service_code", "manhole_cover"), ("address_id", "110105001001001")], "attribute[state]: required"),
        (
            &[("service_code", "illegal_parking"), ("lat", LAT), ("long", LONG), ("attribute[vehicle]", "tank")],
            "attribute[vehicle]: 'tank' is not one of",
        ),
        (
            &[("service_code", "litter"), ("address_string", "somewhere else")],
            "address_string: 'somewhere else' names no grid cell",
        ),
        (
            &[("service_code", "litter"), ("lat", LAT), ("long", LONG), ("media_url", "file:///etc/passwd")],
            "media_url:",
        ),
    ];
    for (fields, expected) in refusals {
        let (status, body) = post_report(&base, fields, None);
        assert_eq!(status, 400, "{fields:?}: {body}");
        assert!(body[0]["description"].as_str().unwrap().starts_with(expected), "{fields:?}: {body}");
    }
    let anonymous = Client::new()
        .post(format!("{base}/open311/v2/requests.xml"))
        .form(&[("service_code", "litter"), ("lat", LAT), ("long", LONG)])
        .send()
        .unwrap();
    assert_eq!(anonymous.status(), 401, "reading is public, reporting is not");
    let body = anonymous.text().unwrap();
    assert!(body.contains("<errors><error><code>401</code><description>no token: send api_key"), "{body}");

    // Staff work the cases: the parking case verified with an internal note, the litter voided.
    for (id, action) in [(&parking, "verify"), (&litter, "void")] {
        let response = Client::new()
            .post(format!("{base}/api/v1/cases/{id}/actions"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({ "action": action, "note": NOTE }))
            .send()
            .unwrap();
        assert_eq!(response.status(), 200, "{action}: {}", response.text().unwrap());
    }

    // The published client, unmodified, in JSON and in XML.
    let output = Command::new(root().join(".venv/bin/python"))
        .arg(root().join("tests/clients/georeport_client.py"))
        .args([&base, &parking])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let answers: Value = serde_json::from_slice(&output.stdout).unwrap();
    for format in ["json", "xml"] {
        let seen = &answers[format];
        let codes: Vec<&str> =
            seen["services"].as_array().unwrap().iter().map(|s| s["service_code"].as_str().unwrap()).collect();
        assert_eq!(
            codes,
            ["illegal_construction", "litter", "illegal_parking", "manhole_cover", "stacking"],
            "{format}"
        );
        let question = &seen["parking_definition"]["attributes"];
        let question = if format == "xml" { &question["attribute"] } else { &question[0] };
        assert_eq!(question["code"], "vehicle", "{format}: {seen:#}");
        assert_eq!(question["datatype"], "singlevaluelist", "{format}");
        assert!(
            seen["litter_definition"]["attributes"].as_array().is_some_and(Vec::is_empty)
                || seen["litter_definition"]["attributes"].is_null(),
            "{format}: no questions for litter: {}",
            seen["litter_definition"]
        );
        assert_eq!(ids(&seen["all"]), [manhole.clone(), litter.clone(), parking.clone()], "{format}: open,closed");
        assert_eq!(ids(&seen["open"]), [manhole.clone(), parking.clone()], "{format}: the voided case is closed");
        assert_eq!(ids(&seen["two_services"]), [manhole.clone(), parking.clone()], "{format}");
        assert_eq!(ids(&seen["by_ids"]), [parking.clone()], "{format}");
        let one = &seen["one"];
        assert_eq!(one["service_request_id"], parking.as_str(), "{format}");
        assert_eq!(one["status"], "open", "{format}");
        assert_eq!(one["status_notes"], "filed", "{format}: the public view gives the status, not the note");
        assert_eq!(one["agency_responsible"], "朝阳区城管执法局", "{format}: by name");
        assert_eq!(one["description"], "pickup on the pavement", "{format}");
        let requested = one["requested_datetime"].as_str().unwrap();
        assert!(
            requested.len() == 25 && requested.ends_with("+08:00") && !requested.contains('.'),
            "{format}: city time to the second: {requested}"
        );
        let media_url = one["media_url"].as_str().unwrap();
        assert_eq!(media_url, format!("{base}/open311/v2/media/{parking}/0.jpg"), "{format}: absolute");
        for field in ["address_id", "zipcode", "service_notice", "expected_datetime"] {
            assert!(one.get(field).is_some(), "{format}: {field} is present: {one}");
        }
        assert!(one.get("plate").is_none(), "{format}: the public view has no plate field");
    }
    assert_eq!(answers["json"]["window"], serde_json::json!([]), "start_date/end_date filter in the query");
    let elements = &answers["xml_elements"];
    let expected_roots = [
        ("discovery", "discovery"),
        ("services", "services"),
        ("definition", "service_definition"),
        ("requests", "service_requests"),
        ("request", "service_requests"),
        ("token", "service_requests"),
    ];
    for (name, root_element) in expected_roots {
        assert_eq!(elements[name]["root"], root_element, "{name}: {}", elements[name]);
        assert!(elements[name]["content_type"].as_str().unwrap().starts_with("text/xml"), "{name}");
    }
    let request_elements: Vec<&str> =
        elements["request"]["first"].as_array().unwrap().iter().map(|e| e.as_str().unwrap()).collect();
    for spec in [
        "service_request_id",
        "status",
        "status_notes",
        "service_name",
        "service_code",
        "description",
        "agency_responsible",
        "service_notice",
        "requested_datetime",
        "updated_datetime",
        "expected_datetime",
        "address",
        "address_id",
        "zipcode",
        "lat",
        "long",
        "media_url",
    ] {
        assert!(request_elements.contains(&spec), "<request> lacks <{spec}>: {request_elements:?}");
    }
    assert_eq!(elements["services"]["children"], serde_json::json!(["service"]));
    assert_eq!(elements["token"]["first"], serde_json::json!(["service_request_id", "token"]));
    assert_eq!(
        elements["discovery"]["children"],
        serde_json::json!(["changeset", "contact", "endpoints", "key_service"]),
        "{}",
        elements["discovery"]
    );

    // The public view leaks nothing the staff view has: the note is in the staff's, nowhere public.
    let open311 = format!("{base}/open311/v2");
    let staff: Value = Client::new()
        .get(format!("{open311}/requests.json?status=open,closed"))
        .bearer_auth(TOKEN)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert!(staff.to_string().contains(NOTE), "the staff view shows notes: {staff}");
    for path in [
        "requests.json?status=open,closed".to_owned(),
        "requests.xml?status=open,closed".to_owned(),
        format!("requests/{parking}.json"),
        format!("requests/{litter}.xml"),
    ] {
        let (status, _, body) = public_get(&format!("{open311}/{path}"));
        assert_eq!(status, 200, "{path}");
        let body = String::from_utf8(body).unwrap();
        for secret in [NOTE, "13800000000", "citizen-app", "e2e"] {
            assert!(!body.contains(secret), "{path} shows '{secret}': {body}");
        }
    }

    // Media: the first image without a token; no other; staff read it with a token.
    let (status, content_type, jpeg) = public_get(&format!("{open311}/media/{parking}/0.jpg"));
    assert_eq!((status, content_type.as_str()), (200, "image/jpeg"));
    assert!(image::load_from_memory(&jpeg).unwrap().width() > 0);
    let (status, content_type, _) = public_get(&format!("{open311}/media/{parking}/1.jpg"));
    assert_eq!((status, content_type.as_str()), (404, "application/json"));
    let staff_image = Client::new().get(format!("{open311}/media/{parking}/0.jpg?api_key={TOKEN}")).send().unwrap();
    assert_eq!(staff_image.status(), 200);

    // Pages, comma lists and the 90-day window.
    let page = |query: &str| -> Value {
        serde_json::from_slice(&public_get(&format!("{open311}/requests.json?{query}")).2).unwrap()
    };
    assert_eq!(ids(&page("status=open,closed&page_size=1&page=2")), [litter.clone()]);
    assert_eq!(ids(&page("service_code=litter,manhole_cover&status=closed")), [litter.clone()]);
    let (status, _, body) = public_get(&format!("{open311}/requests.json?start_date=2026-01-01&end_date=2026-06-01"));
    assert_eq!(status, 400);
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert!(body[0]["description"].as_str().unwrap().contains("more than 90 days"), "{body}");

    // Errors: Open311's list in the format asked for, naming the field.
    let (status, content_type, body) = public_get(&format!("{open311}/requests.xml?start_date=yesterday"));
    assert_eq!((status, content_type.as_str()), (400, "text/xml; charset=utf-8"));
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("<code>400</code><description>start_date: 'yesterday' is not a W3C datetime"), "{body}");
    let (status, content_type, body) = public_get(&format!("{open311}/nothing.xml"));
    assert_eq!((status, content_type.as_str()), (404, "text/xml; charset=utf-8"));
    assert!(String::from_utf8(body).unwrap().contains("<errors><error><code>404</code>"));
    let (status, _, body) = public_get(&format!("{open311}/services/graffiti.json"));
    assert_eq!(status, 404);
    assert!(String::from_utf8(body).unwrap().contains("service_code: 'graffiti' is not a service"));
    let wrong = Client::new().get(format!("{open311}/services.json?api_key=wrong")).send().unwrap();
    assert_eq!(wrong.status(), 401, "a wrong token is refused even where none is needed");

    // CORS: the configured portal may read; another origin is not told it may.
    let cors = |origin: &str| {
        let response = Client::new().get(format!("{open311}/services.json")).header("Origin", origin).send().unwrap();
        response.headers().get("access-control-allow-origin").map(|v| v.to_str().unwrap().to_owned())
    };
    assert_eq!(cors(PORTAL).as_deref(), Some(PORTAL));
    assert_eq!(cors("https://elsewhere.example"), None);
}
