//! The dashboard in a real browser (Debian's headless Chromium through chromedriver): an operator signs
//! in and sees a case from a simcam camera appear live, without reloading; the operator verifies it, a
//! dispatcher dispatches it, a handler takes it on and reports it handled, an inspector closes it, each
//! signed in with their own token and shown only their own actions. The grid tree, the camera wall and
//! the tuning view are opened too. Screenshots are kept under `target/test-artifacts/dashboard/`.

mod common;

use std::{
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use common::*;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const ROLES: [&str; 4] = ["operator", "dispatcher", "handler", "inspector"];
/// Long enough that the case cannot open before the operator has signed in.
const MIN_DWELL_S: f64 = 15.0;
const WAIT: Duration = Duration::from_secs(20);
/// One browser test at a time: each runs a service, a camera and Chromium on a 2-core machine.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn secret(role: &str) -> String {
    format!("{role}-browser-secret")
}

fn artifacts() -> PathBuf {
    let dir = root().join("target/test-artifacts/dashboard");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// chromedriver on a free port, killed when dropped.
struct Chromedriver {
    child: Child,
    url: String,
}

impl Chromedriver {
    fn start() -> Self {
        let port = free_port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver (Debian's chromium-driver, installed by scripts/setup.sh)");
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        while reqwest::blocking::get(format!("{url}/status")).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "chromedriver did not answer on {url}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, url }
    }
}

impl Drop for Chromedriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The site's own tile server for the map: Python's `http.server` (not written by the project) serving
/// a directory of tiles on a free port, its request log kept. Killed when dropped.
struct TileServer {
    child: Child,
    port: u16,
    dir: tempfile::TempDir,
    log: PathBuf,
}

impl TileServer {
    fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let log = dir.path().join("requests.log");
        let child = Command::new("python3")
            .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "--directory"])
            .arg(dir.path())
            .arg(port.to_string())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 (installed by scripts/setup.sh)");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "the tile server did not listen on {port}");
            std::thread::sleep(Duration::from_millis(100));
        }
        Self { child, port, dir, log }
    }

    /// Writes a 256-pixel tile at `path` (`/tiles/{z}/{x}/{y}.png`).
    fn hold(&self, path: &str) {
        let file = self.dir.path().join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        image::RgbImage::from_pixel(256, 256, image::Rgb([228, 222, 206])).save(file).unwrap();
    }

    /// The status the server answered for each request of `path`, in order.
    fn answers(&self, path: &str) -> Vec<u16> {
        let log = std::fs::read_to_string(&self.log).unwrap();
        let request = format!("\"GET {path} HTTP/1.1\" ");
        log.lines()
            .filter_map(|line| line.split_once(&request))
            .filter_map(|(_, rest)| rest.split(' ').next()?.parse().ok())
            .collect()
    }
}

impl Drop for TileServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The longitude and latitude span (west, east, south, north) of Web Mercator tile `x`, `y` at zoom `z`.
fn tile_bounds(z: u32, x: u32, y: u32) -> [f64; 4] {
    let n = f64::from(1u32 << z);
    let longitude = |x: f64| x / n * 360.0 - 180.0;
    let latitude = |y: f64| (std::f64::consts::PI * (1.0 - 2.0 * y / n)).sinh().atan().to_degrees();
    [longitude(f64::from(x)), longitude(f64::from(x + 1)), latitude(f64::from(y + 1)), latitude(f64::from(y))]
}

async fn browser(webdriver: &str) -> Client {
    let capabilities = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1440,1000"],
        },
    });
    let Value::Object(capabilities) = capabilities else { unreachable!() };
    ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
        .capabilities(capabilities)
        .connect(webdriver)
        .await
        .expect("a Chromium session")
}

async fn screenshot(client: &Client, dir: &Path, name: &str) {
    let png = client.screenshot().await.expect("a screenshot");
    assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
    std::fs::write(dir.join(format!("{name}.png")), png).unwrap();
}

async fn wait_for(client: &Client, css: &str) -> fantoccini::elements::Element {
    client
        .wait()
        .at_most(WAIT)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("waiting for {css}: {e}"))
}

/// Runs `step` until it works: the live page re-renders rows and the case detail as changes stream in,
/// so an element found a moment ago may have been replaced (stale), not be there yet, or not take
/// input yet (a dialog still opening).
async fn retry<T, F, Fut>(what: &str, step: F) -> T
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, fantoccini::error::CmdError>>,
{
    let started = Instant::now();
    loop {
        match step().await {
            Ok(done) => return done,
            Err(error)
                if started.elapsed() < WAIT
                    && (error.is_stale_element_reference()
                        || error.is_no_such_element()
                        || error.is_element_not_interactable()) =>
            {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(error) => panic!("{what}: {error}"),
        }
    }
}

/// Clicks the element `css` selects, as a person would.
async fn click(client: &Client, css: &str) {
    retry(css, || async { client.find(Locator::Css(css)).await?.click().await }).await;
}

/// The text of each element `css` selects, read at one moment.
async fn texts(client: &Client, css: &str) -> Vec<String> {
    let script = "return [...document.querySelectorAll(arguments[0])].map(e => e.textContent)";
    let found = client.execute(script, vec![json!(css)]).await.unwrap();
    serde_json::from_value(found).unwrap()
}

/// Where the page's sign-in stands: `signed-in` (the sign-out button shows), `signed-out` (no token
/// kept), or `restoring` (a kept token is being checked: the form shows but is about to hide).
const SIGN_IN_STATE: &str = "if (!document.querySelector('#signout').hidden) return 'signed-in';
     return sessionStorage.getItem('sharpeyes.token') ? 'restoring' : 'signed-out';";

/// Signs in as `role`, signing out first (with the page's own button) when the tab is still signed in
/// as someone else: clearing the kept token from the test would race the page's own restoring of it.
async fn sign_in(client: &Client, base: &str, role: &str) {
    client.goto(&format!("{base}/")).await.unwrap();
    let started = Instant::now();
    loop {
        let state = client.execute(SIGN_IN_STATE, Vec::new()).await.unwrap();
        match state.as_str() {
            Some("signed-out") => break,
            Some("signed-in") => {
                let _ = async { client.find(Locator::Css("#signout")).await?.click().await }.await;
            }
            _ => {}
        }
        assert!(started.elapsed() < WAIT, "the page stayed {state} before signing in as {role}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let secret = secret(role);
    retry("#token", || async { client.find(Locator::Css("#token")).await?.send_keys(&secret).await }).await;
    click(client, "#signin-submit").await;
    wait_for(client, &format!("#who[data-role='{role}']")).await;
}

/// Opens the case, checks that exactly `expected` actions are offered, takes `action` and waits for
/// the case to reach `status`.
async fn act(client: &Client, case: i64, expected: &[&str], action: &str, status: &str) {
    click(client, &format!("#case-list tr[data-case='{case}']")).await;
    wait_for(client, &format!("#case-detail h2[data-case='{case}']")).await;
    let script = "return [...document.querySelectorAll('#case-detail button[data-action]')].map(b => b.dataset.action)";
    let offered: Vec<String> = serde_json::from_value(client.execute(script, Vec::new()).await.unwrap()).unwrap();
    assert_eq!(offered, expected, "the actions offered to take {action}");
    let note = format!("{action} in the browser");
    retry("#action-note", || async { client.find(Locator::Css("#action-note")).await?.send_keys(&note).await }).await;
    click(client, &format!("button[data-action='{action}']")).await;
    wait_for(client, &format!("#detail-status[data-status='{status}']")).await;
}

/// simcam serving the shared truck photo, and a service configuration (in `dir`) that watches it as
/// `truck-cam` with one no-parking zone over the whole picture.
fn truck_camera(dir: &Path) -> (Running, PathBuf, String) {
    let truck = media("images/000000009769.jpg");
    let (simcam, urls) = start_simcam(&[("truck", &truck)]);
    let (config, base) =
        write_config(dir, &[TestCamera { id: "truck-cam", url: &urls[0], decode: "keyframes" }], MIN_DWELL_S);
    (simcam, config, base)
}

#[test]
fn operators_dispatchers_handlers_and_inspectors_work_a_live_case_through_the_dashboard() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_simcam, config, base) = truck_camera(dir.path());
    let mut tokens = String::new();
    for role in ROLES {
        tokens.push_str(&format!(
            "\n[[auth.tokens]]\nname = \"{role}-desk\"\nrole = \"{role}\"\nsha256 = \"{}\"\n",
            sha256_hex(&secret(role))
        ));
    }
    tokens.push_str("\n[[departments]]\nid = \"traffic\"\ncategories = [\"illegal_parking\"]\ngrids = [\"110105\"]\n");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&tokens);
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);
    let chromedriver = Chromedriver::start();
    let shots = artifacts();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let case = runtime.block_on(async {
        let client = browser(&chromedriver.url).await;

        // The operator signs in before the camera's case exists and sees it arrive on the live stream.
        sign_in(&client, &base, "operator").await;
        wait_for(&client, "#live.on").await;
        let rows = client.find_all(Locator::Css("#case-list tbody tr")).await.unwrap();
        assert!(rows.is_empty(), "no case yet {MIN_DWELL_S} s into the dwell time");
        let row = client
            .wait()
            .at_most(Duration::from_secs(90))
            .for_element(Locator::Css("#case-list tr[data-case][data-status='reported']"))
            .await
            .unwrap_or_else(|e| panic!("no case appeared live: {e}\n{}", service.log()));
        let case: i64 = retry("the new row", || row.attr("data-case")).await.unwrap().parse().unwrap();
        screenshot(&client, &shots, "01-operator-live-case").await;
        // The operator takes the case on: it is theirs until handed over.
        click(&client, &format!("#case-list tr[data-case='{case}']")).await;
        click(&client, "button[data-ownership='acknowledge']").await;
        wait_for(&client, "button[data-ownership='hand_over']").await;
        // Voiding asks why (the zone's precision counts it).
        let script = "return [...document.querySelectorAll('#void-reason option')].map(o => o.value)";
        let reasons: Vec<String> = serde_json::from_value(client.execute(script, Vec::new()).await.unwrap()).unwrap();
        assert_eq!(reasons, ["false_detection", "not_a_violation", "duplicate", "other"]);
        act(&client, case, &["verify", "void"], "verify", "filed").await;
        // The evidence JPEG, fetched through the case with the token, decoded by the browser.
        let script = "const img = document.querySelector(\"#case-detail img[data-evidence='0']\");
                      return img && img.src.startsWith('blob:') && img.complete ? img.naturalWidth : 0";
        let started = Instant::now();
        let mut width = json!(0);
        while width != json!(640) && started.elapsed() < WAIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
            width = client.execute(script, Vec::new()).await.unwrap();
        }
        assert_eq!(width, json!(640), "the evidence JPEG decoded in the browser");
        screenshot(&client, &shots, "02-operator-verified").await;

        sign_in(&client, &base, "dispatcher").await;
        act(&client, case, &["dispatch", "suspend"], "dispatch", "dispatched").await;
        screenshot(&client, &shots, "03-dispatcher-dispatched").await;

        sign_in(&client, &base, "handler").await;
        act(&client, case, &["accept", "return"], "accept", "handling").await;
        act(&client, case, &["return", "request_extension", "report_handled"], "report_handled", "feedback").await;
        screenshot(&client, &shots, "04-handler-reported").await;

        sign_in(&client, &base, "inspector").await;
        act(&client, case, &["close", "reopen"], "close", "closed").await;
        screenshot(&client, &shots, "05-inspector-closed").await;

        // English labels.
        click(&client, "#lang").await;
        let title = client.find(Locator::Css("header h1")).await.unwrap().text().await.unwrap();
        assert_eq!(title, "Sharp Eyes · grid cases");
        wait_for(&client, "#detail-status[data-status='closed']").await;
        assert_eq!(texts(&client, "#detail-status").await, ["closed"]);
        screenshot(&client, &shots, "06-english").await;

        // The grid tree counts the case; the camera wall shows the camera streaming.
        click(&client, "#tabs button[data-view='grids']").await;
        wait_for(&client, "#grid-tree tr[data-grid='110105001001001']").await;
        let cells = texts(&client, "#grid-tree tr[data-grid='110105001001001'] td").await;
        assert_eq!(cells[4], "1", "the grid's total");
        screenshot(&client, &shots, "07-grids").await;
        click(&client, "#tabs button[data-view='cameras']").await;
        wait_for(&client, "#camera-wall article.camera.streaming[data-camera='truck-cam']").await;
        wait_for(&client, "#camera-wall article[data-camera='truck-cam'] img[src^='blob:']").await;
        screenshot(&client, &shots, "08-cameras").await;

        // The tuning view draws the zone and the latest detections over the latest frame.
        click(&client, "#tabs button[data-view='tuning']").await;
        wait_for(&client, "#tuning-detections tbody tr").await;
        for (view, shown) in [("#tuning-view", true), ("#cases-view", false), ("#cameras-view", false)] {
            let displayed = client.find(Locator::Css(view)).await.unwrap().is_displayed().await.unwrap();
            assert_eq!(displayed, shown, "{view} displayed");
        }
        wait_for(&client, "#tuning-zones tbody input[name='id']").await;
        let zone =
            client.execute("return document.querySelector('#tuning-zones tbody input[name=id]').value", Vec::new());
        assert_eq!(zone.await.unwrap(), json!("all"));
        let width = client.execute("return document.querySelector('#tuning-canvas').width", Vec::new()).await.unwrap();
        assert_eq!(width, json!(640), "the canvas takes the frame's size");
        screenshot(&client, &shots, "09-tuning").await;

        // Statistics: the day's line of the case's category, the department's closed case on time, and
        // the camera zone's precision, whose row leads back to its tuning view.
        click(&client, "#tabs button[data-view='stats']").await;
        wait_for(&client, "#stats-trend polyline[data-category='illegal_parking']").await;
        wait_for(&client, "#stats-departments tr[data-department='traffic']").await;
        let cells = texts(&client, "#stats-departments tr[data-department='traffic'] td").await;
        assert_eq!(cells[..4], ["traffic", "1", "100%", "0%"], "closed 1, on time, never re-opened");
        wait_for(&client, "#stats-quality tr[data-camera='truck-cam']").await;
        let cells = texts(&client, "#stats-quality tr[data-camera='truck-cam'] td").await;
        assert_eq!(cells[3..], ["1", "1", "0", "100%"], "one case, verified, no false detection");
        screenshot(&client, &shots, "10-statistics").await;
        click(&client, "#stats-quality tr[data-camera='truck-cam']").await;
        wait_for(&client, "#tuning-view:not([hidden]) #tuning-zones tbody td").await;
        let chosen = client.execute("return document.querySelector('#tuning-camera').value", Vec::new()).await.unwrap();
        assert_eq!(chosen, json!("truck-cam"));

        client.close().await.unwrap();
        case
    });

    // The API's timeline: each step by the token that took it in the browser.
    let (status, detail) = get_json(&base, &format!("/api/v1/cases/{case}"));
    assert_eq!(status, 200);
    let steps: Vec<(String, String)> = detail["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["actor"].as_str().unwrap().ends_with("-desk"))
        .map(|e| (e["action"].as_str().unwrap().to_owned(), e["actor"].as_str().unwrap().to_owned()))
        .collect();
    let expected = [
        ("acknowledge", "operator-desk"),
        ("verify", "operator-desk"),
        ("dispatch", "dispatcher-desk"),
        ("accept", "handler-desk"),
        ("report_handled", "handler-desk"),
        ("close", "inspector-desk"),
    ];
    assert_eq!(steps, expected.map(|(a, b)| (a.to_owned(), b.to_owned())), "{detail:#}");
    assert!(detail["events"].as_array().unwrap().iter().any(|e| e["note"] == "close in the browser"));
    for name in ["01-operator-live-case", "05-inspector-closed", "09-tuning", "10-statistics"] {
        assert!(shots.join(format!("{name}.png")).metadata().unwrap().len() > 10_000, "{name}.png holds a page");
    }
}

/// A parked car's plate, read by the service, shows in the case list and detail, and the list is
/// searched by plate and prefix.
#[test]
fn the_plate_of_a_parking_case_is_shown_and_searched() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let photo = media("plates/hyperlpr_test_img.jpg");
    let (_simcam, urls) = start_simcam_on("127.0.0.1:0", &[("car", &photo)], &["--bitrate", "8000"]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "car-cam", url: &urls[0], decode: "keyframes" }], 4.0);
    let mut text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("decode = \"keyframes\"", "decode = \"keyframes\"\nmax_width = 1920");
    text.push_str(&format!(
        "\n[[auth.tokens]]\nname = \"operator-desk\"\nrole = \"operator\"\nsha256 = \"{}\"\n",
        sha256_hex(&secret("operator"))
    ));
    std::fs::write(&config, text).unwrap();
    let service = start_service(&config, &base);
    let chromedriver = Chromedriver::start();
    let shots = artifacts();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = browser(&chromedriver.url).await;
        sign_in(&client, &base, "operator").await;
        // The plate arrives after the case (read off the camera path): the row shows it live.
        let row = client
            .wait()
            .at_most(Duration::from_secs(90))
            .for_element(Locator::XPath("//table[@id='case-list']//tr[td[@class='plate' and text()='苏ED51712']]"))
            .await
            .unwrap_or_else(|e| panic!("no row with the plate appeared: {e}\n{}", service.log()));
        let case: i64 = retry("the plate's row", || row.attr("data-case")).await.unwrap().parse().unwrap();
        click(&client, &format!("#case-list tr[data-case='{case}']")).await;
        let plate = wait_for(&client, "#detail-plate").await;
        assert!(retry("#detail-plate", || plate.text()).await.starts_with("苏ED51712 ("));
        screenshot(&client, &shots, "10-plate").await;

        // Searching: a prefix finds the case, another plate finds nothing.
        let search = "const input = document.querySelector('#filter-plate'); input.value = arguments[0];
                      input.dispatchEvent(new Event('change'));";
        for (query, rows) in [("京A", 0), ("苏ed", 1)] {
            client.execute(search, vec![json!(query)]).await.unwrap();
            let started = Instant::now();
            while texts(&client, "#case-list tbody tr[data-case]").await.len() != rows {
                assert!(started.elapsed() < WAIT, "searching {query}: {rows} rows expected");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        assert_eq!(texts(&client, "#case-list tbody td.plate").await, ["苏ED51712"]);
        screenshot(&client, &shots, "11-plate-search").await;
        client.close().await.unwrap();
    });
}

/// Waits until `script` (run in the page) returns `expected`, failing with `what`.
async fn wait_until(client: &Client, what: &str, script: &str, expected: Value) -> Value {
    let started = Instant::now();
    loop {
        let found = client.execute(script, Vec::new()).await.unwrap();
        if found == expected {
            return found;
        }
        assert!(started.elapsed() < WAIT, "{what}: expected {expected}, the page gave {found}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Whether the case marker lies inside grid `grid`'s polygon, as the browser draws them.
const MARKER_IN_GRID: &str = "const mark = document.querySelector(arguments[0]);
     const cell = document.querySelector(arguments[1]);
     if (!mark || !cell) return null;
     const m = mark.transform.baseVal.consolidate().matrix;
     return cell.isPointInFill(new DOMPoint(m.e, m.f));";

/// The command-center map and the wall screen: the grid polygons of `config/grids.geojson` are the base
/// map, a camera placed by its location in the second cell opens a case that appears live as a
/// marker inside that cell (on the wall, signed in with only a viewer token from the address's
/// fragment, and on the dashboard's map, where clicking it opens the case); the wall shows the trends
/// and the newest cases, says "offline" with the time of its last update when the service stops and
/// comes back live by itself when it returns. Screenshots under `target/test-artifacts/dashboard/`.
#[test]
fn the_map_and_the_wall_show_a_live_case_in_its_grid_and_survive_a_lost_connection() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_simcam, config, base) = truck_camera(dir.path());
    let tile_server = TileServer::start();
    // The camera names no grid: its location puts it in the second cell of the shared polygons.
    let mut text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("grid = \"110105001001001\"\ndecode", "location = [116.468, 39.913]\ndecode");
    let polygons = root().join("config/grids.geojson");
    text.push_str(&format!(
        "\n[[auth.tokens]]\nname = \"wall\"\nrole = \"viewer\"\nsha256 = \"{}\"\n\
         \n[[auth.tokens]]\nname = \"operator-desk\"\nrole = \"operator\"\nsha256 = \"{}\"\n\
         \n[cases]\ngrid_polygons = \"{}\"\n\
         \n[map]\ntiles = \"http://127.0.0.1:{}/tiles/{{z}}/{{x}}/{{y}}.png\"\n",
        sha256_hex("wall-secret"),
        sha256_hex(&secret("operator")),
        polygons.display(),
        tile_server.port,
    ));
    std::fs::write(&config, text).unwrap();
    add_mqtt(&config, "mqtt://127.0.0.1:1883", "map-test", &manhole_sensor("cover-7", Some([116.452, 39.907])));
    let mut service = start_service(&config, &base);
    let chromedriver = Chromedriver::start();
    let shots = artifacts();

    // The dashboard's pages let the tile server's images in, nothing else from elsewhere.
    let page = reqwest::blocking::get(format!("{base}/wall")).unwrap();
    let policy = page.headers()["content-security-policy"].to_str().unwrap().to_owned();
    let tile_origin = format!("http://127.0.0.1:{}", tile_server.port);
    assert!(policy.contains(&format!("img-src 'self' blob: {tile_origin};")), "{policy}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = browser(&chromedriver.url).await;

        // The wall, set up with one address: the token is taken from the fragment and kept.
        client.goto(&format!("{base}/wall?panel=map#token=wall-secret")).await.unwrap();
        wait_for(&client, "#wall-map path.grid[data-grid='110105001001002']").await;
        wait_for(&client, "#live[data-state='on']").await;
        let kept = client
            .execute("return [location.hash, localStorage.getItem('sharpeyes.wall.token')]", Vec::new())
            .await
            .unwrap();
        assert_eq!(kept, json!(["", "wall-secret"]), "the token left the address and stayed in the browser");
        wait_for(&client, "#wall-map g.camera-mark[data-camera='truck-cam']").await;
        wait_for(&client, "#wall-map g.sensor-mark.stale[data-sensor='cover-7']").await;
        let tiles: Vec<String> = serde_json::from_value(
            client
                .execute(
                    "return [...document.querySelectorAll('#wall-map image')].map(i => i.getAttribute('href'))",
                    Vec::new(),
                )
                .await
                .unwrap(),
        )
        .unwrap();
        // The tiles in view are of one zoom and cover the grids (116.45–116.47 E, 39.905–39.915 N), and
        // the browser asked the tile server for each; once it holds them, it answers each with 200.
        let paths: Vec<String> = tiles
            .iter()
            .map(|t| t.strip_prefix(&tile_origin).unwrap_or_else(|| panic!("{t} is not {tile_origin}'s")).to_owned())
            .collect();
        let coordinates: Vec<[u32; 3]> = paths
            .iter()
            .map(|p| {
                let parts: Vec<u32> = p
                    .trim_start_matches("/tiles/")
                    .trim_end_matches(".png")
                    .split('/')
                    .map(|n| n.parse().unwrap())
                    .collect();
                [parts[0], parts[1], parts[2]]
            })
            .collect();
        assert!(coordinates.iter().all(|c| c[0] == coordinates[0][0]) && coordinates[0][0] >= 12, "{paths:?}");
        let covered = coordinates
            .iter()
            .map(|&[z, x, y]| tile_bounds(z, x, y))
            .fold([f64::MAX, f64::MIN, f64::MAX, f64::MIN], |a, b| {
                [a[0].min(b[0]), a[1].max(b[1]), a[2].min(b[2]), a[3].max(b[3])]
            });
        assert!(
            covered[0] <= 116.45 && covered[1] >= 116.47 && covered[2] <= 39.905 && covered[3] >= 39.915,
            "tiles {paths:?} cover {covered:?}, not the grids"
        );
        // An image in the page may not have been asked for yet: wait for each request.
        let started = Instant::now();
        while let Some(path) = paths.iter().find(|path| tile_server.answers(path).is_empty()) {
            assert!(started.elapsed() < WAIT, "the browser never asked for {path}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        for path in &paths {
            tile_server.hold(path);
        }
        client.refresh().await.unwrap();
        wait_for(&client, "#wall-map path.grid[data-grid='110105001001002']").await;
        let started = Instant::now();
        while !paths.iter().all(|path| tile_server.answers(path).contains(&200)) {
            assert!(started.elapsed() < WAIT, "tiles not fetched again after the reload: {paths:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let no_case = texts(&client, "#wall-map g.case-mark").await;
        assert!(no_case.is_empty(), "no case yet {MIN_DWELL_S} s into the dwell time");

        // The case opens: its marker appears live, pulsing, inside the camera's cell and not the other.
        let marker = "#wall-map g.case-mark.fresh[data-grid='110105001001002']";
        client
            .wait()
            .at_most(Duration::from_secs(90))
            .for_element(Locator::Css(marker))
            .await
            .unwrap_or_else(|e| panic!("no marker appeared live: {e}\n{}", service.log()));
        let case =
            client.execute("return document.querySelector(arguments[0]).dataset.case", vec![json!(marker)]).await;
        let case: i64 = case.unwrap().as_str().unwrap().parse().unwrap();
        for (cell, inside) in [("110105001001002", true), ("110105001001001", false)] {
            let found = client
                .execute(MARKER_IN_GRID, vec![json!(marker), json!(format!("#wall-map path[data-grid='{cell}']"))])
                .await
                .unwrap();
            assert_eq!(found, json!(inside), "the marker inside {cell}");
        }
        // The cell's shading follows: its open count is read again after the change.
        wait_for(&client, "#wall-map path.grid[data-grid='110105001001002'][data-open='1']").await;
        screenshot(&client, &shots, "20-wall-map").await;

        // The other panels: the trends count the open case, the newest cases list it.
        client.goto(&format!("{base}/wall?panel=trends")).await.unwrap();
        wait_until(&client, "the open figure", "return document.querySelector('#figure-open').textContent", json!("1"))
            .await;
        wait_for(&client, "#wall-trend polyline[data-category='illegal_parking']").await;
        screenshot(&client, &shots, "21-wall-trends").await;
        client.goto(&format!("{base}/wall?panel=newest")).await.unwrap();
        wait_for(&client, &format!("#wall-newest tr[data-case='{case}']")).await;
        screenshot(&client, &shots, "22-wall-newest").await;

        // The dashboard's map: the grid's shading counts the case; the marker opens it; the grid filters
        // the list; the camera shows its latest frame.
        sign_in(&client, &base, "operator").await;
        click(&client, "#tabs button[data-view='map']").await;
        let cell = "#grid-map path.grid[data-grid='110105001001002'][data-open='1']";
        wait_for(&client, cell).await;
        let marker = format!("#grid-map g.case-mark[data-case='{case}']");
        wait_for(&client, &marker).await;
        click(&client, "#grid-map g.camera-mark[data-camera='truck-cam']").await;
        wait_for(&client, "#map-camera:not([hidden]) img[src^='blob:']").await;
        screenshot(&client, &shots, "23-dashboard-map").await;
        click(&client, &marker).await;
        wait_for(&client, &format!("#cases-view:not([hidden]) #case-detail h2[data-case='{case}']")).await;
        click(&client, "#tabs button[data-view='map']").await;
        click(&client, cell).await;
        wait_for(&client, "#cases-view:not([hidden])").await;
        let grid = client.execute("return document.querySelector('#filter-grid').value", Vec::new()).await.unwrap();
        assert_eq!(grid, json!("110105001001002"));

        // The wall loses the service: it says offline with the time of its last update, and comes back.
        client.goto(&format!("{base}/wall?panel=map")).await.unwrap();
        wait_for(&client, "#live[data-state='on']").await;
        service.interrupt();
        wait_for(&client, "#live[data-state='off']").await;
        let badge = texts(&client, "#live").await;
        assert!(badge[0].starts_with("离线 · 最后更新 "), "{badge:?}");
        screenshot(&client, &shots, "24-wall-offline").await;
        service = start_service(&config, &base);
        client
            .wait()
            .at_most(Duration::from_secs(30))
            .for_element(Locator::Css("#live[data-state='on']"))
            .await
            .unwrap_or_else(|e| panic!("the wall did not come back: {e}"));
        wait_for(&client, &format!("#wall-map g.case-mark[data-case='{case}']")).await;
        client.close().await.unwrap();
    });
    for name in ["20-wall-map", "21-wall-trends", "22-wall-newest", "23-dashboard-map", "24-wall-offline"] {
        assert!(shots.join(format!("{name}.png")).metadata().unwrap().len() > 10_000, "{name}.png holds a page");
    }
}

/// Drags on the tuning canvas from one place to another (normalised frame coordinates) with pointer
/// events, as a mouse would.
const DRAG: &str = r#"
const [from, to] = [arguments[0], arguments[1]];
const canvas = document.querySelector('#tuning-canvas');
const r = canvas.getBoundingClientRect();
const at = ([x, y]) => ({ clientX: r.left + x * r.width, clientY: r.top + y * r.height, bubbles: true, pointerId: 1 });
canvas.dispatchEvent(new PointerEvent('pointerdown', at(from)));
for (let k = 1; k <= 5; k++) {
  canvas.dispatchEvent(new PointerEvent('pointermove', at([from[0] + ((to[0] - from[0]) * k) / 5, from[1] + ((to[1] - from[1]) * k) / 5])));
}
canvas.dispatchEvent(new PointerEvent('pointerup', at(to)));
"#;

/// Presses the tuning view's preview until it has a case in `zone` (the recent frames must first span
/// the dwell time), for up to a minute; `logs` tells why when it never does.
async fn preview_until_case(client: &Client, zone: &str, logs: impl Fn() -> String) {
    let started = Instant::now();
    loop {
        click(client, "#tuning-preview-button").await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let case = format!("#tuning-preview .preview-case[data-zone='{zone}']");
        if client.find(Locator::Css(&case)).await.is_ok() {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no previewed case:\n{}", logs());
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Saves the tuning view's draft and waits until the page says it is in force.
async fn save_tuning(client: &Client) {
    click(client, "#tuning-save").await;
    wait_until(
        client,
        "the saved state",
        "return document.querySelector('#tuning-status').textContent",
        json!("已保存并生效"),
    )
    .await;
}

#[test]
fn an_admin_draws_a_zone_on_the_latest_frame_previews_it_and_saves_it() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let (_simcam, config, base) = truck_camera(dir.path());
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[[auth.tokens]]\nname = \"admin-desk\"\nrole = \"admin\"\nsha256 = \"{}\"\n",
        sha256_hex(&secret("admin"))
    ));
    std::fs::write(&config, text).unwrap();
    let mut service = start_service(&config, &base);
    let chromedriver = Chromedriver::start();
    let shots = artifacts();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = browser(&chromedriver.url).await;
        sign_in(&client, &base, "admin").await;
        click(&client, "#tabs button[data-view='tuning']").await;
        wait_for(&client, "#tuning-detections tbody tr").await;
        wait_for(&client, "#tuning-zones tbody input[name='id']").await;

        // A new zone, its first corner dragged up and left on the frame, renamed, given its own dwell time.
        click(&client, "#tuning-add").await;
        wait_for(&client, "#tuning-zones tbody tr[data-zone='1'].selected").await;
        client.execute(DRAG, vec![json!([0.3, 0.6]), json!([0.05, 0.3])]).await.unwrap();
        let rename = "const input = document.querySelector(\"#tuning-zones tr[data-zone='1'] input[name=id]\");
                      input.value = 'curb-b'; input.dispatchEvent(new Event('change'));
                      const dwell = document.querySelector(\"#tuning-zones tr[data-zone='1'] input[name=min_dwell_s]\");
                      dwell.value = '120'; dwell.dispatchEvent(new Event('change'));";
        client.execute(rename, Vec::new()).await.unwrap();

        // The preview replays the camera's recent frames: once they span the dwell time, the parked
        // truck in the file's whole-frame zone is a case the draft would open.
        preview_until_case(&client, "all", || service.log()).await;
        let summary = texts(&client, "#tuning-preview p").await;
        assert!(summary[0].contains("curb-b"), "the draft's zone is counted: {summary:?}");
        screenshot(&client, &shots, "25-tuning-edit").await;

        // A mask on the file's zone, its corners dragged out to the frame's: nothing there counts, and
        // the preview no longer has the truck's case.
        click(&client, "#tuning-zones tbody tr[data-zone='0'] td:first-child").await;
        click(&client, "#tuning-add-mask").await;
        let (a, b) = (1.0 / 3.0, 2.0 / 3.0);
        for (from, to) in [([a, a], [0.0, 0.0]), ([b, a], [1.0, 0.0]), ([b, b], [1.0, 1.0]), ([a, b], [0.0, 1.0])] {
            client.execute(DRAG, vec![json!(from), json!(to)]).await.unwrap();
        }
        click(&client, "#tuning-preview-button").await;
        wait_until(
            &client,
            "the previewed case of the masked zone",
            "return document.querySelectorAll(\"#tuning-preview .preview-case[data-zone='all']\").length",
            json!(0),
        )
        .await;
        screenshot(&client, &shots, "26-tuning-mask").await;

        save_tuning(&client).await;
        client.close().await.unwrap();
    });

    // The camera runs the admin's zones now, the dragged corner where it was dropped.
    let (status, zones) = get_json(&base, "/api/v1/cameras/truck-cam/zones");
    assert_eq!(status, 200, "{zones}");
    assert_eq!((zones["source"].as_str(), zones["changed_by"].as_str()), (Some("api"), Some("admin-desk")), "{zones}");
    let added = &zones["zones"][1];
    assert_eq!((added["id"].as_str(), added["kind"].as_str()), (Some("curb-b"), Some("no_parking")), "{zones}");
    let corner: Vec<f64> = serde_json::from_value(added["polygon"][0].clone()).unwrap();
    assert!((corner[0] - 0.05).abs() < 0.01 && (corner[1] - 0.3).abs() < 0.01, "the dragged corner: {corner:?}");
    assert_eq!((added["polygon"].as_array().unwrap().len(), added["min_dwell_s"].as_f64()), (4, Some(120.0)));
    let mask: Vec<[f64; 2]> = serde_json::from_value(zones["zones"][0]["masks"][0].clone()).unwrap();
    let frame = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    assert!(
        mask.len() == 4
            && mask.iter().zip(frame).all(|(p, q)| (p[0] - q[0]).abs() < 0.01 && (p[1] - q[1]).abs() < 0.01),
        "the mask dragged to the frame's corners: {mask:?}"
    );
    let (_, view) = get_json(&base, "/api/v1/cameras/truck-cam/view");
    assert_eq!(view["zones"][1]["id"], "curb-b", "{view}");
    for name in ["25-tuning-edit", "26-tuning-mask"] {
        assert!(shots.join(format!("{name}.png")).metadata().unwrap().len() > 10_000, "{name}.png holds a page");
    }
    let (exit, _) = service.interrupt();
    assert!(exit.success(), "{}", service.log());
}

#[test]
fn the_tuning_view_on_a_center_draws_the_edges_frame_previews_there_and_saves_to_the_edge() {
    let _alone = ONE_AT_A_TIME.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = tempfile::tempdir().unwrap();
    let database = PostgresDatabase::create("dashboard_center");
    let broker_dir = dir.path().join("broker");
    let broker = Broker::start(&broker_dir, "");
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("truck", &truck)]);
    // SAFETY: set before the nodes start; they inherit it, and no other thread reads it meanwhile.
    unsafe { std::env::set_var("SHARPEYES_RELAY_SECRET", "dashboard-center-relay-key") };
    let prefix = format!("se-dashboard-{}", nanos_since_epoch());
    let mut shared = cluster_config(&database.url, broker.port, &prefix)
        .replace(r#"edges = ["edge-0", "edge-1"]"#, r#"edges = ["edge-0"]"#);
    shared.push_str(&format!(
        r#"
[[auth.tokens]]
name = "admin-desk"
role = "admin"
sha256 = "{admin}"

[[cameras]]
id = "truck-cam"
url = "{url}"
grid = "110105001001001"
decode = "keyframes"
  [[cameras.zones]]
  id = "all"
  kind = "no_parking"
  polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
"#,
        admin = sha256_hex(&secret("admin")),
        url = urls[0],
    ));
    let (center_config, center) = node_config(dir.path(), &shared, "center");
    let (edge_config, edge) = node_config(dir.path(), &shared, "edge-0");
    let center_process = start_service_with(&center_config, &center, &["--role", "center", "--node", "center"]);
    let edge_process = start_service_with(&edge_config, &edge, &["--role", "edge", "--node", "edge-0"]);
    let logs = || format!("== center\n{}\n== edge-0\n{}", center_process.log(), edge_process.log());
    common::wait_for(WAIT * 3, logs, || get_json(&center, "/api/v1/cameras/truck-cam/view").1["frame"].is_object());
    let chromedriver = Chromedriver::start();
    let shots = artifacts();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let client = browser(&chromedriver.url).await;
        sign_in(&client, &center, "admin").await;
        // The camera wall names the edge that runs each camera.
        click(&client, "#tabs button[data-view='cameras']").await;
        wait_for(&client, "#camera-wall article.camera[data-camera='truck-cam'] .node").await;
        let node = texts(&client, "#camera-wall article.camera[data-camera='truck-cam'] .node").await;
        assert!(node[0].ends_with("edge-0"), "{node:?}");

        // The tuning view draws the edge's latest frame and boxes, and previews on the edge's frames.
        click(&client, "#tabs button[data-view='tuning']").await;
        wait_for(&client, "#tuning-detections tbody tr").await;
        wait_for(&client, "#tuning-zones tbody input[name='id']").await;
        let width = client.execute("return document.querySelector('#tuning-canvas').width", Vec::new()).await.unwrap();
        assert!(width.as_u64() > Some(0), "the canvas holds the edge's frame: {width}");
        click(&client, "#tuning-add").await;
        wait_for(&client, "#tuning-zones tbody tr[data-zone='1'].selected").await;
        client.execute(DRAG, vec![json!([0.3, 0.6]), json!([0.05, 0.3])]).await.unwrap();
        let rename = "const input = document.querySelector(\"#tuning-zones tr[data-zone='1'] input[name=id]\");
                      input.value = 'curb-b'; input.dispatchEvent(new Event('change'));";
        client.execute(rename, Vec::new()).await.unwrap();
        preview_until_case(&client, "all", logs).await;
        screenshot(&client, &shots, "27-tuning-on-a-center").await;
        save_tuning(&client).await;
        client.close().await.unwrap();
    });

    // Kept by the center, and run by the edge: its view (read through the center) has the new zone.
    let (status, zones) = get_json(&center, "/api/v1/cameras/truck-cam/zones");
    assert_eq!((status, &zones["source"], &zones["zones"][1]["id"]), (200, &json!("api"), &json!("curb-b")), "{zones}");
    common::wait_for(WAIT, logs, || {
        get_json(&center, "/api/v1/cameras/truck-cam/view").1["zones"][1]["id"] == "curb-b"
    });
    assert!(edge_process.log().contains("zones set on a center"), "{}", edge_process.log());
    assert!(shots.join("27-tuning-on-a-center.png").metadata().unwrap().len() > 10_000);
}
