//! `sharpeyes export-dataset`: the analysed frames behind the camera cases operators decided on, in
//! YOLO format, so that a site-trained model can be made from real decisions. A verified case's frame
//! is a positive labelled with the object that opened it; a case voided as a false detection gives
//! its frame as a hard negative (an empty label file).
//!
//! ```text
//! OUT/images/<case>.jpg   the frame as the detector saw it (nothing drawn)
//! OUT/labels/<case>.txt   "class cx cy w h", normalised; empty for a hard negative
//! OUT/data.yaml           the manifest's classes, for Ultralytics-style trainers
//! OUT/manifest.csv        one row per image: case, camera, zone, category, decision, box
//! ```

use std::{
    fmt::Write as _,
    path::{Path, PathBuf},
};

use anyhow::{Context, bail};
use chrono::{DateTime, NaiveDate, Utc};
use sharpeyes_alerting::{cases::evidence::EvidenceStore, store::LabelledCase};
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

/// What an export wrote and left out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ExportSummary {
    /// Verified cases written with their object's label.
    pub positives: usize,
    /// False detections written with an empty label.
    pub hard_negatives: usize,
    /// Cases left out, each with why.
    pub skipped: Vec<String>,
}

/// Runs the command.
pub fn export_dataset(args: &ExportDatasetArgs) -> anyhow::Result<()> {
    let config = Config::load(&args.config).map_err(|problems| {
        let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
        anyhow::anyhow!("{}: invalid configuration:\n  {}", args.config.display(), list.join("\n  "))
    })?;
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
    let evidence = EvidenceStore::new(&config.server.data_dir);
    let summary = write_dataset(&cases, &manifest.classes, &evidence, &args.out)?;
    for reason in &summary.skipped {
        eprintln!("skipped: {reason}");
    }
    println!(
        "{}: {} images ({} verified positives, {} false-detection hard negatives) of cases opened {since} .. {until}; {} skipped",
        args.out.display(),
        summary.positives + summary.hard_negatives,
        summary.positives,
        summary.hard_negatives,
        summary.skipped.len()
    );
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

/// Writes `cases` into `out` (see the module's description); `classes` are the manifest's, in order.
pub fn write_dataset(
    cases: &[LabelledCase],
    classes: &[String],
    evidence: &EvidenceStore,
    out: &Path,
) -> anyhow::Result<ExportSummary> {
    let (images, labels) = (out.join("images"), out.join("labels"));
    for dir in [&images, &labels] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating '{}'", dir.display()))?;
    }
    let mut summary = ExportSummary::default();
    let mut manifest = String::from("image,case_id,camera,zone,category,decision,captured_at,class,x1,y1,x2,y2\n");
    for case in cases {
        let Some(class) = classes.iter().position(|name| *name == case.class) else {
            summary.skipped.push(format!("case {}: its object '{}' is not a class of the model", case.id, case.class));
            continue;
        };
        let Some(frame) = evidence.path_of(&case.frame_sha256).filter(|path| path.is_file()) else {
            summary
                .skipped
                .push(format!("case {}: its frame {} is not in the evidence store", case.id, case.frame_sha256));
            continue;
        };
        let image = format!("{}.jpg", case.id);
        std::fs::copy(&frame, images.join(&image)).with_context(|| format!("copying '{}'", frame.display()))?;
        let label = if case.verified {
            summary.positives += 1;
            yolo_line(class, case)
        } else {
            summary.hard_negatives += 1;
            String::new()
        };
        let label_file = labels.join(format!("{}.txt", case.id));
        std::fs::write(&label_file, label).with_context(|| format!("writing '{}'", label_file.display()))?;
        let decision = if case.verified { "verified" } else { "false_detection" };
        writeln!(
            manifest,
            "images/{image},{},{},{},{},{decision},{},{},{},{},{},{}",
            case.id,
            csv_field(&case.camera),
            csv_field(&case.zone),
            case.category,
            case.captured_at.to_rfc3339(),
            case.class,
            case.x1,
            case.y1,
            case.x2,
            case.y2
        )
        .expect("writing to a String does not fail");
    }
    std::fs::write(out.join("manifest.csv"), manifest).context("writing manifest.csv")?;
    std::fs::write(out.join("data.yaml"), data_yaml(classes)).context("writing data.yaml")?;
    Ok(summary)
}

/// One YOLO label line: the class index and the box's centre and size as shares of the frame.
fn yolo_line(class: usize, case: &LabelledCase) -> String {
    let (w, h) = (case.width as f64, case.height as f64);
    let (x1, x2) = (case.x1.clamp(0.0, w), case.x2.clamp(0.0, w));
    let (y1, y2) = (case.y1.clamp(0.0, h), case.y2.clamp(0.0, h));
    format!("{class} {:.6} {:.6} {:.6} {:.6}\n", (x1 + x2) / 2.0 / w, (y1 + y2) / 2.0 / h, (x2 - x1) / w, (y2 - y1) / h)
}

/// Camera and zone ids are free text: quoted when they hold a comma, a quote or a line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) { format!("\"{}\"", text.replace('"', "\"\"")) } else { text.to_owned() }
}

/// The dataset description Ultralytics-style trainers read; the names are JSON strings, which YAML
/// reads as they are.
fn data_yaml(classes: &[String]) -> String {
    let names: Vec<String> = classes.iter().map(|name| serde_json::Value::from(name.as_str()).to_string()).collect();
    format!(
        "# Written by sharpeyes export-dataset: frames of verified cases (labelled) and of false detections\n\
         # (empty labels, hard negatives). Split into train and val before training.\n\
         path: .\ntrain: images\nval: images\nnc: {}\nnames: [{}]\n",
        classes.len(),
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(id: i64, class: &str, verified: bool, sha: &str) -> LabelledCase {
        LabelledCase {
            id,
            camera: "gate, north".into(),
            zone: "curb".into(),
            category: "illegal_parking".into(),
            verified,
            frame_sha256: sha.into(),
            width: 640,
            height: 480,
            captured_at: DateTime::from_timestamp(1_767_225_600, 0).unwrap(),
            class: class.into(),
            x1: 64.0,
            y1: 48.0,
            x2: 704.0,
            y2: 240.0,
        }
    }

    #[test]
    fn positives_are_labelled_negatives_are_empty_and_the_rest_is_named() {
        let data = tempfile::tempdir().unwrap();
        let evidence = EvidenceStore::new(data.path());
        let sha = evidence.save(b"\xff\xd8 not really a jpeg").unwrap();
        let classes = ["person".to_owned(), "car".to_owned()];
        let cases = [
            case(1, "car", true, &sha),
            case(2, "car", false, &sha),
            case(3, "scene_change", true, &sha),
            case(4, "car", true, &"ab".repeat(32)),
        ];
        let out = tempfile::tempdir().unwrap();
        let summary = write_dataset(&cases, &classes, &evidence, out.path()).unwrap();
        assert_eq!((summary.positives, summary.hard_negatives), (1, 1));
        assert_eq!(summary.skipped.len(), 2, "{:?}", summary.skipped);
        assert!(summary.skipped[0].starts_with("case 3: its object 'scene_change'"));
        assert!(summary.skipped[1].starts_with("case 4: its frame"));
        // The box runs past the right edge: clamped to the frame.
        let label = std::fs::read_to_string(out.path().join("labels/1.txt")).unwrap();
        assert_eq!(label, "1 0.550000 0.300000 0.900000 0.400000\n");
        assert_eq!(std::fs::read_to_string(out.path().join("labels/2.txt")).unwrap(), "");
        assert_eq!(std::fs::read(out.path().join("images/2.jpg")).unwrap(), b"\xff\xd8 not really a jpeg");
        let manifest = std::fs::read_to_string(out.path().join("manifest.csv")).unwrap();
        assert_eq!(manifest.lines().count(), 3);
        assert!(
            manifest.contains("images/2.jpg,2,\"gate, north\",curb,illegal_parking,false_detection,"),
            "{manifest}"
        );
        let yaml = std::fs::read_to_string(out.path().join("data.yaml")).unwrap();
        assert!(yaml.contains("nc: 2\nnames: [\"person\", \"car\"]\n"), "{yaml}");
    }

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
