//! `sharpeyes export-dataset`: the analysed frames behind the camera cases operators decided on, as a
//! YOLO dataset in a directory ([`sharpeyes_alerting::casework::dataset`] lays it out), so that a
//! site-trained model can be made from real decisions.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use sharpeyes_alerting::{cases::evidence::EvidenceStore, casework::dataset};
use sharpeyes_inference::Manifest;

use crate::{config::Config, run::open_store};

/// `sharpeyes export-dataset`.
#[derive(Debug, clap::Args)]
pub struct ExportDatasetArgs {
    /// The service's configuration: its database, data directory and detector manifest (the classes).
    #[arg(long)]
    config: PathBuf,
    /// Cases opened at or after this moment (RFC 3339, or a UTC date YYYY-MM-DD).
    #[arg(long)]
    since: String,
    /// Cases opened before this moment (default: now).
    #[arg(long)]
    until: Option<String>,
    /// Where to write the dataset: a directory that does not exist yet or is empty.
    #[arg(long)]
    out: PathBuf,
}

/// Runs the command.
pub fn export_dataset(args: &ExportDatasetArgs) -> anyhow::Result<()> {
    let config = Config::load_or_explain(&args.config)?;
    let since = parse_moment("--since", &args.since)?;
    let until = args.until.as_deref().map(|until| parse_moment("--until", until)).transpose()?.unwrap_or_else(Utc::now);
    if since >= until {
        bail!("--since {since} is not before --until {until}");
    }
    let manifest = Manifest::load(&config.detector.manifest)
        .with_context(|| format!("detector.manifest: reading '{}'", config.detector.manifest.display()))?;
    check_empty(&args.out)?;
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let cases = runtime.block_on(async {
        let store = open_store(&config).await?;
        let cases = store.labelled_cases(since, until).await;
        store.close().await;
        anyhow::Ok(cases?)
    })?;
    let plan = dataset::plan(&cases, &manifest.classes, &EvidenceStore::new(&config.server.data_dir));
    plan.write_to_dir(&args.out)?;
    for reason in &plan.skipped {
        eprintln!("skipped: {reason}");
    }
    println!("{}: {} of cases opened {since} .. {until}", args.out.display(), plan.summary());
    Ok(())
}

/// An RFC 3339 moment, or a date as its UTC midnight; the error names the option.
fn parse_moment(option: &str, text: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(moment) = DateTime::parse_from_rfc3339(text) {
        return Ok(moment.with_timezone(&Utc));
    }
    match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        Ok(date) => Ok(date.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()),
        Err(_) => bail!("{option}: '{text}' is neither an RFC 3339 moment nor a date YYYY-MM-DD"),
    }
}

/// Refuses to write into a directory that already holds something: an export never mixes with
/// another or overwrites files.
fn check_empty(out: &Path) -> anyhow::Result<()> {
    match std::fs::read_dir(out) {
        Ok(mut entries) => match entries.next() {
            Some(_) => bail!("--out: '{}' is not empty", out.display()),
            None => Ok(()),
        },
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(error) => Err(error).with_context(|| format!("--out: reading '{}'", out.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_rfc3339_or_dates_and_bad_ones_are_named() {
        assert_eq!(parse_moment("--since", "2026-12-01").unwrap().to_rfc3339(), "2026-12-01T00:00:00+00:00");
        assert_eq!(
            parse_moment("--since", "2026-12-01T08:00:00+08:00").unwrap().to_rfc3339(),
            "2026-12-01T00:00:00+00:00"
        );
        let error = parse_moment("--until", "yesterday").unwrap_err().to_string();
        assert!(error.starts_with("--until: 'yesterday'"), "{error}");
    }
}
