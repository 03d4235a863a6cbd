//! Shared helpers of the end-to-end tests: they run the real `sharpeyes` binary against a real RTSP
//! server (`sharpeyes simcam`), the real detector and a real SQLite database.

#![allow(dead_code)] // each test binary uses its own subset

use std::{
    io::{BufRead, BufReader},
    net::TcpListener,
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

/// The token every test configuration accepts (role admin).
pub const TOKEN: &str = "e2e-test-token";

/// Path of the built binary.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_sharpeyes")
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A shared media file (linked into the checkout by scripts/setup.sh).
pub fn media(relative: &str) -> PathBuf {
    let path = root().join("media").join(relative);
    assert!(path.exists(), "{} is missing: run scripts/setup.sh", path.display());
    path
}

/// A TCP port free right now on 127.0.0.1.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Hex SHA-256 of a token, as `[[auth.tokens]]` stores it.
pub fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(text.as_bytes()))
}

/// A child process that is killed when dropped, with its stderr collected.
pub struct Running {
    pub child: Child,
    pub stderr: Arc<Mutex<String>>,
    pub stdout_lines: Vec<String>,
}

impl Running {
    /// The stderr seen so far (ANSI colours removed).
    pub fn log(&self) -> String {
        strip_ansi(&self.stderr.lock().unwrap())
    }

    /// Sends SIGINT and waits for the exit; returns the status and how long it took.
    pub fn interrupt(&mut self) -> (ExitStatus, Duration) {
        let started = Instant::now();
        Command::new("kill").arg("-INT").arg(self.child.id().to_string()).status().unwrap();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return (status, started.elapsed());
            }
            assert!(started.elapsed() < Duration::from_secs(30), "the process ignored SIGINT");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn spawn(args: &[&str], stdout_lines_to_read: usize) -> Running {
    let mut child = Command::new(binary())
        .args(args)
        .current_dir(root())
        .env("SHARPEYES_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sharpeyes");
    let stderr = Arc::new(Mutex::new(String::new()));
    {
        let stderr = stderr.clone();
        let pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                let mut log = stderr.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
    }
    let mut stdout_lines = Vec::new();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    for _ in 0..stdout_lines_to_read {
        let mut line = String::new();
        if stdout.read_line(&mut line).unwrap() == 0 {
            let _ = child.wait();
            panic!("sharpeyes exited before printing its URLs:\n{}", strip_ansi(&stderr.lock().unwrap()));
        }
        stdout_lines.push(line.trim().to_owned());
    }
    Running { child, stderr, stdout_lines }
}

/// Starts `sharpeyes simcam` on a free port; returns it and the URL of each `(name, file)` stream.
pub fn start_simcam(streams: &[(&str, &Path)]) -> (Running, Vec<String>) {
    start_simcam_on(&format!("127.0.0.1:{}", free_port()), streams, &[])
}

/// Starts `sharpeyes simcam` on `listen` with extra options (`--gop 25`, `--codec h265`); returns it and
/// the URL of each `(name, file)` stream.
pub fn start_simcam_on(listen: &str, streams: &[(&str, &Path)], options: &[&str]) -> (Running, Vec<String>) {
    let specs: Vec<String> = streams.iter().map(|(name, path)| format!("{name}={}", path.display())).collect();
    let mut args = vec!["simcam", "--listen", listen];
    args.extend(options);
    if !options.contains(&"--gop") {
        args.extend(["--gop", "50"]);
    }
    args.extend(specs.iter().map(String::as_str));
    let running = spawn(&args, streams.len());
    let urls = running.stdout_lines.clone();
    (running, urls)
}

/// A camera of a test configuration.
pub struct TestCamera<'a> {
    pub id: &'a str,
    pub url: &'a str,
    pub decode: &'a str,
}

/// Writes a configuration with a full-frame no-parking zone on every camera; returns its path and
/// the HTTP base URL.
pub fn write_config(dir: &Path, cameras: &[TestCamera], min_dwell_s: f64) -> (PathBuf, String) {
    let port = free_port();
    let mut text = format!(
        r#"
[server]
listen = "127.0.0.1:{port}"
data_dir = "{data}"
# The tests poll the API faster than a person; the limiter has its own unit test.
rate_limit_per_s = 100000
rate_limit_burst = 100000
failed_logins_per_minute = 100000

{sections}"#,
        data = dir.join("data").display(),
        sections = test_sections(&min_dwell_s.to_string()),
    );
    for camera in cameras {
        let decode = match camera.decode {
            "sampled" => "decode = \"sampled\"\nsample_fps = 2.0".to_owned(),
            other => format!("decode = \"{other}\""),
        };
        text.push_str(&format!(
            r#"
[[cameras]]
id = "{id}"
url = "{url}"
grid = "110105001001001"
{decode}
  [[cameras.zones]]
  id = "all"
  kind = "no_parking"
  polygon = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]
"#,
            id = camera.id,
            url = camera.url,
        ));
    }
    let path = dir.join("sharpeyes.toml");
    std::fs::write(&path, text).unwrap();
    (path, format!("http://127.0.0.1:{port}"))
}

/// Starts `sharpeyes run` and waits until `/healthz` answers.
pub fn start_service(config: &Path, base: &str) -> Running {
    start_service_with(config, base, &[])
}

/// Starts `sharpeyes run` with more arguments (`--role`, `--node`) and waits until `/healthz` answers.
pub fn start_service_with(config: &Path, base: &str, more: &[&str]) -> Running {
    let config = config.display().to_string();
    let mut args = vec!["run", "--config", &config];
    args.extend(more);
    let running = spawn(&args, 0);
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client.get(format!("{base}/healthz")).send().is_err() {
        assert!(Instant::now() < deadline, "the service did not come up:\n{}", running.log());
        std::thread::sleep(Duration::from_millis(100));
    }
    running
}

/// GET with the test token; returns the status and the JSON body (`Null` when not JSON).
pub fn get_json(base: &str, path: &str) -> (u16, serde_json::Value) {
    let response = reqwest::blocking::Client::new().get(format!("{base}{path}")).bearer_auth(TOKEN).send().unwrap();
    let status = response.status().as_u16();
    (status, response.json().unwrap_or(serde_json::Value::Null))
}

/// `method` with the test token and `body` as JSON; returns the status and the JSON body (`Null` when
/// not JSON).
pub fn send_json(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    let mut request = reqwest::blocking::Client::new().request(method, format!("{base}{path}")).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

/// GET with the test token; returns the status and the raw body.
pub fn get_bytes(base: &str, path: &str) -> (u16, Vec<u8>) {
    let response = reqwest::blocking::Client::new().get(format!("{base}{path}")).bearer_auth(TOKEN).send().unwrap();
    (response.status().as_u16(), response.bytes().unwrap().to_vec())
}

/// The cameras of `GET /api/v1/cameras` by id.
pub fn cameras_by_id(base: &str) -> std::collections::HashMap<String, serde_json::Value> {
    let (status, cameras) = get_json(base, "/api/v1/cameras");
    assert_eq!(status, 200, "{cameras}");
    cameras.as_array().unwrap().iter().map(|c| (c["id"].as_str().unwrap().to_owned(), c.clone())).collect()
}

/// A private Mosquitto broker on a free port with persistence on disk, for tests that stop and
/// restart the broker (the shared one on 1883 must stay up for the others).
pub struct Broker {
    pub port: u16,
    config: PathBuf,
    process: Option<Child>,
}

impl Broker {
    /// Starts `mosquitto` in `dir` (made when missing) with `extra` lines added to its configuration
    /// (a TLS listener); without `extra` it listens on plain TCP.
    pub fn start(dir: &Path, extra: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let port = free_port();
        let config = dir.join("mosquitto.conf");
        let listener = if extra.is_empty() { format!("listener {port} 127.0.0.1\n") } else { String::new() };
        let text = format!(
            "{listener}{extra}allow_anonymous true\npersistence true\npersistence_location {}/\nautosave_interval 1\n",
            dir.display()
        )
        .replace("{port}", &port.to_string());
        std::fs::write(&config, text).unwrap();
        // Started as root, mosquitto drops to its own user, which must be able to save its database here.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
        let mut broker = Self { port, config, process: None };
        broker.launch();
        broker
    }

    fn launch(&mut self) {
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mosquitto (scripts/setup.sh installs it)");
        self.process = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "mosquitto did not start on {}", self.port);
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the broker with SIGTERM (it saves its sessions and queued messages).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.process.take() {
            Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts a stopped broker again on the same port and storage.
    pub fn start_again(&mut self) {
        self.launch();
    }

    /// Stops and starts the broker on the same port and storage.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Publishes each line as one QoS 1 message to `topic` on the broker at `port` (one client for all).
pub fn publish_lines(port: u16, topic: &str, lines: &[String], tls_ca: Option<&Path>) {
    let mut command = Command::new("mosquitto_pub");
    command.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-q", "1", "-t", topic, "-l"]);
    if let Some(ca) = tls_ca {
        command.arg("--cafile").arg(ca);
    }
    let mut child = command.stdin(Stdio::piped()).spawn().expect("mosquitto_pub");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        for line in lines {
            writeln!(stdin, "{line}").unwrap();
        }
    }
    assert!(child.wait().unwrap().success(), "mosquitto_pub failed");
}

/// Waits until `check` holds, polling every 100 ms; panics with `what` after `limit`.
pub fn wait_for(limit: Duration, what: impl Fn() -> String, mut check: impl FnMut() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < limit, "timed out waiting: {}", what());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The value of the first metric line starting with `line_start`.
pub fn metric(metrics: &str, line_start: &str) -> f64 {
    metrics
        .lines()
        .find(|l| l.starts_with(line_start))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {line_start} in metrics"))
}

/// Nanoseconds since the Unix epoch: unique names for topics and client ids.
pub fn nanos_since_epoch() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos()
}

/// Appends an `[mqtt]` section (client id and topic prefix both `prefix`) and `more` (sensors, rules)
/// to the configuration at `config`.
pub fn add_mqtt(config: &Path, url: &str, prefix: &str, more: &str) {
    let mut text = std::fs::read_to_string(config).unwrap();
    text.push_str(&format!("\n[mqtt]\nurl = \"{url}\"\nclient_id = \"{prefix}\"\nprefix = \"{prefix}\"\n{more}"));
    std::fs::write(config, text).unwrap();
}

/// A manhole-cover sensor `device` in grid 110105001001001 (at `location` when given) and the rule
/// that files a `manhole_cover` case when a cover is reported open.
pub fn manhole_sensor(device: &str, location: Option<[f64; 2]>) -> String {
    let location = location.map_or(String::new(), |[x, y]| format!("location = [{x}, {y}]"));
    format!(
        r#"
[[sensors]]
id = "{device}"
kind = "manhole_cover"
grid = "110105001001001"
{location}

[[rules.sensor]]
id = "cover-open"
kind = "manhole_cover"
field = "open"
equals = true
category = "manhole_cover"
"#
    )
}

/// A fresh PostgreSQL database on the local server (127.0.0.1:5432, trust auth), dropped at the end.
pub struct PostgresDatabase {
    name: String,
    /// Its connection URL.
    pub url: String,
}

impl PostgresDatabase {
    /// Creates `sharpeyes_<label>_<unique>`.
    pub fn create(label: &str) -> Self {
        let name = format!("sharpeyes_{label}_{}", nanos_since_epoch());
        psql(&format!("CREATE DATABASE {name}"));
        Self { url: format!("postgres://postgres@127.0.0.1:5432/{name}"), name }
    }
}

impl Drop for PostgresDatabase {
    fn drop(&mut self) {
        psql(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name));
    }
}

fn psql(command: &str) {
    let status = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test", "-v", "ON_ERROR_STOP=1", "-q", "-c", command])
        .status()
        .expect("psql (PostgreSQL's client; scripts/setup.sh installs and starts PostgreSQL)");
    assert!(status.success(), "psql -c {command:?} failed");
}

/// Points the configuration at `config` to PostgreSQL at `url` for its cases.
pub fn use_database(config: &Path, url: &str) {
    let text = std::fs::read_to_string(config).unwrap();
    std::fs::write(config, text.replacen("[server]\n", &format!("[server]\ndatabase = \"{url}\"\n"), 1)).unwrap();
}

/// A private PostgreSQL server for tests that stop and start it: `initdb` into a temporary directory,
/// run as the `postgres` user (PostgreSQL refuses root) on a free port of 127.0.0.1, trust auth.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// Its port.
    pub port: u16,
}

impl PrivatePostgres {
    /// Creates the cluster and starts the server.
    pub fn start() -> Self {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL's server binaries under /usr/lib/postgresql (scripts/setup.sh installs them)")
            .filter_map(|entry| Some(entry.ok()?.path().join("bin")))
            .filter(|bin| bin.join("initdb").exists())
            .max()
            .expect("an initdb under /usr/lib/postgresql/*/bin");
        let dir = tempfile::tempdir().unwrap();
        let status = Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()).status().unwrap();
        assert!(status.success(), "chown of the private PostgreSQL directory");
        let server = Self { dir, bin, port: free_port() };
        server.as_postgres("initdb", &["-D", &server.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8"]);
        server.start_server();
        server
    }

    fn data(&self) -> String {
        self.dir.path().join("data").display().to_string()
    }

    fn as_postgres(&self, tool: &str, args: &[&str]) {
        let output = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(tool))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("runuser {tool}: {e}"));
        assert!(output.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }

    /// Starts the server and waits until it accepts connections.
    pub fn start_server(&self) {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1", self.port, self.dir.path().display());
        let log = self.dir.path().join("server.log").display().to_string();
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-o", &options, "-l", &log, "-w", "start"]);
    }

    /// Stops the server (fast shutdown: connections are cut).
    pub fn stop_server(&self) {
        self.as_postgres("pg_ctl", &["-D", &self.data(), "-m", "fast", "-w", "stop"]);
    }

    /// The URL of its `postgres` database.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data();
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &data, "-m", "immediate", "-w", "stop"])
            .output();
    }
}

/// Reads one HTTP/1.1 request from `stream`: its headers (names in lower case) and body.
pub fn read_request(stream: &std::net::TcpStream) -> (std::collections::HashMap<String, String>, Vec<u8>) {
    use std::io::Read;
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut headers = std::collections::HashMap::new();
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
            break;
        }
        if let Some((name, value)) = line.trim_end().split_once(':') {
            headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    let length: usize = headers.get("content-length").map_or(0, |l| l.parse().unwrap());
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (headers, body)
}

/// A webhook receiver that answers 200 to everything; returns its URL and the JSON bodies taken.
pub fn start_webhook_receiver() -> (String, Arc<Mutex<Vec<serde_json::Value>>>) {
    use std::io::Write;
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let taken = Arc::new(Mutex::new(Vec::new()));
    let log = taken.clone();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let (_, body) = read_request(&stream);
            log.lock().unwrap().push(serde_json::from_slice(&body).unwrap_or_default());
            let _ = write!(stream, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, taken)
}

/// The text of a node's `/metrics` (empty when it does not answer).
pub fn metrics_of(base: &str) -> String {
    let response = reqwest::blocking::Client::new()
        .get(format!("{base}/metrics"))
        .timeout(Duration::from_secs(5))
        .send()
        .and_then(|r| r.text());
    response.unwrap_or_default()
}

/// Cameras an edge reports `streaming`.
pub fn streaming(base: &str) -> std::collections::HashSet<String> {
    metrics_of(base)
        .lines()
        .filter(|l| l.starts_with("sharpeyes_camera_state{") && l.contains("state=\"streaming\"") && l.ends_with(" 1"))
        .filter_map(|l| l.split("camera=\"").nth(1)?.split('"').next().map(str::to_owned))
        .collect()
}

/// A node's configuration: `shared` after its own listen port and data directory.
pub fn node_config(dir: &Path, shared: &str, name: &str) -> (PathBuf, String) {
    let port = free_port();
    let data = dir.join(name);
    let text = format!("[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{}\"\n{shared}", data.display());
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, text).unwrap();
    (path, format!("http://127.0.0.1:{port}"))
}

/// What every node of a test cluster shares, continuing each node's `[server]` section (see
/// [`node_config`]): the case database at `database` with no rate limit, the detector, grid
/// 110105001001001, parking confirmed after 2 s, edges `edge-0` and `edge-1` signing with the key in
/// `SHARPEYES_RELAY_SECRET`, the broker on `broker_port` under `prefix`, and the admin test token.
/// A test appends its own tables.
pub fn cluster_config(database: &str, broker_port: u16, prefix: &str) -> String {
    format!(
        r#"database = "{database}"
rate_limit_per_s = 100000
rate_limit_burst = 100000
{sections}
[cluster]
edges = ["edge-0", "edge-1"]
relay_secret_env = "SHARPEYES_RELAY_SECRET"

[mqtt]
url = "mqtt://127.0.0.1:{broker_port}"
client_id = "{prefix}"
prefix = "{prefix}"
"#,
        sections = test_sections("2.0"),
    )
}

/// What every test configuration holds after its `[server]` section: the detector, grid
/// 110105001001001, parking confirmed after `min_dwell_s` seconds (as written: tests edit the text),
/// and the admin test token.
fn test_sections(min_dwell_s: &str) -> String {
    format!(
        r#"
[detector]
manifest = "{manifest}"

[[grids]]
code = "110105001001001"
name = "test grid"

[rules.illegal_parking]
min_dwell_s = {min_dwell_s}

[[auth.tokens]]
name = "e2e"
role = "admin"
sha256 = "{sha}"
"#,
        manifest = root().join("models/yolox_nano.toml").display(),
        sha = sha256_hex(TOKEN),
    )
}
