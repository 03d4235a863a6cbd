//! Camera capacity harness: how many 1080p H.264 RTSP cameras (25 fps, GOP 50: one key-frame every 2 s,
//! 3 Mbit/s, one no-parking zone each) one sharpeyes process on **one core** analyses on every
//! key-frame, counted at the detector.
//!
//! Nothing here flatters: the server is not sharpeyes' simcam but Debian's gst-rtsp-server library
//! (`benches/support/rtsp_server.c`, compiled here), in its own process pinned to the other core,
//! giving every camera its own mount, session and media pipeline, paced in real time. sharpeyes runs
//! pinned to core 0 (`taskset -c 0`). For each N of the sweep, after a warm-up, over a fixed window it
//! counts per camera the key-frames the server sent (the clip's GOP over the window), received, and
//! analysed by the detector (`sharpeyes_inference_frames_total`), and reports the share analysed (all
//! cameras, and the worst camera), the process's CPU per camera-second, its RSS and the RSS per added
//! camera, and the largest N with at least 95 % analysed. The baseline is how Frigate-style NVRs ingest:
//! one `ffmpeg -rtsp_transport tcp -i URL -f rawvideo -` per camera decoding every frame, pinned to the
//! same core against the same server; its CPU per camera-second is printed beside ours, with the ratio.
//!
//! `cargo bench --bench camera_capacity [-- N...]` (default sweep 25 50 75 100).

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use sha2::Digest;

const WARMUP: Duration = Duration::from_secs(20);
const WINDOW: Duration = Duration::from_secs(40);
const KEYFRAMES_PER_SECOND: f64 = 25.0 / 50.0;
const BASELINE_CAMERAS: usize = 4;
const TOKEN: &str = "capacity-bench";
/// Long enough for connection time, warm-up and window of the largest N (the server plays it once).
const CLIP_SECONDS: u32 = 150;
/// The share of key-frames that counts as keeping up.
const KEEP_UP: f64 = 0.95;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sharpeyes() -> &'static str {
    env!("CARGO_BIN_EXE_sharpeyes")
}

fn artifacts() -> PathBuf {
    let dir = root().join("artifacts/capacity");
    std::fs::create_dir_all(&dir).expect("artifacts directory");
    dir
}

/// The 1080p GOP-50 3 Mbit/s clip, made once from the shared media.
fn clip() -> PathBuf {
    let clip = artifacts().join(format!("traffic_1080p25_gop50_3M_{CLIP_SECONDS}s.mp4"));
    if !clip.exists() {
        eprintln!("making {} from media/traffic.mp4 ...", clip.display());
        let status = Command::new("ffmpeg")
            .args(["-y", "-loglevel", "error", "-stream_loop", "-1", "-i"])
            .arg(root().join("media/traffic.mp4"))
            .args(["-t", &CLIP_SECONDS.to_string(), "-vf", "scale=1920:1080,fps=25", "-c:v", "libx264"])
            .args(["-preset", "veryfast", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "6M"])
            .args(["-g", "50", "-keyint_min", "50", "-sc_threshold", "0", "-bf", "0"])
            .args(["-pix_fmt", "yuv420p", "-an"])
            .arg(&clip)
            .status()
            .expect("ffmpeg (scripts/setup.sh installs it)");
        assert!(status.success(), "ffmpeg failed");
    }
    clip
}

/// The gst-rtsp-server program, compiled from `benches/support/rtsp_server.c`.
fn rtsp_server_program() -> PathBuf {
    let program = artifacts().join("rtsp_server");
    let source = root().join("benches/support/rtsp_server.c");
    let flags = Command::new("pkg-config")
        .args(["--cflags", "--libs", "gstreamer-rtsp-server-1.0", "gstreamer-1.0"])
        .output()
        .expect("pkg-config (scripts/setup.sh installs it)");
    assert!(flags.status.success(), "pkg-config: gstreamer-rtsp-server-1.0 missing (libgstrtspserver-1.0-dev)");
    let flags = String::from_utf8(flags.stdout).unwrap();
    let status = Command::new("cc")
        .args(["-O2", "-o"])
        .arg(&program)
        .arg(&source)
        .args(flags.split_whitespace())
        .status()
        .expect("a C compiler (cc)");
    assert!(status.success(), "compiling {} failed", source.display());
    program
}

/// A child process killed when dropped.
struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The gst-rtsp-server program serving `cameras` mounts of the clip, pinned to core 1; returns it and
/// the URL of the server (mounts `/cam-000` ...).
fn start_server(program: &Path, clip: &Path, cameras: usize) -> (Process, String) {
    let port = free_port();
    let mut child = Command::new("taskset")
        .args(["-c", "1"])
        .arg(program)
        .args([port.to_string(), cameras.to_string()])
        .arg(clip)
        .stdout(Stdio::piped())
        .spawn()
        .expect("taskset and the RTSP server");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("the server's ready line");
    assert_eq!(line.trim(), "ready", "the RTSP server did not start");
    (Process(child), format!("rtsp://127.0.0.1:{port}"))
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

fn config(dir: &Path, cameras: usize, server: &str) -> (PathBuf, String) {
    let port = free_port();
    let mut text = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\ndata_dir = \"{data}\"\n\n[detector]\nmanifest = \"{manifest}\"\n\
         intra_threads = 1\n\n[[grids]]\ncode = \"110105001001001\"\nname = \"bench\"\n\n[[auth.tokens]]\n\
         name = \"bench\"\nrole = \"admin\"\nsha256 = \"{sha}\"\n",
        data = dir.join("data").display(),
        manifest = root().join("models/yolox_nano.toml").display(),
        sha = hex::encode(sha2::Sha256::digest(TOKEN.as_bytes())),
    );
    for i in 0..cameras {
        text.push_str(&format!(
            "\n[[cameras]]\nid = \"cam-{i:03}\"\nurl = \"{server}/cam-{i:03}\"\ngrid = \"110105001001001\"\n\
             [[cameras.zones]]\nid = \"curb\"\nkind = \"no_parking\"\n\
             polygon = [[0.0, 0.5], [1.0, 0.5], [1.0, 1.0], [0.0, 1.0]]\n"
        ));
    }
    let path = dir.join("capacity.toml");
    std::fs::write(&path, text).unwrap();
    (path, format!("http://127.0.0.1:{port}"))
}

/// Per camera: key-frames received (handed on or skipped) and frames dropped, from the API, and
/// frames analysed by the detector, from `/metrics`; and the number of cameras streaming and degraded
/// (streaming, but analysed less often than they ask).
struct Counts {
    received: HashMap<String, u64>,
    dropped: HashMap<String, u64>,
    analysed: HashMap<String, u64>,
    streaming: usize,
    degraded: usize,
}

fn counts(base: &str) -> Counts {
    let client = reqwest::blocking::Client::new();
    let cameras: serde_json::Value = client
        .get(format!("{base}/api/v1/cameras"))
        .bearer_auth(TOKEN)
        .send()
        .and_then(|r| r.json())
        .expect("GET /api/v1/cameras");
    let cameras = cameras.as_array().expect("a list of cameras");
    let by_camera = |read: &dyn Fn(&serde_json::Value) -> u64| {
        cameras.iter().map(|c| (c["id"].as_str().unwrap_or_default().to_owned(), read(c))).collect()
    };
    let received = by_camera(&|c| c["frames"].as_u64().unwrap_or(0) + c["frames_skipped"].as_u64().unwrap_or(0));
    let dropped = by_camera(&|c| c["frames_dropped"].as_u64().unwrap_or(0));
    let metrics = client.get(format!("{base}/metrics")).send().and_then(|r| r.text()).expect("GET /metrics");
    let analysed = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("sharpeyes_inference_frames_total{camera=\""))
        .filter_map(|rest| {
            let (camera, value) = rest.split_once("\"}")?;
            Some((camera.to_owned(), value.trim().parse().ok()?))
        })
        .collect();
    let in_state = |state: &str| cameras.iter().filter(|c| c["state"] == state).count();
    Counts { received, dropped, analysed, streaming: in_state("streaming"), degraded: in_state("degraded") }
}

fn delta(after: &HashMap<String, u64>, before: &HashMap<String, u64>, camera: &str) -> u64 {
    after.get(camera).copied().unwrap_or(0).saturating_sub(before.get(camera).copied().unwrap_or(0))
}

struct Measured {
    cameras: usize,
    streaming: usize,
    degraded: usize,
    received: u64,
    analysed: u64,
    dropped: u64,
    worst_camera_share: f64,
    cpu_s: f64,
    rss_kb: u64,
}

fn measure_sharpeyes(program: &Path, clip: &Path, cameras: usize) -> Measured {
    let (_server, url) = start_server(program, clip, cameras);
    let dir = tempfile::tempdir().unwrap();
    let (config, base) = config(dir.path(), cameras, &url);
    let child = Command::new("taskset")
        .args(["-c", "0"])
        .arg(sharpeyes())
        .args(["run", "--config"])
        .arg(&config)
        .env("SHARPEYES_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(artifacts().join(format!("sharpeyes-{cameras}.log"))).expect("service log"))
        .spawn()
        .expect("taskset and sharpeyes run");
    let service = Process(child);
    let pid = service.0.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while reqwest::blocking::get(format!("{base}/healthz")).is_err() {
        assert!(Instant::now() < deadline, "sharpeyes did not start");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(WARMUP);
    let before = counts(&base);
    let (cpu_0, _) = cpu_and_rss(pid);
    std::thread::sleep(WINDOW);
    let after = counts(&base);
    let (cpu_1, rss_kb) = cpu_and_rss(pid);
    let sent_per_camera = WINDOW.as_secs_f64() * KEYFRAMES_PER_SECOND;
    let ids: Vec<String> = (0..cameras).map(|i| format!("cam-{i:03}")).collect();
    let sum = |after: &HashMap<String, u64>, before: &HashMap<String, u64>| {
        ids.iter().map(|id| delta(after, before, id)).sum::<u64>()
    };
    let worst = ids.iter().map(|id| delta(&after.analysed, &before.analysed, id)).min().unwrap_or(0);
    Measured {
        cameras,
        streaming: after.streaming,
        degraded: after.degraded,
        received: sum(&after.received, &before.received),
        analysed: sum(&after.analysed, &before.analysed),
        dropped: sum(&after.dropped, &before.dropped),
        worst_camera_share: (worst as f64 / sent_per_camera).min(1.0),
        cpu_s: cpu_1 - cpu_0,
        rss_kb,
    }
}

/// CPU seconds of `cameras` ffmpeg processes decoding every frame, pinned to core 0, over the window.
fn measure_ffmpeg(program: &Path, clip: &Path, cameras: usize) -> f64 {
    let (_server, url) = start_server(program, clip, cameras);
    let log = artifacts().join("ffmpeg-baseline.log");
    let mut decoders = Vec::new();
    for i in 0..cameras {
        let stderr = std::fs::OpenOptions::new().create(true).append(true).open(&log).expect("baseline log");
        decoders.push(Process(
            Command::new("taskset")
                .args(["-c", "0", "ffmpeg", "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i"])
                .arg(format!("{url}/cam-{i:03}"))
                .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
                .stdout(Stdio::null())
                .stderr(stderr)
                .spawn()
                .expect("ffmpeg"),
        ));
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
    let sweep = if sweep.is_empty() { vec![25, 50, 75, 100] } else { sweep };
    let clip = clip();
    let program = rtsp_server_program();
    let window = WINDOW.as_secs_f64();
    let sent_per_camera = window * KEYFRAMES_PER_SECOND;

    let baseline_cpu = measure_ffmpeg(&program, &clip, BASELINE_CAMERAS) / (BASELINE_CAMERAS as f64 * window);
    println!(
        "camera capacity: 1080p25 H.264 3 Mbit/s, GOP 50, gst-rtsp-server (one session and media per camera) \
         on core 1, sharpeyes on core 0, window {window:.0} s"
    );
    println!(
        "baseline: {BASELINE_CAMERAS} x ffmpeg decoding every frame on core 0: {baseline_cpu:.4} CPU-s per \
         camera-second ({:.1} cameras per core)",
        1.0 / baseline_cpu
    );
    println!(
        "{:>5} {:>9} {:>8} {:>10} {:>10} {:>9} {:>8} {:>8} {:>12} {:>8} {:>8} {:>10}",
        "N",
        "streaming",
        "degraded",
        "sent/cam",
        "recv/cam",
        "analysed",
        "worst",
        "dropped",
        "ms CPU/cam-s",
        "RSS MB",
        "MB/cam",
        "vs ffmpeg"
    );
    let mut previous: Option<(usize, u64)> = None;
    let mut largest_keeping_up = None;
    for cameras in sweep {
        let m = measure_sharpeyes(&program, &clip, cameras);
        let per_camera_cpu = m.cpu_s / (m.cameras as f64 * window);
        let analysed_share = m.analysed as f64 / (sent_per_camera * m.cameras as f64);
        println!(
            "{:>5} {:>9} {:>8} {:>10.1} {:>10.1} {:>8.1}% {:>7.1}% {:>8} {:>12.1} {:>8.0} {:>8.2} {:>9.1}x",
            m.cameras,
            m.streaming,
            m.degraded,
            sent_per_camera,
            m.received as f64 / m.cameras as f64,
            analysed_share * 100.0,
            m.worst_camera_share * 100.0,
            m.dropped,
            per_camera_cpu * 1000.0,
            m.rss_kb as f64 / 1024.0,
            m.rss_kb as f64 / 1024.0 / m.cameras as f64,
            baseline_cpu / per_camera_cpu,
        );
        if let Some((n0, rss0)) = previous {
            let marginal = (m.rss_kb as f64 - rss0 as f64) / 1024.0 / (m.cameras - n0) as f64;
            println!("      RSS per added camera ({n0} -> {}): {marginal:.2} MB", m.cameras);
        }
        if analysed_share >= KEEP_UP && m.streaming + m.degraded == m.cameras {
            largest_keeping_up = Some(largest_keeping_up.map_or(m.cameras, |n: usize| n.max(m.cameras)));
        }
        previous = Some((m.cameras, m.rss_kb));
    }
    match largest_keeping_up {
        Some(n) => println!("largest N with >= {:.0} % of key-frames analysed on one core: {n}", KEEP_UP * 100.0),
        None => println!("no N of the sweep kept {:.0} % of key-frames analysed on one core", KEEP_UP * 100.0),
    }
}
