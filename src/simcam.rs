//! `sharpeyes simcam`: files served as live RTSP cameras until SIGINT/SIGTERM.

use std::{io::Write, net::SocketAddr};

use anyhow::Context;
use clap::Args;
use sharpeyes_ingest::{
    camera::Codec,
    simcam::{EncodeOptions, SimcamServer, StreamSpec},
};

/// Arguments of `sharpeyes simcam`.
#[derive(Debug, Args)]
pub struct SimcamArgs {
    /// Address to listen on (port 0 picks a free port; the URLs are printed).
    #[arg(long, default_value = "127.0.0.1:8554")]
    listen: SocketAddr,
    /// Output width (default: the source's, rounded down to even).
    #[arg(long)]
    width: Option<u32>,
    /// Output height (default: the source's, rounded down to even).
    #[arg(long)]
    height: Option<u32>,
    /// Frames per second.
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..=120))]
    fps: u32,
    /// Frames between key-frames.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=1000))]
    gop: u32,
    /// Encoder bitrate, kbit/s.
    #[arg(long, default_value_t = sharpeyes_ingest::simcam::DEFAULT_BITRATE_KBPS, value_parser = clap::value_parser!(u32).range(64..=100_000))]
    bitrate: u32,
    /// Codec: h264 or h265.
    #[arg(long, default_value = "h264", value_parser = parse_codec)]
    codec: Codec,
    /// Serve MP4 files already in the codec as they are (no re-encoding; played once, not looped).
    #[arg(long)]
    passthrough: bool,
    /// Streams as NAME=FILE (a video, looped, or a still image).
    #[arg(required = true, value_parser = StreamSpec::parse)]
    streams: Vec<StreamSpec>,
}

/// Serves the streams until the first SIGINT/SIGTERM. Prints one URL per stream on stdout when ready.
pub fn simcam(args: &SimcamArgs) -> anyhow::Result<()> {
    let options = EncodeOptions {
        width: args.width,
        height: args.height,
        fps: args.fps,
        gop: args.gop,
        bitrate_kbps: args.bitrate,
        codec: args.codec,
        passthrough: args.passthrough,
    };
    let server = SimcamServer::start(args.listen, &args.streams, options)?;
    let mut stdout = std::io::stdout().lock();
    for url in server.urls() {
        writeln!(stdout, "{url}")?;
    }
    stdout.flush()?;
    drop(stdout);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("tokio runtime")?;
    runtime.block_on(crate::shutdown::first_signal());
    drop(server);
    Ok(())
}

fn parse_codec(name: &str) -> Result<Codec, String> {
    match name {
        "h264" => Ok(Codec::H264),
        "h265" => Ok(Codec::H265),
        other => Err(format!("'{other}': expected h264 or h265")),
    }
}
