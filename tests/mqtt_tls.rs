//! Sensor ingest over TLS (`mqtts://`): a private Mosquitto with a certificate signed by a test CA;
//! sharpeyes verifies the broker against `mqtt.ca_file`.

mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().expect("openssl");
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA and a server certificate for 127.0.0.1, signed by it.
fn make_certificates(dir: &Path) {
    std::fs::write(dir.join("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n").unwrap();
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=sharpeyes test CA",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    );
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    for file in ["ca.pem", "server.pem", "server.key"] {
        std::fs::set_permissions(dir.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
    }
}

#[test]
fn sensors_arrive_over_tls_verified_against_the_configured_ca() {
    let dir = tempfile::tempdir().unwrap();
    let broker_dir = dir.path().join("broker");
    std::fs::create_dir_all(&broker_dir).unwrap();
    make_certificates(&broker_dir);
    let tls = format!(
        "listener {{port}} 127.0.0.1\ncafile {d}/ca.pem\ncertfile {d}/server.pem\nkeyfile {d}/server.key\n",
        d = broker_dir.display()
    );
    let broker = Broker::start(&broker_dir, &tls);
    let prefix = format!("se-tls-{}", nanos_since_epoch());

    let (config, base) = write_config(dir.path(), &[], 300.0);
    let more = format!(
        "ca_file = \"{}\"\n{}",
        broker_dir.join("ca.pem").display(),
        r#"
[[sensors]]
id = "noise-1"
kind = "noise"
grid = "110105001001001"
"#
    );
    add_mqtt(&config, &format!("mqtts://127.0.0.1:{}", broker.port), &prefix, &more);
    let service = start_service(&config, &base);
    wait_for(Duration::from_secs(20), || service.log(), || service.log().contains("MQTT connected"));
    assert!(service.log().contains("tls=true"), "{}", service.log());

    let topic = format!("{prefix}/sensors/noise-1/noise");
    publish_lines(broker.port, &topic, &[r#"{"db": 71.5}"#.to_owned()], Some(&broker_dir.join("ca.pem")));
    wait_for(
        Duration::from_secs(20),
        || service.log(),
        || {
            let (_, sensors) = get_json(&base, "/api/v1/sensors");
            sensors.as_array().is_some_and(|s| s.iter().any(|s| s["device"] == "noise-1" && s["reading"]["db"] == 71.5))
        },
    );
}
