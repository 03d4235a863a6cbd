//! Hostile and careless input against the real binary: concurrent actors racing on the same cases
//! (every action applied exactly once, the rest refused by the workflow, none a server error), matchers
//! that would silence everything, a hand-over to someone who cannot own a case, a whistle calling a
//! department twice, uncapped id lists, reports into grids that do not exist, oversized text — each
//! refused with a 400 that names the field and quotes at most a short prefix of the input.

mod common;

use std::collections::HashMap;

use common::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};

const ROLES: [&str; 5] = ["reporter", "operator", "dispatcher", "handler", "viewer"];
const CASES: usize = 5;
const ACTORS: usize = 20;

fn secret(role: &str) -> String {
    format!("{role}-secret")
}

fn start() -> (Running, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let mut text = std::fs::read_to_string(&config).unwrap();
    for role in ROLES {
        text.push_str(&format!(
            "\n[[auth.tokens]]\nname = \"{role}-desk\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            sha256_hex(&secret(role))
        ));
    }
    text.push_str(
        "\n[[departments]]\nid = \"sanitation\"\nname = \"sanitation office\"\ncategories = [\"litter\"]\n\
         \n[[departments]]\nid = \"roads\"\nname = \"roads office\"\ncategories = [\"litter\"]\n",
    );
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);
    (service, base, dir)
}

fn post_json(base: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let response = Client::new().post(format!("{base}{path}")).bearer_auth(token).json(body).send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

/// A citizen's report of litter in the test grid cell, by its code; returns the status and body.
fn report(base: &str, fields: &[(&str, &str)]) -> (u16, Value) {
    let mut form = vec![("service_code", "litter"), ("lat", "10.0"), ("long", "10.0"), ("grid", "110105001001001")];
    form.retain(|(name, _)| !fields.iter().any(|(given, _)| given == name));
    form.extend_from_slice(fields);
    let response = Client::new()
        .post(format!("{base}/open311/v2/requests.json"))
        .bearer_auth(secret("reporter"))
        .form(&form)
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

fn error_of(body: &Value) -> String {
    body["error"].as_str().or_else(|| body[0]["description"].as_str()).unwrap_or_default().to_owned()
}

#[test]
fn concurrent_actors_apply_each_step_once_and_never_see_a_server_error() {
    let (service, base, _dir) = start();
    let cases: Vec<i64> = (0..CASES)
        .map(|_| {
            let (status, posted) = report(&base, &[]);
            assert_eq!(status, 200, "{posted}\n{}", service.log());
            posted[0]["service_request_id"].as_str().unwrap().parse().unwrap()
        })
        .collect();

    // Twenty actors at once, each taking every step of its role on every case: operators verify,
    // dispatchers dispatch and call a department, handlers accept.
    let answers: Vec<(String, i64, u16)> = std::thread::scope(|scope| {
        let actors: Vec<_> = (0..ACTORS)
            .map(|actor| {
                let (base, cases) = (&base, &cases);
                scope.spawn(move || {
                    let role = ["operator", "dispatcher", "handler", "dispatcher"][actor % 4];
                    let mut answers = Vec::new();
                    for &case in cases {
                        let steps: Vec<(&str, Value)> = match role {
                            "operator" => vec![("actions", json!({ "action": "verify" }))],
                            "dispatcher" => vec![
                                ("actions", json!({ "action": "dispatch" })),
                                ("whistles", json!({ "level": "ordinary", "departments": ["sanitation"] })),
                            ],
                            _ => vec![("actions", json!({ "action": "accept" }))],
                        };
                        for (path, body) in steps {
                            let (status, answer) =
                                post_json(base, &format!("/api/v1/cases/{case}/{path}"), &secret(role), &body);
                            assert!(status == 200 || status == 409, "{role} {body} on case {case}: {status} {answer}");
                            let name = body["action"].as_str().unwrap_or("whistle").to_owned();
                            answers.push((name, case, status));
                        }
                    }
                    answers
                })
            })
            .collect();
        actors.into_iter().flat_map(|actor| actor.join().unwrap()).collect()
    });

    // Per case: one verify, one dispatch, and (this run's order permitting) one accept applied; every
    // whistle applied (a department may be called again by another dispatcher); the timeline agrees.
    let mut applied: HashMap<(String, i64), usize> = HashMap::new();
    for (step, case, status) in &answers {
        if *status == 200 {
            *applied.entry((step.clone(), *case)).or_default() += 1;
        }
    }
    for &case in &cases {
        assert_eq!(applied.get(&("verify".into(), case)), Some(&1), "case {case}: {answers:?}");
        assert_eq!(applied.get(&("dispatch".into(), case)), Some(&1), "case {case}");
        assert!(applied.get(&("accept".into(), case)).copied().unwrap_or(0) <= 1, "case {case}");
        let (_, detail) = get_json(&base, &format!("/api/v1/cases/{case}"));
        let timeline: Vec<&str> =
            detail["events"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
        for step in ["verify", "dispatch", "accept", "whistle"] {
            let taken = applied.get(&(step.to_owned(), case)).copied().unwrap_or(0);
            assert_eq!(timeline.iter().filter(|s| **s == step).count(), taken, "case {case}: {timeline:?}");
        }
    }
    assert!(!service.log().contains("API request failed"), "{}", service.log());
}

#[test]
fn careless_and_hostile_requests_are_refused_naming_the_field() {
    let (_service, base, _dir) = start();
    let (status, posted) = report(&base, &[]);
    assert_eq!(status, 200, "{posted}");
    let case: i64 = posted[0]["service_request_id"].as_str().unwrap().parse().unwrap();

    // A silence whose empty grid prefix would mute every grid.
    let silence = json!({ "matchers": { "grids": [""] }, "ends_at": "2099-01-01T00:00:00Z", "comment": "x" });
    let (status, body) = post_json(&base, "/api/v1/silences", &secret("operator"), &silence);
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).starts_with("matchers.grids[0]: empty"), "{body}");

    // A hand-over to a viewer, who could never acknowledge the case; a huge name is not echoed.
    assert_eq!(post_json(&base, &format!("/api/v1/cases/{case}/acknowledge"), &secret("operator"), &json!({})).0, 200);
    let to_viewer = json!({ "to": "viewer-desk" });
    let (status, body) = post_json(&base, &format!("/api/v1/cases/{case}/hand_over"), &secret("operator"), &to_viewer);
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("is a viewer"), "{body}");
    let to_nobody = json!({ "to": "x".repeat(50_000) });
    let (status, body) = post_json(&base, &format!("/api/v1/cases/{case}/hand_over"), &secret("operator"), &to_nobody);
    assert_eq!(status, 400);
    assert!(error_of(&body).starts_with("to: 'xxx") && error_of(&body).len() < 200, "{} bytes", error_of(&body).len());

    // A whistle calling one department twice.
    let twice = json!({ "level": "ordinary", "departments": ["sanitation", "roads", "sanitation"] });
    let (status, body) = post_json(&base, &format!("/api/v1/cases/{case}/whistles"), &secret("dispatcher"), &twice);
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), "departments[2]: 'sanitation' is listed twice");

    // Id lists: more than 200 different ids refused; the same id many times read once.
    let many: Vec<String> = (1..=201).map(|id| id.to_string()).collect();
    let read = |query: &str| {
        let response =
            Client::new().get(format!("{base}/open311/v2/requests.json?{query}")).bearer_auth(TOKEN).send().unwrap();
        (response.status().as_u16(), response.json::<Value>().unwrap_or(Value::Null))
    };
    let (status, body) = read(&format!("service_request_id={}", many.join(",")));
    assert_eq!(status, 400, "{body}");
    assert!(error_of(&body).contains("more than 200"), "{body}");
    let (status, body) = read(&format!("service_request_id={}", vec![case.to_string(); 300].join(",")));
    assert_eq!((status, body.as_array().map(Vec::len)), (200, Some(1)), "{body}");

    // A report into a grid cell nobody configured, and text over its limit.
    let (status, body) = report(&base, &[("grid", "999999999999999")]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), "grid: '999999999999999' is not a configured grid cell");
    let address = "永".repeat(200);
    let (status, body) = report(&base, &[("address_string", &address)]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), "address_string: longer than 500 bytes");
    let (status, body) = report(&base, &[("first_name", &"a".repeat(10_000))]);
    assert_eq!(status, 400, "{body}");
    assert_eq!(error_of(&body), "first_name: longer than 200 bytes");
    let (_, cases) = get_json(&base, "/api/v1/cases");
    assert_eq!(cases.as_array().unwrap().len(), 1, "nothing refused was filed");

    // The scheme of Authorization is case-insensitive; every answer forbids content sniffing.
    let lowercase =
        Client::new().get(format!("{base}/api/v1/cases")).header("authorization", format!("bearer {TOKEN}"));
    let response = lowercase.send().unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let refused = Client::new().get(format!("{base}/api/v1/cases")).send().unwrap();
    assert_eq!(
        (refused.status().as_u16(), &refused.headers()["x-content-type-options"]),
        (401, &"nosniff".parse().unwrap())
    );
}

/// The service's peak resident memory so far, in MB (`VmHWM`).
fn peak_rss_mb(service: &Running) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", service.child.id())).unwrap();
    let kb: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb / 1024.0
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    image::RgbImage::new(width, height)
        .write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

fn upload(base: &str, photo: Vec<u8>) -> (u16, Value) {
    let form = reqwest::blocking::multipart::Form::new()
        .text("lat", "10.0")
        .text("long", "10.0")
        .text("grid", "110105001001001")
        .text("service_code", "litter")
        .part(
            "media",
            reqwest::blocking::multipart::Part::bytes(photo).file_name("p.png").mime_str("image/png").unwrap(),
        );
    let response = Client::new()
        .post(format!("{base}/open311/v2/requests.json"))
        .bearer_auth(secret("reporter"))
        .multipart(form)
        .timeout(std::time::Duration::from_secs(120))
        .send()
        .unwrap();
    (response.status().as_u16(), response.json().unwrap_or(Value::Null))
}

/// Decompression amplification: a tiny PNG declaring 8192×8192 is refused from its header; six
/// worst-case photos the budget allows (7680×5200, 40 MP) uploaded at once are decoded two at a time,
/// so the service's peak memory stays bounded.
#[test]
fn photo_decodes_are_bounded_in_pixels_and_in_number() {
    let (service, base, _dir) = start();
    let bomb = png(8192, 8192);
    let (status, body) = upload(&base, bomb);
    assert_eq!(status, 413, "{body}");
    assert!(error_of(&body).contains("8192x8192"), "{body}");

    let before = peak_rss_mb(&service);
    let worst = png(7680, 5200);
    let answers: Vec<u16> = std::thread::scope(|scope| {
        let uploads: Vec<_> = (0..6).map(|_| scope.spawn(|| upload(&base, worst.clone()).0)).collect();
        uploads.into_iter().map(|upload| upload.join().unwrap()).collect()
    });
    assert_eq!(answers, [200; 6], "{}", service.log());
    // Evidence is not kept in browser caches (a shared desk), and never sniffed.
    let (_, cases) = get_json(&base, "/api/v1/cases");
    let id = cases[0]["id"].as_i64().unwrap();
    let evidence = Client::new().get(format!("{base}/api/v1/cases/{id}/evidence/0")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(evidence.status().as_u16(), 200);
    assert_eq!(evidence.headers()["cache-control"], "no-store");
    assert_eq!(evidence.headers()["x-content-type-options"], "nosniff");
    let peak = peak_rss_mb(&service);
    println!("peak RSS: {before:.0} MB before, {peak:.0} MB after six concurrent 40 MP photos");
    assert!(peak < 1000.0, "peak RSS {peak:.0} MB (from {before:.0} MB)");
}

/// Reads from `socket` until the service closes it (true) or `within` passes (false).
fn closed_within(mut socket: std::net::TcpStream, within: std::time::Duration) -> bool {
    use std::io::Read;
    socket.set_read_timeout(Some(within)).unwrap();
    let mut bytes = Vec::new();
    socket.read_to_end(&mut bytes).is_ok()
}

/// Slow clients and guessers against the real binary: a socket that sends nothing and one that
/// dribbles its headers are closed by the header timeout, an idle kept-alive one by the idle timeout;
/// a token holds at most its cap of event streams; an address that guessed too many tokens is refused
/// even with a good one; a path or query the framework cannot parse, an unknown route and a wrong
/// method are answered in the API's JSON (Open311's list under /open311/).
#[test]
fn slow_clients_stream_hoarders_and_guessers_are_cut_off() {
    use std::{io::Write, net::TcpStream, time::Duration};
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = write_config(dir.path(), &[], 300.0);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "failed_logins_per_minute = 100000\n",
        "failed_logins_per_minute = 5\nheader_timeout_s = 1.0\nidle_timeout_s = 2.0\nstreams_per_token = 2\n",
    );
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);
    let address = base.trim_start_matches("http://").to_owned();

    // Silent, dribbling and idle sockets are closed; none of them is ever answered 200.
    let silent = TcpStream::connect(&address).unwrap();
    let dribbling = TcpStream::connect(&address).unwrap();
    let dribbler = dribbling.try_clone().unwrap();
    let dribble = std::thread::spawn(move || {
        let mut writer = dribbler;
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n" {
            if writer.write_all(&[*byte]).is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(300));
        }
    });
    // Headers complete, then a body announced that never comes: idle, not slow headers.
    let mut idle = TcpStream::connect(&address).unwrap();
    let post = format!(
        "POST /api/v1/silences HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{"
    );
    idle.write_all(post.as_bytes()).unwrap();
    assert!(closed_within(silent, Duration::from_secs(5)), "a silent socket stays open");
    assert!(closed_within(dribbling.try_clone().unwrap(), Duration::from_secs(5)), "a dribbling socket stays open");
    assert!(closed_within(idle, Duration::from_secs(8)), "an idle socket stays open");
    dribbling.shutdown(std::net::Shutdown::Both).ok();
    dribble.join().unwrap();
    let metrics = String::from_utf8(get_bytes(&base, "/metrics").1).unwrap();
    assert!(metric(&metrics, "sharpeyes_http_connections_timed_out_total{timeout=\"header\"}") >= 2.0, "{metrics}");
    assert!(metric(&metrics, "sharpeyes_http_connections_timed_out_total{timeout=\"idle\"}") >= 1.0, "{metrics}");

    // Event streams: two per token, a third refused naming the cap; another token has its own.
    let stream = |token: &str| Client::new().get(format!("{base}/api/v1/stream")).bearer_auth(token).send().unwrap();
    let (first, second) = (stream(TOKEN), stream(TOKEN));
    assert_eq!((first.status().as_u16(), second.status().as_u16()), (200, 200));
    let third = stream(TOKEN);
    assert_eq!(third.status().as_u16(), 429);
    assert!(third.headers().contains_key("retry-after"));
    let refusal: Value = third.json().unwrap();
    assert!(error_of(&refusal).contains("2 event streams open"), "{refusal}");
    drop(first);
    // The closed stream's place comes free once the service notices (its next keep-alive at the latest).
    wait_for(Duration::from_secs(40), || service.log(), || stream(TOKEN).status().as_u16() == 200);
    drop(second);

    // Paths and queries the framework refuses, unknown routes and wrong methods: JSON errors.
    for (path, status, expected) in [
        ("/api/v1/cases/abc", 400, "Invalid URL"),
        ("/api/v1/cases?limit=many", 400, "limit"),
        ("/api/v1/no-such-thing", 404, "no such endpoint: GET /api/v1/no-such-thing"),
    ] {
        let response = Client::new().get(format!("{base}{path}")).bearer_auth(TOKEN).send().unwrap();
        assert_eq!(response.status().as_u16(), status, "{path}");
        assert_eq!(response.headers()["content-type"], "application/json", "{path}");
        let body: Value = response.json().unwrap();
        assert!(error_of(&body).contains(expected), "{path}: {body}");
    }
    let response = Client::new().delete(format!("{base}/api/v1/cases")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert!(error_of(&response.json().unwrap()).contains("method not allowed"));
    let response = Client::new().get(format!("{base}/open311/v2/nothing.json")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let body: Value = response.json().unwrap();
    assert_eq!(body[0]["code"], 404, "Open311's error list: {body}");

    // Guessing tokens: five unknown ones, then even the right token is refused for the minute.
    for n in 0..5 {
        let response = Client::new().get(format!("{base}/api/v1/cases")).bearer_auth(format!("guess-{n}")).send();
        assert_eq!(response.unwrap().status().as_u16(), 401, "guess {n}");
    }
    let response = Client::new().get(format!("{base}/api/v1/cases")).bearer_auth(TOKEN).send().unwrap();
    assert_eq!(response.status().as_u16(), 429, "the address is refused before its token is checked");
    let wait: u64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    assert_eq!(get_bytes(&base, "/healthz").0, 200, "health stays open");
}
