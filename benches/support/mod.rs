//! What the benches that run the real binary share.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};

/// The API token the benches' configurations accept (as a viewer).
pub const TOKEN: &str = "bench-token";

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Writes a configuration under `dir` (listener, data dir, `database` when given, the shipped
/// detector, a viewer token, then `more`), starts `sharpeyes run` on it and waits until it is ready;
/// returns it and its base URL.
pub fn start_service(dir: &Path, database: Option<&str>, more: &str) -> (Child, String) {
    let port = free_port();
    let database = database.map_or(String::new(), |url| format!("database = \"{url}\"\n"));
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{data}\"\nrate_limit_per_s = 1000000\n{database}\n[detector]\nmanifest = \"{manifest}\"\n\n\
         [[auth.tokens]]\nname = \"bench\"\nrole = \"viewer\"\nsha256 = \"{sha}\"\n{more}",
        data = dir.display(),
        manifest = root.join("models/yolox_nano.toml").display(),
        sha = hex::encode(Sha256::digest(TOKEN)),
    );
    let path = dir.join("bench.toml");
    std::fs::write(&path, config).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_sharpeyes"))
        .args(["run", "--config"])
        .arg(&path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::blocking::Client::new();
    let started = Instant::now();
    while !client.get(format!("{base}/readyz")).send().is_ok_and(|r| r.status().is_success()) {
        assert!(started.elapsed() < Duration::from_secs(300), "sharpeyes did not come up");
        std::thread::sleep(Duration::from_millis(200));
    }
    (child, base)
}

/// The value at `share` (0..=1) of sorted `values`.
pub fn percentile(sorted: &[f64], share: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * share).round() as usize]
}
