//! No violation is lost when its evidence cannot be written: with the evidence folder on a full disk
//! (a 4 MiB tmpfs, filled up), a parked truck's violations are parked with their frames — listed,
//! counted, no case yet — and once space is freed and an admin asks for a retry, they become the case
//! with its evidence, every violation accounted for. Needs root (for the mount), as CI runs.

mod common;

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use common::*;
use serde_json::Value;

/// A tmpfs mounted for the test, unmounted when it ends.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let status = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("running mount");
        assert!(status.success(), "cannot mount a tmpfs at {} (this test needs root, as CI runs)", at.display());
        Self(at.to_path_buf())
    }

    /// Writes a file until the disk is full.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut file = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while file.write_all(&block).is_ok() {}
        let _ = file.sync_all();
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn post(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::blocking::Client::new().post(format!("{base}{path}")).bearer_auth(TOKEN).send().unwrap();
    (response.status().as_u16(), response.json().unwrap_or_default())
}

fn metrics(base: &str) -> String {
    String::from_utf8(get_bytes(base, "/metrics").1).unwrap()
}

fn truck_cases(base: &str) -> Vec<Value> {
    let (status, cases) = get_json(base, "/api/v1/cases");
    assert_eq!(status, 200);
    cases.as_array().unwrap().iter().filter(|case| case["camera"] == "truck-cam").cloned().collect()
}

#[test]
fn violations_whose_evidence_cannot_be_written_are_parked_then_filed() {
    let truck = media("images/000000009769.jpg");
    let (_simcam, urls) = start_simcam(&[("truck", &truck)]);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) =
        write_config(dir.path(), &[TestCamera { id: "truck-cam", url: &urls[0], decode: "keyframes" }], 6.0);
    let disk = SmallDisk::mount(&dir.path().join("data/evidence"), "4m");
    let filler = disk.fill();
    let service = start_service(&config, &base);

    // The truck's violations cannot be filed (no space for their evidence): parked, not lost.
    wait_for(
        Duration::from_secs(90),
        || service.log(),
        || metric(&metrics(&base), "sharpeyes_violations_parked ") >= 1.0,
    );
    std::thread::sleep(Duration::from_secs(2));
    let (status, parked) = get_json(&base, "/api/v1/parked");
    assert_eq!(status, 200, "{parked}");
    let parked = parked.as_array().unwrap().clone();
    assert!(!parked.is_empty());
    for violation in &parked {
        assert_eq!(
            (violation["source"].as_str(), violation["category"].as_str()),
            (Some("truck-cam"), Some("illegal_parking"))
        );
        let error = violation["last_error"].as_str().unwrap();
        assert!(error.contains("No space left"), "the cause is named: {error}");
    }
    assert!(truck_cases(&base).is_empty(), "no case without its evidence");
    let seen = metrics(&base);
    let confirmed = metric(&seen, "sharpeyes_violations_total{category=\"illegal_parking\"}");
    assert_eq!(metric(&seen, "sharpeyes_violations_parked_total{category=\"illegal_parking\"}"), confirmed);
    assert_eq!(parked.len() as f64, confirmed, "every confirmed violation is parked");

    // Space again; an admin retries: the parked violations become the case, evidence and all.
    std::fs::remove_file(filler).unwrap();
    let (status, body) = post(&base, "/api/v1/parked/retry");
    assert_eq!((status, body["due"].as_u64()), (200, Some(parked.len() as u64)), "{body}");
    wait_for(Duration::from_secs(30), || service.log(), || !truck_cases(&base).is_empty());
    wait_for(
        Duration::from_secs(30),
        || service.log(),
        || get_json(&base, "/api/v1/parked").1.as_array().is_some_and(Vec::is_empty),
    );
    let cases = truck_cases(&base);
    assert_eq!(cases.len(), 1, "{cases:#?}");
    let id = cases[0]["id"].as_i64().unwrap();
    let (status, detail) = get_json(&base, &format!("/api/v1/cases/{id}"));
    assert_eq!(status, 200);
    let objects = detail["objects"].as_array().unwrap().len();
    assert_eq!(objects as f64, confirmed, "each parked violation is an object of the case: {detail:#}");
    let (status, jpeg) = get_bytes(&base, &format!("/api/v1/cases/{id}/evidence/0"));
    assert_eq!(status, 200);
    assert_eq!(&jpeg[..2], [0xFF, 0xD8], "the evidence is a JPEG");
    let seen = metrics(&base);
    assert_eq!(metric(&seen, "sharpeyes_violations_parked "), 0.0);
    assert!(!seen.contains("sharpeyes_violations_lost_total{"), "nothing lost");
    drop(service);
    drop(disk);
}
