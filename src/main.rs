//! `sharpeyes`: the command-line entry point. Only argument parsing and wiring live here; the stages
//! are the `sharpeyes-ingest`, `sharpeyes-inference` and `sharpeyes-alerting` crates.

mod config;
mod dataset;
mod detect;
mod plates;
mod reload;
mod run;
mod shutdown;
mod simcam;

use std::{path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use tracing_subscriber::EnvFilter;

/// Sharp Eyes camera network backend: RTSP and MQTT ingest, ONNX detectors, grid cases and alerting.
#[derive(Debug, Parser)]
#[command(name = "sharpeyes", version, about)]
struct Cli {
    /// Log filter (tracing's EnvFilter syntax), e.g. `info` or `sharpeyes_ingest=debug`.
    #[arg(long, global = true, env = "SHARPEYES_LOG", default_value = "info")]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the service: cameras, detector, rules, cases and the HTTP API.
    Run {
        /// Configuration file (TOML; see config/reference.toml).
        #[arg(long)]
        config: PathBuf,
        /// What this process does: everything on one box, an edge node near the cameras, or a center.
        #[arg(long, value_enum, env = "SHARPEYES_ROLE", default_value = "all")]
        role: run::Role,
        /// This node's name (default: cluster.node, $SHARPEYES_NODE, the host name); names its MQTT
        /// sessions and picks its cameras among the edge nodes.
        #[arg(long)]
        node: Option<String>,
    },
    /// Validate a configuration file; print every problem with its key path.
    CheckConfig {
        /// Configuration file.
        file: PathBuf,
    },
    /// Detect objects in image files; print JSON keyed by file name.
    Detect(detect::DetectArgs),
    /// Read licence plates in image files: text, score and corners of each.
    Plates(plates::PlatesArgs),
    /// Serve video files (looped) and still images as live H.264 RTSP cameras.
    Simcam(simcam::SimcamArgs),
    /// Write the frames behind verified and falsely detected camera cases as a YOLO dataset.
    ExportDataset(dataset::ExportDatasetArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_new(&cli.log).unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Run { config, role, node } => run::run(&config, role, node),
        Command::CheckConfig { file } => return check_config(&file),
        Command::Detect(args) => detect::detect(&args),
        Command::Plates(args) => plates::plates(&args),
        Command::Simcam(args) => simcam::simcam(&args),
        Command::ExportDataset(args) => dataset::export_dataset(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn check_config(file: &std::path::Path) -> ExitCode {
    match config::Config::load(file) {
        Ok(config) => {
            println!(
                "{}: ok ({} grids, {} cameras, {} zones, {} tokens)",
                file.display(),
                config.grids.len(),
                config.cameras.len(),
                config.cameras.iter().map(|c| c.zones.len()).sum::<usize>(),
                config.auth.tokens.len()
            );
            ExitCode::SUCCESS
        }
        Err(problems) => {
            for problem in &problems {
                println!("{problem}");
            }
            eprintln!("{}: {} problem(s)", file.display(), problems.len());
            ExitCode::FAILURE
        }
    }
}
