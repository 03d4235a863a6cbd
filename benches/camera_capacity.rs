//! Camera capacity harness: how many 1080p H.264 RTSP cameras (25 fps, GOP 50: one key-frame every 2 s)
//! one sharpeyes process analyses on every key-frame, on this machine, against a loopback RTSP server.
//!
//! The harness makes the stream from the shared traffic clip (`ffmpeg`, cached under
//! `artifacts/capacity/`), serves it with `sharpeyes simcam --passthrough` (no re-encoding, so the
//! server costs next to nothing), and for each N of the sweep runs `sharpeyes run` with N cameras on
//! it: after a warm-up it measures, over a fixed window, the key-frames analysed per camera against
//! those sent, frames dropped, the process's CPU seconds (from /proc) and its RSS. The baseline is how
//! Frigate-style NVRs ingest: one `ffmpeg -rtsp_transport tcp -i URL -f rawvideo -` per camera,
//! decoding every frame; its CPU per camera is printed beside ours, with the ratio.
//!
//! `cargo bench --bench camera_capacity [-- N...]` (default sweep 25 50 100 150).

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sha2::Digest;

const WARMUP: Duration = Duration::from_secs(15);
const WINDOW: Duration = Duration::from_secs(30);
const KEYFRAMES_PER_SECOND: f64 = 25.0 / 50.0;
const BASELINE_CAMERAS: usize = 4;
const TOKEN: &str = "capacity-bench";
/// Long enough for warm-up, window and connection time of the largest N.
const CLIP_SECONDS: u32 = 80;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sharpeyes() -> &'static str {
    env!("CARGO_BIN_EXE_sharpeyes")
}

/// The 1080p GOP-50 clip, made once from the shared media.
fn clip() -> PathBuf {
    let dir = root().join("artifacts/capacity");
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    let clip = dir.join("traffic_1080p25_gop50.mp4");
    if !clip.exists() {
        eprintln!("making {} from media/traffic.mp4 ...", clip.display());
        let status = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-stream_loop", "-1", "-i"])
            .arg(root().join("media/traffic.mp4"))
            .args(["-t", &CLIP_SECONDS.to_string(), "-vf", "scale=1920:1080,fps=25", "-c:v", "libx264"])
            .args(["-preset", "veryfast", "-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0"])
            .args(["-pix_fmt", "yuv420p", "-an"])
            .arg(&clip)
            .status()
            .expect("ffmpeg (scripts/setup.sh installs it)");
        assert!(status.success(), "ffmpeg failed");
    }
    clip
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `sharpeyes simcam --passthrough` serving the clip; returns it and the stream URL.
fn start_simcam(clip: &Path) -> (Process, String) {
    let mut child = Command::new(sharpeyes())
        .args(["simcam", "--listen", "127.0.0.1:0", "--passthrough"])
        .arg(format!("cam={}", clip.display()))
        .env("SHARPEYES_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("sharpeyes simcam");
    let mut url = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut url).expect("simcam URL");
    (Process(child), url.trim().to_owned())
}

/// CPU seconds (user + system) and resident memory of a process, from /proc.
fn cpu_and_rss(pid: u32) -> (f64, u64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (in ticks).
    let fields: Vec<&str> =
        stat.rsplit_once(')').map(|(_, rest)| rest.split_whitespace().collect()).unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    let cpu = (ticks(11) + ticks(12)) / clock_ticks_per_second();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let rss_kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0);
    (cpu, rss_kb)
}

/// Clock ticks per second of /proc's CPU times, asked of `getconf` once.
fn clock_ticks_per_second() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        let output = Command::new("getconf").arg("CLK_TCK").output().expect("getconf");
        String::from_utf8_lossy(&output.stdout).trim().parse().unwrap_or(100.0)
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn config(dir: &Path, cameras: usize, url: &str) -> (PathBuf, String) {
    let port = free_port();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{data}\"\n\n[detector]\nmanifest = \"{manifest}\"\n\
         intra_threads = 2\n\n[[grids]]\ncode = \"110105001001001\"\nname = \"bench\"\n\n[[auth.tokens]]\n\
         name = \"bench\"\nrole = \"admin\"\nsha256 = \"{sha}\"\n",
        data = dir.join("data").display(),
        manifest = root().join("models/yolox_nano.toml").display(),
        sha = hex::encode(sha2::Sha256::digest(TOKEN.as_bytes())),
    );
    for i in 0..cameras {
        text.push_str(&format!("\n[[cameras]]\nid = \"cam-{i:03}\"\nurl = \"{url}\"\ngrid = \"110105001001001\"\n"));
    }
    let path = dir.join("capacity.toml");
    std::fs::write(&path, text).unwrap();
    (path, format!("http://127.0.0.1:{port}"))
}

/// Frames handed on and frames dropped, summed over cameras, and the number of cameras streaming.
fn camera_totals(base: &str) -> (u64, u64, usize) {
    let cameras: serde_json::Value = reqwest::blocking::Client::new()
        .get(format!("{base}/api/v1/cameras"))
        .bearer_auth(TOKEN)
        .send()
        .and_then(|r| r.json())
        .expect("GET /api/v1/cameras");
    let cameras = cameras.as_array().expect("a list of cameras");
    let sum = |key: &str| cameras.iter().map(|c| c[key].as_u64().unwrap_or(0)).sum();
    (sum("frames"), sum("frames_dropped"), cameras.iter().filter(|c| c["state"] == "streaming").count())
}

struct Measured {
    cameras: usize,
    streaming: usize,
    analysed: u64,
    dropped: u64,
    cpu_s: f64,
    rss_kb: u64,
}

fn measure_sharpeyes(clip: &Path, cameras: usize) -> Measured {
    let (_simcam, url) = start_simcam(clip);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = config(dir.path(), cameras, &url);
    let child = Command::new(sharpeyes())
        .args(["run", "--config"])
        .arg(&config)
        .env("SHARPEYES_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("sharpeyes run");
    let service = Process(child);
    let pid = service.0.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "sharpeyes did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(WARMUP);
    let (frames_0, dropped_0, _) = camera_totals(&base);
    let (cpu_0, _) = cpu_and_rss(pid);
    std::thread::sleep(WINDOW);
    let (frames_1, dropped_1, streaming) = camera_totals(&base);
    let (cpu_1, rss_kb) = cpu_and_rss(pid);
    let dropped = dropped_1 - dropped_0;
    Measured {
        cameras,
        streaming,
        analysed: (frames_1 - frames_0).saturating_sub(dropped),
        dropped,
        cpu_s: cpu_1 - cpu_0,
        rss_kb,
    }
}

/// CPU seconds of `cameras` ffmpeg processes decoding every frame, over the window.
fn measure_ffmpeg(clip: &Path, cameras: usize) -> f64 {
    let (_simcam, url) = start_simcam(clip);
    let log = root().join("artifacts/capacity/ffmpeg-baseline.log");
    let mut decoders = Vec::new();
    for _ in 0..cameras {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("baseline log");
        decoders.push(Process(
            Command::new("ffmpeg")
                .args(["-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", &url])
                .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("ffmpeg"),
        ));
        // One client at a time, as cameras are added to an NVR.
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_secs(5));
    let total = |decoders: &[Process]| decoders.iter().map(|d| cpu_and_rss(d.0.id()).0).sum::<f64>();
    let cpu_0 = total(&decoders);
    std::thread::sleep(WINDOW);
    let cpu = total(&decoders) - cpu_0;
    for decoder in &mut decoders {
        let exited = decoder.0.try_wait().expect("ffmpeg status");
        assert!(exited.is_none(), "an ffmpeg baseline decoder exited early ({exited:?}); see {}", log.display());
    }
    cpu
}

fn main() {
    let sweep: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let sweep = if sweep.is_empty() { vec![25, 50, 100, 150] } else { sweep };
    let clip = clip();
    let window = WINDOW.as_secs_f64();
    let expected_per_camera = window * KEYFRAMES_PER_SECOND;

    let baseline_cpu = measure_ffmpeg(&clip, BASELINE_CAMERAS) / (BASELINE_CAMERAS as f64 * window);
    println!("camera capacity: 1080p25 H.264, GOP 50, loopback RTSP (simcam --passthrough), window {window:.0} s");
    println!(
        "baseline: {BASELINE_CAMERAS} x ffmpeg decoding every frame: {baseline_cpu:.4} CPU-s per camera-second \
         ({:.1} cameras per core)",
        1.0 / baseline_cpu
    );
    println!(
        "{:>5} {:>9} {:>16} {:>9} {:>8} {:>14} {:>9} {:>9} {:>10}",
        "N", "streaming", "keyframes/cam", "analysed", "dropped", "CPU-s/cam-s", "cores", "RSS MB", "vs ffmpeg"
    );
    let mut previous: Option<(usize, u64)> = None;
    for cameras in sweep {
        let m = measure_sharpeyes(&clip, cameras);
        let per_camera_cpu = m.cpu_s / (m.cameras as f64 * window);
        let analysed_share = m.analysed as f64 / (expected_per_camera * m.cameras as f64);
        println!(
            "{:>5} {:>9} {:>8.1}/{:<7.0} {:>8.1}% {:>8} {:>14.5} {:>9.2} {:>9.0} {:>9.1}x",
            m.cameras,
            m.streaming,
            m.analysed as f64 / m.cameras as f64,
            expected_per_camera,
            analysed_share * 100.0,
            m.dropped,
            per_camera_cpu,
            m.cpu_s / window,
            m.rss_kb as f64 / 1024.0,
            baseline_cpu / per_camera_cpu,
        );
        if let Some((n0, rss0)) = previous {
            let marginal = (m.rss_kb as f64 - rss0 as f64) / 1024.0 / (m.cameras - n0) as f64;
            println!("      RSS per added camera ({n0} -> {}): {marginal:.2} MB", m.cameras);
        }
        previous = Some((m.cameras, m.rss_kb));
    }
}
