//! `sharpeyes check-config` reports every problem with its key path.

mod common;

use std::process::Command;

use common::*;

#[test]
fn three_mistakes_are_all_reported_with_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.toml");
    std::fs::write(
        &path,
        r#"
[server]
listen = "127.0.0.1:8080"

[[grids]]
code = "110105001001001"

[[cameras]]
id = "cam-00"
url = "rtsp://127.0.0.1:8554/a"
grid = "110105001001001"

[[cameras]]
id = "cam-01"
url = "rtsp://127.0.0.1:8554/b"
grid = "110105001001001"
frame_rate = 5
  [[cameras.zones]]
  id = "np-1"
  kind = "no_parking"
  polygon = [[0.0, 0.5], [1.0, 0.5]]

[rules.illegal_parking]
min_dwell_s = 0
"#,
    )
    .unwrap();
    let output = Command::new(binary()).arg("check-config").arg(&path).output().unwrap();
    assert!(!output.status.success());
    let stdout = String::from_utf8(output.stdout).unwrap();
    for expected in [
        "cameras[1].frame_rate: unknown key",
        "cameras[1].zones[0].polygon: needs at least 3 corners",
        "rules.illegal_parking.min_dwell_s: must be positive",
    ] {
        assert!(stdout.contains(expected), "'{expected}' missing from:\n{stdout}");
    }
    assert_eq!(stdout.lines().count(), 3, "exactly the three problems:\n{stdout}");
}

#[test]
fn the_shipped_configurations_are_valid() {
    for file in ["config/demo.toml", "config/reference.toml"] {
        let output = Command::new(binary()).arg("check-config").arg(root().join(file)).output().unwrap();
        assert!(output.status.success(), "{file}: {}", String::from_utf8_lossy(&output.stdout));
    }
}

/// The text of `key: |` in a Kubernetes manifest (its block, four spaces in).
fn manifest_block(manifest: &str, key: &str) -> String {
    let text = std::fs::read_to_string(root().join(manifest)).unwrap();
    let start =
        text.lines().position(|l| l.trim() == format!("{key}: |")).unwrap_or_else(|| panic!("{key} in {manifest}"));
    text.lines()
        .skip(start + 1)
        .take_while(|l| l.is_empty() || l.starts_with("    "))
        .map(|l| l.strip_prefix("    ").unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_kubernetes_configuration_and_tokens_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    let tokens = dir.path().join("tokens.toml");
    std::fs::write(&tokens, manifest_block("deploy/kubernetes/secret.yaml", "tokens.toml")).unwrap();
    let config = manifest_block("deploy/kubernetes/configmap.yaml", "sharpeyes.toml")
        .replace("/etc/sharpeyes/secrets/tokens.toml", &tokens.display().to_string())
        .replace("/opt/sharpeyes/models/", &format!("{}/", root().join("models").display()));
    let path = dir.path().join("sharpeyes.toml");
    std::fs::write(&path, config).unwrap();
    let output = Command::new(binary())
        .arg("check-config")
        .arg(&path)
        .env("SHARPEYES_WEBHOOK_SECRET", "x")
        .env("SHARPEYES_RELAY_SECRET", "y")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("1 tokens"), "the Secret's token is added: {stdout}");
}
