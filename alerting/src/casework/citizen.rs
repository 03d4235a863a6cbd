//! Citizen reports (Open311 `POST requests`): a photo, a place and perhaps a category. The detector
//! looks at the photo and suggests the category from the classes each category watches for; the
//! report becomes a case whose source is `citizen`, with the photo (the suggesting box drawn) as its
//! evidence, linked as a duplicate when an open case of the category is near.

use std::{io::Cursor, sync::Mutex};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use image::{ImageReader, Limits, RgbImage, imageops::FilterType};
use serde::Serialize;
use sharpeyes_inference::{BBox, Detection, Detector};
use sharpeyes_ingest::Frame;

use crate::{
    Result,
    cases::{
        deadlines::DeadlinePolicy,
        duplicates::DuplicateRule,
        evidence::{self, EvidenceStore, OBJECT_COLOR},
        workflow::Status,
    },
    rules::Category,
    store::{NewCase, NewEvidence, NewObject, Store},
};

/// Largest side a photo may have, in pixels; larger ones (or decompression bombs) are refused.
pub const MAX_PHOTO_SIDE: u32 = 8192;
/// Most pixels a photo may have (40 MP: a 7680×5200 phone photo fits); the header is read first, so a
/// larger one is refused before anything is decoded.
pub const MAX_PHOTO_PIXELS: u64 = 40_000_000;
/// Most memory decoding one photo may take: the budget's pixels in RGBA, and some room.
const MAX_DECODE_BYTES: u64 = MAX_PHOTO_PIXELS * 4 + 16 * 1024 * 1024;
/// Photos are analysed and kept at most this wide.
const KEPT_WIDTH: u32 = 1920;

/// Why a photo was refused.
#[derive(Debug, thiserror::Error)]
pub enum PhotoError {
    /// Not an image the service reads (JPEG or PNG), or a broken one.
    #[error("not a JPEG or PNG image: {0}")]
    Unreadable(String),
    /// Larger than [`MAX_PHOTO_SIDE`] on a side, [`MAX_PHOTO_PIXELS`] in all, or the decoding memory limit.
    #[error(
        "the image is {width}x{height}: more than {MAX_PHOTO_SIDE} pixels on a side or {MAX_PHOTO_PIXELS} in all, or too large to decode"
    )]
    TooLarge {
        /// Its width, as its header gives it (0 when unknown).
        width: u32,
        /// Its height.
        height: u32,
    },
}

/// Decodes an uploaded photo within the size limits and scales it to at most [`KEPT_WIDTH`] wide.
pub fn decode_photo(bytes: &[u8]) -> Result<RgbImage, PhotoError> {
    let header = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| PhotoError::Unreadable(error.to_string()))?;
    let (width, height) = header.into_dimensions().map_err(|error| PhotoError::Unreadable(error.to_string()))?;
    if width > MAX_PHOTO_SIDE || height > MAX_PHOTO_SIDE || u64::from(width) * u64::from(height) > MAX_PHOTO_PIXELS {
        return Err(PhotoError::TooLarge { width, height });
    }
    let mut reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|error| PhotoError::Unreadable(error.to_string()))?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_PHOTO_SIDE);
    limits.max_image_height = Some(MAX_PHOTO_SIDE);
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    reader.limits(limits);
    let image = reader.decode().map_err(|error| match error {
        image::ImageError::Limits(_) => PhotoError::TooLarge { width, height },
        other => PhotoError::Unreadable(other.to_string()),
    })?;
    let image = if image.width() > KEPT_WIDTH {
        let height = (u64::from(image.height()) * u64::from(KEPT_WIDTH) / u64::from(image.width())).max(1) as u32;
        image.resize_exact(KEPT_WIDTH, height, FilterType::Triangle)
    } else {
        image
    };
    Ok(image.to_rgb8())
}

/// The category the detector suggests for a photo, and the detection it rests on.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Suggestion {
    /// The suggested category.
    pub category: Category,
    /// The detector class that suggested it.
    pub class: String,
    /// Its score.
    pub score: f32,
    /// Its box `[x1, y1, x2, y2]` in the kept photo's pixels.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
}

/// The detector shared by citizen reports, with the classes each category watches for.
pub struct PhotoAnalyser {
    detector: Mutex<Detector>,
    classes: Vec<(Category, Vec<String>)>,
}

impl std::fmt::Debug for PhotoAnalyser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PhotoAnalyser").field("classes", &self.classes).finish_non_exhaustive()
    }
}

impl PhotoAnalyser {
    /// An analyser with its own detector and, per category, the detector classes that stand for it.
    pub fn new(detector: Detector, classes: Vec<(Category, Vec<String>)>) -> Self {
        Self { detector: Mutex::new(detector), classes }
    }

    /// Runs the detector on `photo` (blocking: call it off the async workers).
    pub fn detect(&self, photo: &RgbImage) -> sharpeyes_inference::Result<Vec<Detection>> {
        let mut detector = self.detector.lock().unwrap_or_else(|poison| poison.into_inner());
        detector.detect(photo.as_raw(), photo.width(), photo.height())
    }

    /// The category of the best-scoring detection whose class one of the categories watches for.
    pub fn suggest(&self, detections: &[Detection]) -> Option<Suggestion> {
        detections
            .iter()
            .filter_map(|d| {
                let (category, _) = self.classes.iter().find(|(_, classes)| classes.iter().any(|c| **c == *d.class))?;
                Some(Suggestion {
                    category: *category,
                    class: d.class.to_string(),
                    score: d.score,
                    bbox: [d.bbox.x1, d.bbox.y1, d.bbox.x2, d.bbox.y2],
                })
            })
            .max_by(|a, b| a.score.total_cmp(&b.score))
    }
}

/// A citizen's report, checked and placed.
#[derive(Clone, Debug)]
pub struct CitizenReport {
    /// The category (given, or suggested by the detector).
    pub category: Category,
    /// The 15-digit grid it lies in.
    pub grid: String,
    /// `[longitude, latitude]`, when the report came with one (else it is placed by its grid only).
    pub location: Option<[f64; 2]>,
    /// What the citizen wrote, the address, the suggestion: kept as the case's detail.
    pub detail: serde_json::Value,
    /// Who filed it (the reporting application's token name).
    pub channel: String,
    /// The photo, if one came.
    pub photo: Option<RgbImage>,
    /// What the detector suggested, drawn on the evidence and kept as the case's object.
    pub suggestion: Option<Suggestion>,
    /// When it was received.
    pub received_at: DateTime<Utc>,
}

/// Where citizen reports go: the store, evidence files, the taxonomy and the duplicate rule.
#[derive(Clone, Debug)]
pub struct CitizenIntake {
    /// The case database.
    pub store: Store,
    /// Evidence files.
    pub evidence: EvidenceStore,
    /// Codes and urgencies.
    pub policy: DeadlinePolicy,
    /// Near reports of the same category are linked as duplicates.
    pub duplicates: DuplicateRule,
}

impl CitizenIntake {
    /// Opens the report's case (status `reported`: an operator verifies it) and returns its id.
    pub async fn file(&self, report: CitizenReport) -> Result<i64> {
        let category = report.category;
        let since = report.received_at - self.duplicates.window;
        let duplicate_of = match report.location {
            Some(location) => self.store.nearby_open_case(category.as_str(), location, since, &self.duplicates).await?,
            None => None,
        };
        let evidence = match report.photo.clone() {
            Some(photo) => vec![self.save_photo(photo, report.suggestion.clone(), report.received_at).await?],
            None => Vec::new(),
        };
        let object = report.suggestion.as_ref().filter(|s| s.category == category).map(|s| NewObject {
            class: s.class.clone(),
            score: s.score,
            bbox: s.bbox,
            first_seen_at: report.received_at,
            confirmed_at: report.received_at,
        });
        let entry = self.policy.taxonomy().entry(category);
        let case = NewCase {
            code: entry.code.clone(),
            category,
            camera: String::new(),
            zone: String::new(),
            grid: report.grid.clone(),
            status: Status::Reported,
            urgency: entry.urgency,
            source: "citizen".into(),
            device: report.channel.clone(),
            detail: Some(report.detail.to_string()),
            location: report.location,
            duplicate_of,
            first_seen_at: report.received_at,
            confirmed_at: report.received_at,
            opened_at: report.received_at,
            violation: None,
        };
        let id = self.store.insert_case(&case, object.as_ref(), &evidence).await?;
        tracing::info!(case = id, code = case.code, grid = %case.grid, channel = %report.channel, "case opened from a citizen report");
        Ok(id)
    }

    async fn save_photo(
        &self,
        photo: RgbImage,
        suggestion: Option<Suggestion>,
        received_at: DateTime<Utc>,
    ) -> Result<NewEvidence> {
        let store = self.evidence.clone();
        let (width, height) = photo.dimensions();
        let sha256 = tokio::task::spawn_blocking(move || {
            let frame = Frame::from_rgb("citizen".into(), received_at, width, height, Bytes::from(photo.into_raw()));
            let boxes: Vec<(BBox, image::Rgb<u8>)> = suggestion
                .map(|s| (BBox::new(s.bbox[0], s.bbox[1], s.bbox[2], s.bbox[3]), OBJECT_COLOR))
                .into_iter()
                .collect();
            let image = evidence::render(&frame, &[], &boxes);
            let jpeg = evidence::encode_jpeg(&image).map_err(|source| crate::Error::Evidence { case: 0, source })?;
            store.save(&jpeg)
        })
        .await
        .expect("evidence rendering does not panic")?;
        Ok(NewEvidence { sha256, width, height, captured_at: received_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = Vec::new();
        RgbImage::new(width, height).write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
        bytes
    }

    #[test]
    fn photos_are_decoded_within_limits_and_scaled_down() {
        let image = decode_photo(&png(3840, 2160)).unwrap();
        assert_eq!(image.dimensions(), (1920, 1080));
        assert_eq!(decode_photo(&png(640, 480)).unwrap().dimensions(), (640, 480));
        assert!(matches!(decode_photo(&png(9000, 10)), Err(PhotoError::TooLarge { .. })), "wider than the limit");
        let over_budget = decode_photo(&png(8000, 5001)).unwrap_err();
        assert!(matches!(over_budget, PhotoError::TooLarge { width: 8000, height: 5001 }), "40 MP at most");
        assert!(over_budget.to_string().contains("8000x5001"), "{over_budget}");
        assert!(matches!(decode_photo(b"GIF89a not really"), Err(PhotoError::Unreadable(_))));
    }

    #[test]
    fn a_decompression_bomb_is_refused_before_it_is_decoded() {
        // A PNG header claiming 60000x60000 pixels (10 GB of RGB) with hardly any data.
        let mut bytes = png(1, 1);
        bytes[16..20].copy_from_slice(&60000u32.to_be_bytes());
        bytes[20..24].copy_from_slice(&60000u32.to_be_bytes());
        assert!(matches!(decode_photo(&bytes), Err(PhotoError::TooLarge { .. } | PhotoError::Unreadable(_))));
    }
}
