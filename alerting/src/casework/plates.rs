//! Licence plates of parking cases (车过留牌), read off the camera path.
//!
//! When a parking case opens, or its vehicle is confirmed again while it is open, the case engine
//! [`offer`](PlateQueue::offer)s the confirming frame and the vehicle's box to a bounded queue and goes
//! on: the [`PlateWorker`] thread crops the vehicle (with a margin) from the key-frame at the camera's
//! own resolution (decoded again; a frame that keeps no key-frame as decoded) — not the frame scaled
//! for decoding or the detector's input — reads its plate, and records it with a crop of the plate as evidence
//! when the case has none yet or a lower-scoring one ([`Store::record_plate`]). A full queue drops the
//! offer, counted (`sharpeyes_plate_offers_dropped_total`): a slow reader never holds detection up,
//! and the vehicle is offered again at its next confirmation.
//!
//! [`erase_expired_plates`] erases the plate text of finished cases older than `retention_days`, and
//! the crop image when no other evidence uses it, each with a timeline step.

use std::{path::PathBuf, time::Instant};

use chrono::{DateTime, TimeDelta, Utc};
use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use image::RgbImage;
use prometheus::{Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry};
use serde::{Deserialize, Serialize};
use sharpeyes_inference::{
    BBox,
    plate::{PlateReader, VEHICLE_MARGIN, quad_bounds},
};
use sharpeyes_ingest::{Frame, Problem};
use tracing::{info, warn};

use crate::{
    cases::evidence::{EvidenceStore, encode_jpeg},
    store::{NewEvidence, Store},
};

/// `[plates]`: licence plates of parking cases.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlatesConfig {
    /// Read plates at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Text detector manifest.
    #[serde(default = "default_detector")]
    pub detector: PathBuf,
    /// Text recogniser manifest.
    #[serde(default = "default_recogniser")]
    pub recogniser: PathBuf,
    /// Readings scoring below this are not plates.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Vehicles waiting to be read, at most; more are dropped (and offered again later).
    #[serde(default = "default_queue")]
    pub queue: usize,
    /// Days after which a finished case's plate and crop are erased.
    #[serde(default = "default_retention_days")]
    pub retention_days: u32,
}

const fn yes() -> bool {
    true
}
fn default_detector() -> PathBuf {
    "models/plate_det.toml".into()
}
fn default_recogniser() -> PathBuf {
    "models/plate_rec.toml".into()
}
const fn default_min_score() -> f32 {
    sharpeyes_inference::plate::DEFAULT_MIN_SCORE
}
const fn default_queue() -> usize {
    32
}
const fn default_retention_days() -> u32 {
    30
}

impl Default for PlatesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            detector: default_detector(),
            recogniser: default_recogniser(),
            min_score: default_min_score(),
            queue: default_queue(),
            retention_days: default_retention_days(),
        }
    }
}

impl PlatesConfig {
    /// Every problem, with its key path.
    pub fn validate(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        if !(0.0..=1.0).contains(&self.min_score) {
            problems.push(Problem::at("plates.min_score", format!("{} is outside 0..=1", self.min_score)));
        }
        if !(1..=10_000).contains(&self.queue) {
            problems.push(Problem::at("plates.queue", format!("{} is outside 1..=10000", self.queue)));
        }
        if self.retention_days == 0 {
            problems.push(Problem::at("plates.retention_days", "must be at least 1"));
        }
        problems
    }
}

/// The plate reader's metrics.
#[derive(Clone)]
pub struct PlateMetrics {
    /// Vehicles read, by outcome: `recorded` (a new or better plate), `kept` (no better than the
    /// case's), `none` (no plate found), `failed` (an error, logged).
    pub reads_total: IntCounterVec,
    /// Offers dropped because the queue was full.
    pub offers_dropped_total: IntCounter,
    /// Seconds per vehicle read.
    pub read_seconds: Histogram,
}

impl PlateMetrics {
    /// Creates the metrics and registers them in `registry`.
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let metrics = Self {
            reads_total: IntCounterVec::new(
                Opts::new("sharpeyes_plate_reads_total", "Vehicles whose plate was read, by outcome"),
                &["outcome"],
            )?,
            offers_dropped_total: IntCounter::new(
                "sharpeyes_plate_offers_dropped_total",
                "Vehicles not read because the plate queue was full",
            )?,
            read_seconds: Histogram::with_opts(
                HistogramOpts::new("sharpeyes_plate_read_seconds", "Seconds to read one vehicle's plate")
                    .buckets(vec![0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2]),
            )?,
        };
        registry.register(Box::new(metrics.reads_total.clone()))?;
        registry.register(Box::new(metrics.offers_dropped_total.clone()))?;
        registry.register(Box::new(metrics.read_seconds.clone()))?;
        Ok(metrics)
    }
}

/// A vehicle of a case to read.
pub struct PlateOffer {
    /// The case.
    pub case_id: i64,
    /// The frame it was confirmed in.
    pub frame: Frame,
    /// Its box in the frame.
    pub bbox: BBox,
}

/// Where the case engine hands vehicles to the reader.
#[derive(Clone)]
pub struct PlateQueue {
    sender: Sender<PlateOffer>,
    metrics: PlateMetrics,
}

impl PlateQueue {
    /// Queues `offer`, or drops it (counted) when the queue is full; never waits.
    pub fn offer(&self, offer: PlateOffer) {
        match self.sender.try_send(offer) {
            Ok(()) => {}
            Err(TrySendError::Full(offer)) => {
                self.metrics.offers_dropped_total.inc();
                warn!(case = offer.case_id, "plate queue full: vehicle not read this time");
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// The thread that reads plates.
pub struct PlateWorker {
    reader: PlateReader,
    store: Store,
    evidence: EvidenceStore,
    metrics: PlateMetrics,
    runtime: tokio::runtime::Handle,
}

/// Share of the plate's size added on each side of its evidence crop.
const PLATE_MARGIN: f32 = 0.25;

impl PlateWorker {
    /// Starts the worker on its own thread, writing through `runtime`; returns the queue that feeds it.
    pub fn spawn(
        reader: PlateReader,
        store: Store,
        evidence: EvidenceStore,
        metrics: PlateMetrics,
        queue: usize,
        runtime: tokio::runtime::Handle,
    ) -> std::io::Result<PlateQueue> {
        let (sender, receiver) = bounded(queue);
        let worker = Self { reader, store, evidence, metrics: metrics.clone(), runtime };
        std::thread::Builder::new().name("plates".into()).spawn(move || worker.run(&receiver))?;
        Ok(PlateQueue { sender, metrics })
    }

    fn run(mut self, offers: &Receiver<PlateOffer>) {
        while let Ok(offer) = offers.recv() {
            let started = Instant::now();
            let outcome = match self.read(&offer) {
                Ok(outcome) => outcome,
                Err(error) => {
                    warn!(case = offer.case_id, error = %error, "plate reading failed");
                    "failed"
                }
            };
            self.metrics.read_seconds.observe(started.elapsed().as_secs_f64());
            self.metrics.reads_total.with_label_values(&[outcome]).inc();
        }
    }

    fn read(&mut self, offer: &PlateOffer) -> crate::Result<&'static str> {
        // The key-frame at the camera's own resolution, not as scaled for the cameras' decoding.
        let frame = offer
            .frame
            .at_full_resolution()
            .map_err(|error| crate::Error::FrameDecode { camera: offer.frame.camera.to_string(), error })?;
        // A view of the frame's own pixels: only the crops are copied.
        let Some(image) = FrameView::from_raw(frame.width, frame.height, &frame.rgb[..]) else {
            return Ok("failed");
        };
        let (sx, sy) = (frame.width as f32 / offer.frame.width as f32, frame.height as f32 / offer.frame.height as f32);
        let b = offer.bbox;
        let [x1, y1, x2, y2] = [b.x1 * sx, b.y1 * sy, b.x2 * sx, b.y2 * sy];
        let (mx, my) = ((x2 - x1) * VEHICLE_MARGIN, (y2 - y1) * VEHICLE_MARGIN);
        let vehicle = crop(&image, [x1 - mx, y1 - my, x2 + mx, y2 + my]);
        let plate = self.reader.read_vehicle(&vehicle.image).map_err(|err| crate::Error::Plate(err.to_string()))?;
        let Some(plate) = plate else { return Ok("none") };
        let [x0, y0, x1, y1] = quad_bounds(&plate.quad);
        let (x0, x1) = (x0 + vehicle.left as f32, x1 + vehicle.left as f32);
        let (y0, y1) = (y0 + vehicle.top as f32, y1 + vehicle.top as f32);
        let (px, py) = ((x1 - x0) * PLATE_MARGIN, (y1 - y0) * PLATE_MARGIN);
        let plate_crop = crop(&image, [x0 - px, y0 - py, x1 + px, y1 + py]).image;
        let jpeg = encode_jpeg(&plate_crop).map_err(|source| crate::Error::Evidence { case: offer.case_id, source })?;
        let sha256 = self.evidence.save(&jpeg)?;
        let evidence = NewEvidence {
            sha256,
            width: plate_crop.width(),
            height: plate_crop.height(),
            captured_at: frame.captured_at,
        };
        let recorded = self.runtime.block_on(self.store.record_plate(
            offer.case_id,
            &plate.text,
            f64::from(plate.score),
            &evidence,
            Utc::now(),
        ))?;
        if recorded {
            info!(case = offer.case_id, plate = %plate.text, score = plate.score, "plate read");
        }
        Ok(if recorded { "recorded" } else { "kept" })
    }
}

/// A frame's pixels, borrowed.
type FrameView<'a> = image::ImageBuffer<image::Rgb<u8>, &'a [u8]>;

/// A region cut from an image, with where it was.
struct Cut {
    image: RgbImage,
    left: u32,
    top: u32,
}

/// The part of `image` inside `[x0, y0, x1, y1]`, clipped to it (at least one pixel).
fn crop(image: &FrameView<'_>, [x0, y0, x1, y1]: [f32; 4]) -> Cut {
    let (w, h) = image.dimensions();
    let left = (x0.max(0.0) as u32).min(w.saturating_sub(1));
    let top = (y0.max(0.0) as u32).min(h.saturating_sub(1));
    let right = (x1.ceil().max(0.0) as u32).clamp(left + 1, w);
    let bottom = (y1.ceil().max(0.0) as u32).clamp(top + 1, h);
    let image = RgbImage::from_fn(right - left, bottom - top, |x, y| *image.get_pixel(left + x, top + y));
    Cut { image, left, top }
}

/// Erases the plates of finished cases opened more than `retention_days` before `now`, and their crop
/// images when no other evidence row uses them; returns how many.
pub async fn erase_expired_plates(
    store: &Store,
    evidence: &EvidenceStore,
    retention_days: u32,
    now: DateTime<Utc>,
) -> crate::Result<usize> {
    let before = now - TimeDelta::days(i64::from(retention_days));
    let erased = store.erase_plates(before, retention_days, now).await?;
    for plate in &erased {
        if let Some(sha256) = &plate.crop_sha256
            && !store.evidence_in_use(sha256).await?
        {
            evidence.remove(sha256)?;
        }
    }
    if !erased.is_empty() {
        info!(cases = erased.len(), retention_days, "plates of finished cases erased");
    }
    Ok(erased.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crops_are_clipped_to_the_image() {
        let pixels = vec![0u8; 100 * 50 * 3];
        let image = FrameView::from_raw(100, 50, &pixels[..]).unwrap();
        let cut = crop(&image, [-10.0, 40.0, 30.0, 80.0]);
        assert_eq!((cut.left, cut.top, cut.image.width(), cut.image.height()), (0, 40, 30, 10));
        let outside = crop(&image, [200.0, 200.0, 300.0, 300.0]);
        assert_eq!((outside.image.width(), outside.image.height()), (1, 1));
    }

    #[test]
    fn settings_out_of_range_are_named() {
        let config = PlatesConfig { min_score: 1.5, queue: 0, retention_days: 0, ..PlatesConfig::default() };
        let paths: Vec<String> = config.validate().into_iter().map(|p| p.path).collect();
        assert_eq!(paths, ["plates.min_score", "plates.queue", "plates.retention_days"]);
        assert!(PlatesConfig::default().validate().is_empty());
    }
}
