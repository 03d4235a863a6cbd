//! Operators' decisions as training data: the analysed frames behind camera cases that were verified
//! (positives, labelled with the object that opened the case and every other object the detector found
//! in the frame) or voided as false detections (hard negatives, empty label files), laid out as a YOLO dataset. One plan of files, written into a
//! directory by `sharpeyes export-dataset` and into a tar by `GET /api/v1/dataset`:
//!
//! ```text
//! images/<case>.jpg   the frame as the detector saw it (nothing drawn)
//! labels/<case>.txt   "class cx cy w h", normalised; empty for a hard negative
//! data.yaml           the manifest's classes, for Ultralytics-style trainers
//! manifest.csv        one row per image: case, camera, zone, category, decision, box
//! skipped.txt         the cases left out and why (only when there are some)
//! ```

use std::{
    io::{self, Write},
    path::{Path, PathBuf},
};

use sharpeyes_inference::BBox;

use crate::{cases::evidence::EvidenceStore, rules::FrameObject, store::LabelledCase};

/// What a file of the dataset holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Contents {
    /// A file of the evidence store, copied as it is.
    Copy(PathBuf),
    /// Text written by the export.
    Text(String),
}

/// One file of the dataset.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DatasetFile {
    /// Its path inside the dataset (`images/12.jpg`).
    pub name: String,
    /// What it holds.
    pub contents: Contents,
}

/// The dataset's files, and what went in and was left out.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DatasetPlan {
    /// Every file, images and labels first.
    pub files: Vec<DatasetFile>,
    /// Verified cases written with their object's label.
    pub positives: usize,
    /// False detections written with an empty label.
    pub hard_negatives: usize,
    /// Cases left out, each with why.
    pub skipped: Vec<String>,
}

/// The dataset of `cases` (from [`crate::store::Store::labelled_cases`]): their frames from `evidence`,
/// labels numbered by `classes` (the detector manifest's, in order).
pub fn plan(cases: &[LabelledCase], classes: &[String], evidence: &EvidenceStore) -> DatasetPlan {
    let mut plan = DatasetPlan::default();
    let mut manifest = csv::Writer::from_writer(Vec::new());
    let header =
        ["image", "case_id", "camera", "zone", "category", "decision", "captured_at", "class", "x1", "y1", "x2", "y2"];
    manifest.write_record(header).expect("CSV into a Vec");
    for case in cases {
        let Some(class) = classes.iter().position(|name| *name == case.class) else {
            plan.skipped.push(format!("case {}: its object '{}' is not a class of the model", case.id, case.class));
            continue;
        };
        let Some(frame) = evidence.path_of(&case.frame_sha256).filter(|path| path.is_file()) else {
            plan.skipped
                .push(format!("case {}: its frame {} is not in the evidence store", case.id, case.frame_sha256));
            continue;
        };
        let image = format!("images/{}.jpg", case.id);
        let (label, decision) = if case.verified {
            plan.positives += 1;
            (labels(class, case, classes), "verified")
        } else {
            plan.hard_negatives += 1;
            (String::new(), "false_detection")
        };
        let record = [
            image.clone(),
            case.id.to_string(),
            case.camera.clone(),
            case.zone.clone(),
            case.category.clone(),
            decision.to_owned(),
            case.captured_at.to_rfc3339(),
            case.class.clone(),
            case.x1.to_string(),
            case.y1.to_string(),
            case.x2.to_string(),
            case.y2.to_string(),
        ];
        manifest.write_record(record).expect("CSV into a Vec");
        plan.files.push(DatasetFile { name: image, contents: Contents::Copy(frame) });
        plan.files.push(DatasetFile { name: format!("labels/{}.txt", case.id), contents: Contents::Text(label) });
    }
    let manifest = String::from_utf8(manifest.into_inner().expect("CSV into a Vec")).expect("CSV of UTF-8 fields");
    plan.files.push(DatasetFile { name: "manifest.csv".into(), contents: Contents::Text(manifest) });
    plan.files.push(DatasetFile { name: "data.yaml".into(), contents: Contents::Text(data_yaml(classes)) });
    if !plan.skipped.is_empty() {
        let skipped = plan.skipped.iter().map(|reason| format!("{reason}\n")).collect();
        plan.files.push(DatasetFile { name: "skipped.txt".into(), contents: Contents::Text(skipped) });
    }
    plan
}

impl DatasetPlan {
    /// Writes every file under `out` (created when missing).
    pub fn write_to_dir(&self, out: &Path) -> io::Result<()> {
        for file in &self.files {
            let path = out.join(&file.name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            match &file.contents {
                Contents::Copy(source) => std::fs::copy(source, &path).map(drop),
                Contents::Text(text) => std::fs::write(&path, text),
            }
            .map_err(|error| io::Error::new(error.kind(), format!("writing '{}': {error}", path.display())))?;
        }
        Ok(())
    }

    /// Writes every file into a tar on `out`, returning `out` once the archive is finished.
    pub fn write_tar<W: Write>(&self, out: W) -> io::Result<W> {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Deterministic);
        for file in &self.files {
            match &file.contents {
                Contents::Copy(source) => tar.append_path_with_name(source, &file.name)?,
                Contents::Text(text) => {
                    let mut header = tar::Header::new_gnu();
                    header.set_size(text.len() as u64);
                    header.set_mode(0o644);
                    tar.append_data(&mut header, &file.name, text.as_bytes())?;
                }
            }
        }
        tar.into_inner()
    }

    /// One line for a person: how many images of each kind, how many cases left out.
    pub fn summary(&self) -> String {
        format!(
            "{} images ({} verified positives, {} false-detection hard negatives); {} skipped",
            self.positives + self.hard_negatives,
            self.positives,
            self.hard_negatives,
            self.skipped.len()
        )
    }
}

/// Least IoU at which an object of the frame, of the case's class, is the case's object itself.
const SAME_OBJECT_IOU: f32 = 0.9;

/// The label file of a verified case: its object (`class`), then every other object the detector found
/// in the frame whose class the model has. A frame kept before its objects were recorded gets the
/// case's object alone.
fn labels(class: usize, case: &LabelledCase, classes: &[String]) -> String {
    let size = (case.width as f64, case.height as f64);
    let own = BBox::new(case.x1 as f32, case.y1 as f32, case.x2 as f32, case.y2 as f32);
    let mut text = yolo_line(class, own, size);
    let others: Vec<FrameObject> =
        case.objects.as_deref().and_then(|json| serde_json::from_str(json).ok()).unwrap_or_default();
    for object in others {
        let Some(index) = classes.iter().position(|name| *name == object.class) else {
            continue;
        };
        if index == class && object.bbox.iou(&own) >= SAME_OBJECT_IOU {
            continue;
        }
        text.push_str(&yolo_line(index, object.bbox, size));
    }
    text
}

/// One YOLO label line: the class index and the box's centre and size as shares of the frame
/// (`size`, in pixels), the box clamped to the frame.
fn yolo_line(class: usize, bbox: BBox, (w, h): (f64, f64)) -> String {
    let (x1, x2) = (f64::from(bbox.x1).clamp(0.0, w), f64::from(bbox.x2).clamp(0.0, w));
    let (y1, y2) = (f64::from(bbox.y1).clamp(0.0, h), f64::from(bbox.y2).clamp(0.0, h));
    format!("{class} {:.6} {:.6} {:.6} {:.6}\n", (x1 + x2) / 2.0 / w, (y1 + y2) / 2.0 / h, (x2 - x1) / w, (y2 - y1) / h)
}

/// The dataset description Ultralytics-style trainers read; the names are JSON strings, which YAML
/// reads as they are.
fn data_yaml(classes: &[String]) -> String {
    let names: Vec<String> = classes.iter().map(|name| serde_json::Value::from(name.as_str()).to_string()).collect();
    format!(
        "# Written by sharpeyes: frames of verified cases (labelled) and of false detections (empty\n\
         # labels, hard negatives). Split into train and val before training.\n\
         path: .\ntrain: images\nval: images\nnc: {}\nnames: [{}]\n",
        classes.len(),
        names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use chrono::DateTime;

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
            objects: None,
        }
    }

    #[test]
    fn every_object_of_a_verified_frame_is_labelled_once_and_a_false_detection_stays_empty() {
        let data = tempfile::tempdir().unwrap();
        let evidence = EvidenceStore::new(data.path());
        let sha = evidence.save(b"\xff\xd8 a frame").unwrap();
        let classes = ["person".to_owned(), "car".to_owned(), "truck".to_owned()];
        let objects = serde_json::json!([
            // The case's own object, as the detector saw it: not labelled twice.
            { "class": "car", "bbox": { "x1": 64.0, "y1": 48.0, "x2": 700.0, "y2": 240.0 } },
            { "class": "person", "bbox": { "x1": 0.0, "y1": 240.0, "x2": 64.0, "y2": 480.0 } },
            // Another car elsewhere in the frame is a car too.
            { "class": "car", "bbox": { "x1": 320.0, "y1": 288.0, "x2": 640.0, "y2": 480.0 } },
            { "class": "kite", "bbox": { "x1": 0.0, "y1": 0.0, "x2": 10.0, "y2": 10.0 } },
        ])
        .to_string();
        let verified = LabelledCase { objects: Some(objects.clone()), ..case(1, "car", true, &sha) };
        let voided = LabelledCase { objects: Some(objects), ..case(2, "car", false, &sha) };
        let plan = plan(&[verified, voided], &classes, &evidence);
        let out = tempfile::tempdir().unwrap();
        plan.write_to_dir(out.path()).unwrap();
        let label = std::fs::read_to_string(out.path().join("labels/1.txt")).unwrap();
        assert_eq!(
            label,
            "1 0.550000 0.300000 0.900000 0.400000\n0 0.050000 0.750000 0.100000 0.500000\n1 0.750000 0.800000 0.500000 0.400000\n",
            "the case's car, the person and the other car; the kite is not a class of the model"
        );
        assert_eq!(std::fs::read_to_string(out.path().join("labels/2.txt")).unwrap(), "", "a hard negative");
    }

    #[test]
    fn positives_are_labelled_negatives_are_empty_and_the_rest_is_named_in_a_directory_and_a_tar() {
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
        let plan = plan(&cases, &classes, &evidence);
        assert_eq!(plan.summary(), "2 images (1 verified positives, 1 false-detection hard negatives); 2 skipped");
        assert!(plan.skipped[0].starts_with("case 3: its object 'scene_change'"), "{:?}", plan.skipped);
        assert!(plan.skipped[1].starts_with("case 4: its frame"), "{:?}", plan.skipped);

        let out = tempfile::tempdir().unwrap();
        plan.write_to_dir(out.path()).unwrap();
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
        assert_eq!(manifest.lines().nth(1).map(|l| l.starts_with("images/1.jpg,1,")), Some(true), "{manifest}");
        assert!(yaml.contains("nc: 2\nnames: [\"person\", \"car\"]\n"), "{yaml}");
        assert_eq!(std::fs::read_to_string(out.path().join("skipped.txt")).unwrap().lines().count(), 2);

        // The tar holds the same files with the same bytes.
        let tar = plan.write_tar(Vec::new()).unwrap();
        let mut archive = tar::Archive::new(tar.as_slice());
        let mut names = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let name = entry.path().unwrap().display().to_string();
            let mut bytes = Vec::new();
            io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
            assert_eq!(bytes, std::fs::read(out.path().join(&name)).unwrap(), "{name}");
            names.push(name);
        }
        let expected = [
            "images/1.jpg",
            "labels/1.txt",
            "images/2.jpg",
            "labels/2.txt",
            "manifest.csv",
            "data.yaml",
            "skipped.txt",
        ];
        assert_eq!(names, expected);
    }
}
