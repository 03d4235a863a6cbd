//! Open311 GeoReport v2: categories as services, cases as requests, and citizen reports with a
//! photo that the real detector looks at to suggest the category; the case's source is `citizen`.

mod common;

use std::io::Cursor;

use common::*;
use reqwest::blocking::{Client, multipart};
use serde_json::Value;

const REPORTER: &str = "citizen-app-secret";
const VIEWER: &str = "viewer-secret";
/// Inside grid cell 110105001001001 of config/grids.geojson.
const LAT: &str = "39.9100";
const LONG: &str = "116.4550";

fn post(base: &str, token: &str, form: multipart::Form) -> (u16, Value) {
    let response = Client::new()
        .post(format!("{base}/open311/v2/requests.json"))
        .bearer_auth(token)
        .multipart(form)
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

fn report(photo: Option<Vec<u8>>, fields: &[(&str, &str)]) -> multipart::Form {
    let mut form = multipart::Form::new();
    for (name, value) in fields {
        form = form.text(name.to_string(), value.to_string());
    }
    if let Some(bytes) = photo {
        form = form.part("media", multipart::Part::bytes(bytes).file_name("photo.jpg").mime_str("image/jpeg").unwrap());
    }
    form
}

/// Announces an 11 MiB multipart upload, sends its first part and reads the status the service answers
/// with (it answers, and closes, without waiting for the rest).
fn announce_oversized_upload(base: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(base.trim_start_matches("http://")).unwrap();
    let length = 11 * 1024 * 1024;
    let head = format!(
        "POST /open311/v2/requests.json HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {REPORTER}\r\n\
         Content-Type: multipart/form-data; boundary=XX\r\nContent-Length: {length}\r\n\r\n\
         --XX\r\nContent-Disposition: form-data; name=\"media\"; filename=\"a.jpg\"\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(&vec![0u8; 64 * 1024]);
    let mut answer = [0u8; 12];
    stream.read_exact(&mut answer).unwrap();
    String::from_utf8_lossy(&answer[9..12]).parse().unwrap()
}

/// GET as the viewer, the JSON answer.
fn read(base: &str, path: &str) -> Value {
    Client::new().get(format!("{base}{path}")).bearer_auth(VIEWER).send().unwrap().json().unwrap()
}

fn open311_error(body: &Value) -> &str {
    body[0]["description"].as_str().unwrap_or_else(|| panic!("an Open311 error list: {body}"))
}

#[test]
fn citizens_report_with_a_photo_and_cases_read_as_service_requests() {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[grids]]\ncode = \"110105001001002\"\nname = \"second\"\n\
         \n[[auth.tokens]]\nname = \"citizen-app\"\nrole = \"reporter\"\nsha256 = \"{}\"\n\
         \n[[auth.tokens]]\nname = \"wall\"\nrole = \"viewer\"\nsha256 = \"{}\"\n\
         \n[cases]\ngrid_polygons = \"{}\"\n",
        sha256_hex(REPORTER),
        sha256_hex(VIEWER),
        root().join("config/grids.geojson").display()
    ));
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);

    // Services: every category, by name, with its standard code; api_key works as Open311 has it.
    let services: Value =
        reqwest::blocking::get(format!("{base}/open311/v2/services.json?api_key={VIEWER}")).unwrap().json().unwrap();
    let codes: Vec<&str> = services.as_array().unwrap().iter().map(|s| s["service_code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["illegal_construction", "litter", "illegal_parking", "manhole_cover", "stacking"]);
    let parking = &services[2];
    assert_eq!(parking["service_name"], "机动车乱停放");
    assert!(parking["description"].as_str().unwrap().starts_with("0505"), "{parking}");
    let refused = reqwest::blocking::get(format!("{base}/open311/v2/services.json")).unwrap();
    assert_eq!(refused.status(), 401);
    assert!(
        open311_error(&refused.json().unwrap())
            .starts_with("no token: send api_key (in the query, or in the form of a POST) or Authorization: Bearer"),
        "without public_read every read takes a token, and the refusal names both ways to send one"
    );

    // A photo of a parked truck, no category: the detector suggests illegal parking.
    let truck = std::fs::read(media("images/000000009769.jpg")).unwrap();
    let fields =
        [("lat", LAT), ("long", LONG), ("description", "pickup blocking the lane"), ("address_string", "永安里 1")];
    let (status, posted) = post(&base, REPORTER, report(Some(truck.clone()), &fields));
    assert_eq!(status, 200, "{posted}\n{}", service.log());
    assert_eq!(posted[0]["suggested_service_code"], "illegal_parking", "{posted}");
    assert!(posted[0]["service_notice"].as_str().unwrap().contains("truck"), "{posted}");
    let first: i64 = posted[0]["service_request_id"].as_str().unwrap().parse().unwrap();

    let (_, case) = get_json(&base, &format!("/api/v1/cases/{first}"));
    assert_eq!(case["source"], "citizen");
    assert_eq!(case["category"], "illegal_parking");
    assert_eq!(case["code"], "0505");
    assert_eq!(case["status"], "reported", "an operator verifies citizen reports");
    assert_eq!(case["grid"], "110105001001001", "placed by the grid polygons");
    assert_eq!(case["device"], "citizen-app");
    assert_eq!(case["objects"][0]["class"], "truck");
    assert_eq!(case["detail"]["description"], "pickup blocking the lane");
    assert_eq!(case["evidence"].as_array().unwrap().len(), 1);
    let (status, jpeg) = get_bytes(&base, &format!("/api/v1/cases/{first}/evidence/0"));
    assert_eq!(status, 200);
    assert_eq!(image::load_from_memory(&jpeg).unwrap().width(), 640, "the photo, kept at its size");

    // The same problem reported again nearby: linked as a duplicate of the first.
    let (status, again) = post(&base, REPORTER, report(Some(truck), &[("lat", LAT), ("long", LONG)]));
    assert_eq!(status, 200, "{again}");
    let second: i64 = again[0]["service_request_id"].as_str().unwrap().parse().unwrap();
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{second}"));
    assert_eq!(case["duplicate_of"], first, "{case:#}");

    // No photo: the citizen names the service, in the other cell by its grid code (URL-encoded form).
    let response = Client::new()
        .post(format!("{base}/open311/v2/requests.json?api_key={REPORTER}"))
        .form(&[("service_code", "litter"), ("lat", "39.9100"), ("long", "116.4650"), ("description", "bags")])
        .send()
        .unwrap();
    assert_eq!(response.status(), 200);
    let posted: Value = response.json().unwrap();
    assert_eq!(posted[0]["service_notice"], "no photo");
    let third: i64 = posted[0]["service_request_id"].as_str().unwrap().parse().unwrap();
    let (_, case) = get_json(&base, &format!("/api/v1/cases/{third}"));
    assert_eq!((case["category"].as_str(), case["grid"].as_str()), (Some("litter"), Some("110105001001002")));

    // Bad input: named, in Open311's error format; nothing filed.
    let blank = {
        let mut png = Vec::new();
        image::RgbImage::new(64, 48).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        png
    };
    let huge = {
        let mut png = Vec::new();
        image::GrayImage::new(9000, 8).write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png).unwrap();
        png
    };
    let cases: [(&str, multipart::Form, u16, &str); 7] = [
        (
            "a viewer",
            report(None, &[("service_code", "litter"), ("lat", LAT), ("long", LONG)]),
            403,
            "a viewer may not",
        ),
        ("no latitude", report(None, &[("service_code", "litter"), ("long", LONG)]), 400, "lat: required"),
        (
            "a bad service",
            report(None, &[("service_code", "graffiti"), ("lat", LAT), ("long", LONG)]),
            400,
            "service_code: 'graffiti'",
        ),
        (
            "outside every cell",
            report(None, &[("service_code", "litter"), ("lat", "40.5"), ("long", LONG)]),
            400,
            "lat/long:",
        ),
        (
            "not an image",
            report(Some(b"hello".to_vec()), &[("lat", LAT), ("long", LONG)]),
            400,
            "media: not a JPEG or PNG",
        ),
        (
            "nothing known in the photo",
            report(Some(blank), &[("lat", LAT), ("long", LONG)]),
            400,
            "service_code: required",
        ),
        (
            "a photo over 8192 pixels wide",
            report(Some(huge), &[("lat", LAT), ("long", LONG)]),
            413,
            "media: the image is 9000x8: more than 8192 pixels on a side",
        ),
    ];
    for (what, form, expected, message) in cases {
        let token = if what == "a viewer" { VIEWER } else { REPORTER };
        let (status, body) = post(&base, token, form);
        assert_eq!(status, expected, "{what}: {body}");
        assert!(open311_error(&body).starts_with(message), "{what}: {body}");
    }
    assert_eq!(announce_oversized_upload(&base), 413, "a body over 10 MiB is refused before it is read");
    let (_, all) = get_json(&base, "/api/v1/cases");
    assert_eq!(all.as_array().unwrap().len(), 3, "refused reports file nothing");

    // Cases as service requests.
    let list: Value = read(&base, "/open311/v2/requests.json?status=open&service_code=illegal_parking");
    let ids: Vec<&str> = list.as_array().unwrap().iter().map(|r| r["service_request_id"].as_str().unwrap()).collect();
    assert_eq!(ids, [second.to_string(), first.to_string()]);
    let one: Value = read(&base, &format!("/open311/v2/requests/{first}.json"));
    let request = &one[0];
    assert_eq!(request["status"], "open");
    assert_eq!(request["service_name"], "机动车乱停放");
    assert_eq!(request["address"], "永安里 1");
    assert_eq!(request["lat"], 39.91);
    assert_eq!(request["media_url"], format!("{base}/open311/v2/media/{first}/0.jpg"));
    let (status, jpeg) = get_bytes(&base, &format!("/open311/v2/media/{first}/0.jpg"));
    assert_eq!(status, 200, "staff read the media link with their token");
    assert_eq!(image::load_from_memory(&jpeg).unwrap().width(), 640);
    let anonymous = reqwest::blocking::get(format!("{base}/open311/v2/media/{first}/0.jpg")).unwrap();
    assert_eq!(anonymous.status(), 401, "without public_read media takes a token too");
    assert_eq!(request["source"], "citizen");
    let closed: Value = read(&base, "/open311/v2/requests.json?status=closed");
    assert_eq!(closed, serde_json::json!([]));
    let bad = Client::new()
        .get(format!("{base}/open311/v2/requests.json?status=pending"))
        .bearer_auth(VIEWER)
        .send()
        .unwrap();
    assert_eq!(bad.status(), 400);
}
