//! Objects left in a zone (遗留物: rubbish bags, cardboard, rubble, piled materials) found without a
//! litter model: a part of the ground that changed and then stayed changed, not explained by a person
//! or a vehicle.
//!
//! Each watched zone is cut into small cells (40 across its longer side), each sampled as a 6 x 6
//! brightness [patch](super::patch) and compared on structure, so that lighting (dusk, a passing
//! shadow, headlights) changes nothing. Every cell keeps two backgrounds (Porikli et al., 2008):
//! - the **long-term** one, what the cell looks like when nothing is there; it learns slowly
//!   (`long_term`) and only while the cell matches it, so nothing left there is ever learned;
//! - the **short-term** one, a running average over `short_term`: what stood there lately.
//!
//! A cell whose view differs from the long-term background but matches the short-term one holds
//! something new that now stands still. Once such a cell has differed for the zone's dwell time and
//! stands still, uncovered, the connected changed cells around it are one blob (the parts of a pile
//! settle a few seconds apart); a blob at least `min_area` of the frame is one violation, `litter`
//! (0102) or, above `large_area`, `stacking` (0507), with the frame before it appeared and the frame
//! now as evidence, its box outlined. A blob that the box of a person or a vehicle (`explained_by`)
//! covered in more than a quarter of the frames since it changed is explained by them: a person
//! standing still (missed by the detector now and then) or a parked vehicle is not something left
//! behind (parking is the parking rule's business), while a car passing beside a pile now and then
//! does not hide it. A cell is only learned once it was seen uncovered, so a vehicle parked when the
//! service starts leaves no ghost; and something there when watching began that is then taken away is
//! told from something left by the edges along its outline, and learned as background rather than
//! reported. A reported blob stays claimed until most of its cells match the long-term background
//! again (the object is gone): that is reported too, as [`ObjectCleared`].

use std::{collections::HashSet, sync::Arc};

use chrono::{DateTime, FixedOffset, TimeDelta, Utc};
use sharpeyes_inference::{BBox, FrameDetections};
use sharpeyes_ingest::Frame;
use tracing::info;

use super::violation::before_picture;
use super::{
    CameraViolation, Category, ObjectCleared, Violation, Zone, ZoneKind,
    patch::{Samples, Structure},
};

/// The class reported for an object left behind.
pub const STATIC_OBJECT_CLASS: &str = "static_object";
/// Samples across a cell, each way.
const SIDE: usize = 6;
/// Cells across the zone's longer side.
const CELLS_ACROSS: f32 = 40.0;
/// A cell whose brightness spreads less than this (0..255) is flat: compression noise is all it has.
const FLAT: f32 = 4.0;
/// A sample this much brighter or darker (0..255) than the long-term background's differs from it,
/// when telling something left from something taken away.
const FOREGROUND: f32 = 25.0;
/// Changed cells this many cells apart (or closer) belong to one blob.
const REACH: isize = 2;
/// A blob whose cells a person's or vehicle's box covered in more than this share of the frames
/// since they changed is explained by them (a person standing still, missed now and then).
const EXPLAINED: f32 = 0.25;
/// Frames in a row a changed cell must match its long-term background again to count as clear.
const CLEAR_FRAMES: u8 = 2;
/// Share of a reported blob's cells that must be clear for the object to count as gone.
const GONE_SHARE: f32 = 0.7;
/// A person's or vehicle's box is grown by this share of its size each way before it covers cells
/// (boxes are tight, shadows and carried things are not).
const EXPLAIN_MARGIN: f32 = 0.1;
/// Blob ids start here, so that they never equal a tracker's ids in the same zone.
const FIRST_BLOB_ID: u64 = 1 << 48;

/// Settings of the static-object rule.
#[derive(Clone, Debug, PartialEq)]
pub struct StaticObjectConfig {
    /// Zone kinds the rule watches (`no_dumping`, and `construction_watch` where configured).
    pub kinds: Vec<ZoneKind>,
    /// How long a blob must stand still, unless its zone sets its own dwell time.
    pub min_dwell: TimeDelta,
    /// Time constant of the short-term background.
    pub short_term: TimeDelta,
    /// Time constant of the long-term background (slow drift: foliage, dirt, seasons).
    pub long_term: TimeDelta,
    /// Least box area of a blob, as a share of the frame.
    pub min_area: f64,
    /// A blob above this share of the frame is `stacking`, below it `litter`.
    pub large_area: f64,
    /// A cell whose structure correlates less than this (0..=1) with a background differs from it.
    pub similarity: f32,
    /// Detector classes whose boxes explain a change (people and vehicles).
    pub explained_by: Vec<String>,
    /// Least detector score of such a box.
    pub explain_min_score: f32,
    /// Whether a case being handled is reported handled (`report_handled`) when the camera sees its
    /// object gone; otherwise only its timeline says so (`cleared_seen`).
    pub report_handled_when_cleared: bool,
    /// The city's offset from UTC, for zone schedules.
    pub utc_offset: FixedOffset,
}

impl Default for StaticObjectConfig {
    fn default() -> Self {
        Self {
            kinds: vec![ZoneKind::NoDumping],
            min_dwell: TimeDelta::minutes(5),
            short_term: TimeDelta::seconds(30),
            long_term: TimeDelta::minutes(10),
            min_area: 0.002,
            large_area: 0.03,
            similarity: 0.5,
            explained_by: ["person", "bicycle", "car", "motorcycle", "bus", "truck"].map(String::from).to_vec(),
            explain_min_score: 0.25,
            report_handled_when_cleared: false,
            utc_offset: FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset"),
        }
    }
}

/// One cell of a zone's grid and its two backgrounds.
#[derive(Debug)]
struct Cell {
    /// The cell's box in frame pixels.
    bbox: BBox,
    /// What the cell looks like with nothing left there; none until it was seen uncovered.
    long_term: Option<Samples<SIDE>>,
    /// What stood there lately.
    short_term: Samples<SIDE>,
    /// What the cell looks like in the latest frame.
    latest: Samples<SIDE>,
    /// Since when the cell has differed from its long-term background.
    differs_since: Option<DateTime<Utc>>,
    /// Frames seen since then, and how many of them a person's or vehicle's box covered it in.
    seen: u32,
    covered: u32,
    /// The zone's latest frame before the cell began to differ (compact until it is reported).
    before: Option<Frame>,
    /// Frames in a row that matched the long-term background.
    matched: u8,
    /// Whether a reported blob holds the cell.
    claimed: bool,
}

impl Cell {
    /// Whether the cell matches its long-term background again (or never differed).
    fn is_clear(&self) -> bool {
        self.before.is_none()
    }
}

/// A blob reported as a violation, watched until it is gone.
#[derive(Debug)]
struct Reported {
    cells: Vec<usize>,
    /// The violation's id, box and category, for the clearing.
    id: u64,
    bbox: BBox,
    category: Category,
}

/// A zone's grid of cells over its bounding box in one frame size.
#[derive(Debug)]
struct Grid {
    size: (u32, u32),
    columns: usize,
    /// Row by row; none where the cell's centre is not watched (outside the zone or in a mask).
    cells: Vec<Option<Cell>>,
}

#[derive(Debug)]
struct WatchedZone {
    zone: Zone,
    grid: Option<Grid>,
    last_seen: Option<(DateTime<Utc>, Frame)>,
    reported: Vec<Reported>,
}

/// The static-object rule of one camera's zones.
#[derive(Debug)]
pub struct StaticObjectRule {
    config: Arc<StaticObjectConfig>,
    zones: Vec<WatchedZone>,
    next_blob: u64,
}

impl StaticObjectRule {
    /// The rule for the camera's zones of the configured kinds.
    pub fn new(config: Arc<StaticObjectConfig>, zones: &[Zone]) -> Self {
        let zones = zones
            .iter()
            .filter(|zone| config.kinds.contains(&zone.kind))
            .map(|zone| WatchedZone { zone: zone.clone(), grid: None, last_seen: None, reported: Vec::new() })
            .collect();
        Self { config, zones, next_blob: FIRST_BLOB_ID }
    }

    /// Whether the camera has a zone to watch.
    pub fn is_active(&self) -> bool {
        !self.zones.is_empty()
    }

    /// Compares one analysed frame with each zone's backgrounds; returns the objects it confirms and
    /// those it sees gone.
    pub fn observe(&mut self, analysed: &FrameDetections) -> Vec<Violation> {
        let frame = &analysed.frame;
        let explaining: Vec<BBox> = analysed
            .detections
            .iter()
            .filter(|d| {
                d.score >= self.config.explain_min_score && self.config.explained_by.iter().any(|c| **c == *d.class)
            })
            .map(|d| grown(&d.bbox))
            .collect();
        let mut violations = Vec::new();
        for watched in &mut self.zones {
            if !watched.zone.is_active_at(frame.captured_at, self.config.utc_offset) {
                continue;
            }
            let (changed, still) = watched.update(&self.config, frame, &explaining);
            violations.extend(watched.release_gone(&self.config, frame).into_iter().map(Violation::Cleared));
            let grid = watched.grid.as_ref().expect("update built the grid");
            // A blob is what changed, connected; it is reported once a part of it has stood still for
            // the dwell time, whole (the parts of a pile settle a few seconds apart, and the edges of
            // some flicker).
            let settled: Vec<Vec<usize>> = blobs(grid, &changed)
                .into_iter()
                .filter(|blob| blob.iter().any(|index| still.contains(index)))
                .collect();
            for blob in settled {
                if let Some(violation) = watched.report(&self.config, frame, blob, self.next_blob) {
                    self.next_blob += 1;
                    violations.push(Violation::from(violation));
                }
            }
            watched.last_seen = Some((frame.captured_at, frame.compact()));
        }
        violations
    }
}

impl WatchedZone {
    /// Brings every cell up to `frame`; returns the indices of the cells no blob claims that differ
    /// from their long-term background, uncovered, and of those among them that are static.
    fn update(
        &mut self,
        config: &StaticObjectConfig,
        frame: &Frame,
        explaining: &[BBox],
    ) -> (Vec<usize>, HashSet<usize>) {
        if self.grid.as_ref().is_none_or(|grid| grid.size != (frame.width, frame.height)) {
            // First frame, or the camera's resolution changed: start again.
            self.grid = Some(Grid::of(&self.zone, frame.width, frame.height));
            self.reported.clear();
        }
        let at = frame.captured_at;
        let elapsed = self.last_seen.as_ref().map_or(TimeDelta::MAX, |(seen, _)| at - *seen);
        let (short_weight, long_weight) = (weight(elapsed, config.short_term), weight(elapsed, config.long_term));
        let dwell = self.zone.min_dwell.unwrap_or(config.min_dwell);
        let previous = self.last_seen.as_ref().map(|(_, frame)| frame);
        let grid = self.grid.as_mut().expect("built above");
        let (mut changed, mut still_cells) = (Vec::new(), HashSet::new());
        for (index, cell) in grid.cells.iter_mut().enumerate() {
            let Some(cell) = cell else { continue };
            let view = Samples::<SIDE>::of(frame, &cell.bbox);
            cell.latest = view;
            let covered = explaining.iter().any(|bbox| covers(bbox, &cell.bbox));
            let Some(long_term) = &mut cell.long_term else {
                if !covered {
                    cell.long_term = Some(view);
                }
                cell.short_term = view;
                continue;
            };
            let (now, long) = (view.structure(), long_term.structure());
            let differs = |background: &Structure<SIDE>| background.differs(&now, config.similarity, FLAT);
            let (differs_long, differs_short) = (differs(&long), differs(&cell.short_term.structure()));
            cell.short_term.blend(&view, short_weight);
            if differs_long {
                cell.matched = 0;
                if cell.before.is_none() {
                    cell.before = Some(previous.unwrap_or(frame).compact());
                }
            } else {
                long_term.blend(&view, long_weight);
                cell.matched = cell.matched.saturating_add(1);
                if cell.matched >= CLEAR_FRAMES {
                    cell.before = None;
                    cell.differs_since = None;
                }
            }
            if differs_long && cell.differs_since.is_none() {
                (cell.differs_since, cell.seen, cell.covered) = (Some(at), 0, 0);
            }
            if cell.claimed || cell.differs_since.is_none() {
                continue;
            }
            cell.seen += 1;
            cell.covered += u32::from(covered);
            changed.push(index);
            let still = differs_long && !differs_short && !covered;
            if still && cell.differs_since.is_some_and(|since| at - since >= dwell) {
                still_cells.insert(index);
            }
        }
        (changed, still_cells)
    }

    /// Forgets the reported blobs whose object is gone (most of their cells match the long-term
    /// background again), so that something left there later is reported again; returns each as
    /// cleared in `frame`.
    fn release_gone(&mut self, config: &StaticObjectConfig, frame: &Frame) -> Vec<ObjectCleared> {
        let Some(grid) = &mut self.grid else { return Vec::new() };
        let mut cleared = Vec::new();
        self.reported.retain(|blob| {
            let cell = |index: &usize| grid.cells[*index].as_ref().expect("a blob holds watched cells");
            let clear = blob.cells.iter().filter(|index| cell(index).is_clear()).count();
            let gone = clear as f32 >= GONE_SHARE * blob.cells.len() as f32;
            if gone {
                blob.cells.iter().for_each(|index| {
                    grid.cells[*index].as_mut().expect("a blob holds watched cells").claimed = false;
                });
                cleared.push(ObjectCleared {
                    camera: frame.camera.clone(),
                    zone: self.zone.id.clone(),
                    zone_points: self.zone.points.clone(),
                    category: blob.category,
                    track_id: blob.id,
                    bbox: blob.bbox,
                    seen_at: frame.captured_at,
                    frame: frame.clone(),
                    report_handled: config.report_handled_when_cleared,
                    receipt: None,
                });
            }
            !gone
        });
        cleared
    }

    /// The violation of `blob` (cell indices) as blob `id`, claiming its cells; none when it is too
    /// small for the rule or the zone.
    fn report(
        &mut self,
        config: &StaticObjectConfig,
        frame: &Frame,
        blob: Vec<usize>,
        id: u64,
    ) -> Option<CameraViolation> {
        let grid = self.grid.as_mut().expect("reported blobs come from the grid");
        let cells: Vec<&Cell> = blob.iter().map(|index| grid.cells[*index].as_ref().expect("a watched cell")).collect();
        let bbox = cells.iter().map(|cell| cell.bbox).reduce(|a, b| a.union(&b)).expect("a blob has a cell");
        let (seen, covered) =
            cells.iter().fold((0, 0), |(seen, covered), cell| (seen + cell.seen, covered + cell.covered));
        let first_seen = cells.iter().filter_map(|cell| cell.differs_since).min().unwrap_or(frame.captured_at);
        let before = cells
            .iter()
            .filter_map(|cell| cell.before.as_ref())
            .min_by_key(|frame| frame.captured_at)
            .and_then(before_picture);
        // How much of the blob's box its cells fill: a solid object scores high, a scatter low.
        let cell_area: f32 = cells.iter().map(|cell| cell.bbox.area()).sum();
        let share = f64::from(bbox.area()) / (f64::from(frame.width) * f64::from(frame.height));
        if share < config.min_area || !self.zone.area_fits(share) {
            return None;
        }
        if covered as f32 > EXPLAINED * seen as f32 {
            // A person or a vehicle stood there most of the time: no object left.
            return None;
        }
        if grid.taken_away(&blob) {
            info!(
                camera = %frame.camera, zone = %self.zone.id, bbox = ?bbox.to_array(),
                "something that stood there when watching began was taken away: its place is background now"
            );
            grid.learn(&blob);
            return None;
        }
        let score = (cell_area / bbox.area().max(1.0)).min(1.0);
        for index in &blob {
            grid.cells[*index].as_mut().expect("a watched cell").claimed = true;
        }
        let category = if share > config.large_area { Category::Stacking } else { Category::Litter };
        self.reported.push(Reported { cells: blob, id, bbox, category });
        Some(CameraViolation {
            camera: frame.camera.clone(),
            zone: self.zone.id.clone(),
            zone_points: self.zone.points.clone(),
            category,
            track_id: id,
            class: Arc::from(STATIC_OBJECT_CLASS),
            score,
            bbox,
            zone_boxes: vec![bbox],
            first_seen,
            confirmed_at: frame.captured_at,
            frame: frame.clone(),
            before,
            frame_objects: Vec::new(),
            receipt: None,
        })
    }
}

impl Grid {
    /// Whether `blob` is something taken away rather than left (Tian et al., 2005): along the outline
    /// of what differs from the long-term background, the picture now has weaker edges than the
    /// background has. An object's edges are where it meets the ground, in the picture only while the
    /// object is there; when something that stood there since watching began is taken away, its edges
    /// are in the background and the picture now shows bare ground.
    fn taken_away(&self, blob: &[usize]) -> bool {
        let rows = self.cells.len() / self.columns;
        let (rows_of, columns_of) = (blob.iter().map(|i| i / self.columns), blob.iter().map(|i| i % self.columns));
        let (top, bottom) = (rows_of.clone().min().unwrap_or(0).saturating_sub(1), rows_of.max().unwrap_or(0) + 1);
        let (left, right) =
            (columns_of.clone().min().unwrap_or(0).saturating_sub(1), columns_of.max().unwrap_or(0) + 1);
        let (bottom, right) = (bottom.min(rows - 1), right.min(self.columns - 1));
        // The samples of the blob's cells and a ring of cells around it, as two pictures: now and the
        // long-term background. NaN where the zone is not watched.
        let width = (right - left + 1) * SIDE;
        let height = (bottom - top + 1) * SIDE;
        let (mut now, mut long) = (vec![f32::NAN; width * height], vec![f32::NAN; width * height]);
        for row in top..=bottom {
            for column in left..=right {
                let Some(cell) = &self.cells[row * self.columns + column] else { continue };
                let background = cell.long_term.as_ref().unwrap_or(&cell.latest);
                for (y, (line_now, line_long)) in cell.latest.0.iter().zip(&background.0).enumerate() {
                    let at = ((row - top) * SIDE + y) * width + (column - left) * SIDE;
                    now[at..at + SIDE].copy_from_slice(line_now);
                    long[at..at + SIDE].copy_from_slice(line_long);
                }
            }
        }
        // What differs: a flat object on flat ground differs inside although only its rim's cells
        // changed structure.
        let differs: Vec<bool> = now.iter().zip(&long).map(|(now, long)| (now - long).abs() > FOREGROUND).collect();
        let gradient = |picture: &[f32], i: usize| {
            let (x, y) = (i % width, i / width);
            let across = if x > 0 && x + 1 < width { (picture[i + 1] - picture[i - 1]).abs() } else { 0.0 };
            let down = if y > 0 && y + 1 < height { (picture[i + width] - picture[i - width]).abs() } else { 0.0 };
            if (across + down).is_nan() { 0.0 } else { across + down }
        };
        let on_outline = |i: usize| {
            let (x, y) = (i % width, i / width);
            differs[i]
                && [
                    (x > 0, i.wrapping_sub(1)),
                    (x + 1 < width, i + 1),
                    (y > 0, i.wrapping_sub(width)),
                    (y + 1 < height, i + width),
                ]
                .into_iter()
                .any(|(exists, neighbour)| exists && !differs[neighbour])
        };
        let (mut edges_now, mut edges_before) = (0.0, 0.0);
        for i in (0..width * height).filter(|i| on_outline(*i)) {
            edges_now += gradient(&now, i);
            edges_before += gradient(&long, i);
        }
        edges_now < edges_before
    }

    /// Makes the latest view of `blob`'s cells their long-term background.
    fn learn(&mut self, blob: &[usize]) {
        for index in blob {
            let Some(cell) = self.cells[*index].as_mut() else { continue };
            cell.long_term = Some(cell.latest);
            (cell.before, cell.differs_since, cell.matched) = (None, None, CLEAR_FRAMES);
        }
    }

    /// Square cells over the zone's bounding box in a `width` x `height` frame.
    fn of(zone: &Zone, width: u32, height: u32) -> Self {
        let (width_px, height_px) = (f64::from(width), f64::from(height));
        let [left, top, right, bottom] = zone.bounds();
        let (left, right, top, bottom) = (left * width_px, right * width_px, top * height_px, bottom * height_px);
        let side = ((right - left).max(bottom - top) / f64::from(CELLS_ACROSS)).max(SIDE as f64);
        let columns = ((right - left) / side).ceil().max(1.0) as usize;
        let rows = ((bottom - top) / side).ceil().max(1.0) as usize;
        let cells = (0..rows * columns)
            .map(|index| {
                let (x0, y0) = (left + (index % columns) as f64 * side, top + (index / columns) as f64 * side);
                let (x1, y1) = ((x0 + side).min(width_px), (y0 + side).min(height_px));
                zone.watches((x0 + x1) / 2.0 / width_px, (y0 + y1) / 2.0 / height_px).then(|| Cell {
                    bbox: BBox::new(x0 as f32, y0 as f32, x1 as f32, y1 as f32),
                    long_term: None,
                    short_term: Samples([[0.0; SIDE]; SIDE]),
                    latest: Samples([[0.0; SIDE]; SIDE]),
                    differs_since: None,
                    seen: 0,
                    covered: 0,
                    before: None,
                    matched: 0,
                    claimed: false,
                })
            })
            .collect();
        Self { size: (width, height), columns, cells }
    }
}

/// The share (0..=1) a running average with time constant `constant` moves after `elapsed`.
fn weight(elapsed: TimeDelta, constant: TimeDelta) -> f32 {
    let ratio = elapsed.as_seconds_f64() / constant.as_seconds_f64().max(f64::MIN_POSITIVE);
    (1.0 - (-ratio.max(0.0)).exp()) as f32
}

/// `bbox` grown by [`EXPLAIN_MARGIN`] of its size each way.
fn grown(bbox: &BBox) -> BBox {
    let (dx, dy) = ((bbox.x2 - bbox.x1) * EXPLAIN_MARGIN, (bbox.y2 - bbox.y1) * EXPLAIN_MARGIN);
    BBox::new(bbox.x1 - dx, bbox.y1 - dy, bbox.x2 + dx, bbox.y2 + dy)
}

/// Whether `bbox` covers at least half of `cell`.
fn covers(bbox: &BBox, cell: &BBox) -> bool {
    2.0 * bbox.intersection_area(cell) >= cell.area()
}

/// The groups of `cells` (indices into `grid`'s cells) that lie within [`REACH`] cells of each other
/// (a gap of one cell, where an object's edge happens to match the background, does not split it).
fn blobs(grid: &Grid, cells: &[usize]) -> Vec<Vec<usize>> {
    let mut left: std::collections::BTreeSet<usize> = cells.iter().copied().collect();
    let mut found = Vec::new();
    while let Some(start) = left.pop_first() {
        let mut blob = vec![start];
        let mut next = 0;
        while let Some(&index) = blob.get(next) {
            next += 1;
            let (row, column) = ((index / grid.columns) as isize, (index % grid.columns) as isize);
            let reach = -REACH..=REACH;
            for (dr, dc) in reach.clone().flat_map(|dr| reach.clone().map(move |dc| (dr, dc))) {
                let (r, c) = (row + dr, column + dc);
                if r < 0 || c < 0 || c >= grid.columns as isize {
                    continue;
                }
                let neighbour = r as usize * grid.columns + c as usize;
                if left.remove(&neighbour) {
                    blob.push(neighbour);
                }
            }
        }
        found.push(blob);
    }
    found
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use image::{RgbImage, imageops};
    use sharpeyes_inference::Detection;

    use super::*;

    fn image(name: &str) -> RgbImage {
        let path = format!("{}/../media/images/{name}.jpg", env!("CARGO_MANIFEST_DIR"));
        image::open(&path)
            .unwrap_or_else(|err| panic!("{path}: {err} (scripts/setup.sh links the shared media)"))
            .to_rgb8()
    }

    /// The snowy street photo, the scene every test watches: a pickup with a snowplow in the middle,
    /// the snowy road in front of it (the zone is the lower 60 %).
    fn street() -> RgbImage {
        image("000000009769")
    }

    /// The bags on the ground of the airport photo, cut out and scaled to `width` x `height`: a real
    /// object to leave on the street.
    fn bags(width: u32, height: u32) -> RgbImage {
        let airport = image("000000009891");
        let cut = imageops::crop_imm(&airport, 333, 267, 160, 113).to_image();
        imageops::resize(&cut, width, height, imageops::FilterType::Triangle)
    }

    fn at(second: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-23T10:00:00+08:00").unwrap().to_utc() + TimeDelta::seconds(second)
    }

    fn analysed(second: i64, picture: &RgbImage, detections: Vec<Detection>) -> FrameDetections {
        let (width, height) = picture.dimensions();
        let frame = Frame::from_rgb("cam".into(), at(second), width, height, Bytes::from(picture.as_raw().clone()));
        FrameDetections { frame, detections }
    }

    fn box_of(class: &str, bbox: BBox) -> Detection {
        Detection { class_id: 0, class: class.into(), score: 0.8, bbox }
    }

    fn with(object: &RgbImage, x: i64, y: i64) -> RgbImage {
        let mut picture = street();
        imageops::overlay(&mut picture, object, x, y);
        picture
    }

    fn rule() -> StaticObjectRule {
        let zone = Zone::new("curb", ZoneKind::NoDumping, vec![[0.0, 0.4], [1.0, 0.4], [1.0, 1.0], [0.0, 1.0]]);
        let config = StaticObjectConfig {
            min_dwell: TimeDelta::seconds(60),
            short_term: TimeDelta::seconds(10),
            ..StaticObjectConfig::default()
        };
        StaticObjectRule::new(Arc::new(config), &[zone])
    }

    /// Runs `rule` on a frame every 2 s of `seconds`, each drawn by `scene`; returns what it found
    /// (violations and clearings) with the second of each.
    fn run_all(
        rule: &mut StaticObjectRule,
        seconds: std::ops::Range<i64>,
        scene: impl Fn(i64) -> (RgbImage, Vec<Detection>),
    ) -> Vec<(i64, Violation)> {
        seconds
            .step_by(2)
            .flat_map(|second| {
                let (picture, detections) = scene(second);
                rule.observe(&analysed(second, &picture, detections)).into_iter().map(move |v| (second, v))
            })
            .collect()
    }

    /// The violations [`run_all`] finds, with the second each was confirmed.
    fn run(
        rule: &mut StaticObjectRule,
        seconds: std::ops::Range<i64>,
        scene: impl Fn(i64) -> (RgbImage, Vec<Detection>),
    ) -> Vec<(i64, CameraViolation)> {
        run_all(rule, seconds, scene)
            .into_iter()
            .filter_map(|(second, found)| match found {
                Violation::Camera(violation) => Some((second, *violation)),
                _ => None,
            })
            .collect()
    }

    /// When, what and where each violation was, without its pictures.
    fn brief(found: &[(i64, CameraViolation)]) -> Vec<(i64, Category, [f32; 4])> {
        found.iter().map(|(second, v)| (*second, v.category, v.bbox.to_array())).collect()
    }

    #[test]
    fn bags_left_on_the_street_are_litter_once_after_the_dwell_time_with_the_street_before_them() {
        let (object, placed) = (bags(64, 46), BBox::new(400.0, 410.0, 464.0, 456.0));
        let left = with(&object, 400, 410);
        let found = run(&mut rule(), 0..300, |second| (if second < 40 { street() } else { left.clone() }, Vec::new()));
        assert_eq!(found.len(), 1, "one violation however long the bags stay: {:?}", brief(&found));
        let (second, violation) = &found[0];
        assert!((100..=130).contains(second), "confirmed once they stood still for 60 s, at {second}");
        assert_eq!((violation.category, &*violation.class), (Category::Litter, STATIC_OBJECT_CLASS));
        assert_eq!(violation.first_seen, at(40), "first seen when they appeared");
        assert_eq!(violation.before.as_ref().map(|frame| frame.captured_at), Some(at(38)), "the frame before them");
        assert!(violation.bbox.iou(&placed) > 0.4, "the blob outlines the bags: {:?}", violation.bbox);
    }

    #[test]
    fn a_large_pile_is_stacking() {
        let left = with(&bags(200, 120), 40, 350);
        let found = run(&mut rule(), 0..200, |second| (if second < 40 { street() } else { left.clone() }, Vec::new()));
        let categories: Vec<Category> = found.iter().map(|(_, v)| v.category).collect();
        assert_eq!(categories, [Category::Stacking]);
    }

    #[test]
    fn a_person_standing_still_is_no_object_left_but_the_same_change_unexplained_is() {
        // A man cut from the airport photo stands on the street from second 40 on.
        let man = imageops::crop_imm(&image("000000009891"), 80, 100, 127, 187).to_image();
        let standing = with(&man, 300, 230);
        let person = BBox::new(310.0, 235.0, 420.0, 410.0);
        let scene = |explained: bool| {
            let standing = standing.clone();
            move |second| match second {
                ..40 => (street(), Vec::new()),
                // The detector misses him now and then.
                _ if explained && second % 10 != 4 => (standing.clone(), vec![box_of("person", person)]),
                _ => (standing.clone(), vec![box_of("dog", person)]),
            }
        };
        assert!(run(&mut rule(), 0..400, scene(true)).is_empty(), "a person stands still");
        assert_eq!(run(&mut rule(), 0..400, scene(false)).len(), 1, "the same change, explained by nothing");
    }

    #[test]
    fn dusk_a_passing_shadow_band_and_sweeping_headlights_are_no_object() {
        let street = street();
        let (width, height) = street.dimensions();
        let lit = |gain: &dyn Fn(u32, u32) -> f32| {
            let mut picture = street.clone();
            for (x, y, pixel) in picture.enumerate_pixels_mut() {
                pixel.0 = pixel.0.map(|v| (f32::from(v) * gain(x, y)).clamp(0.0, 255.0) as u8);
            }
            picture
        };
        let mut rule = rule();
        // Dusk: the whole view darkens to 35 % over ten minutes.
        let found = run(&mut rule, 0..600, |second| (lit(&|_, _| 1.0 - 0.65 * second as f32 / 600.0), Vec::new()));
        assert!(found.is_empty(), "dusk: {:?}", brief(&found));
        // A shadow band 90 px wide (a cloud's, a lorry's) crossing the view at 3 px/s, its edges soft.
        let found = run(&mut rule, 600..900, |second| {
            let centre = (second - 600) as f32 * 3.0 - 45.0;
            let band = move |x: u32, _| 1.0 - 0.5 * (1.0 - ((x as f32 - centre).abs() - 45.0) / 10.0).clamp(0.0, 1.0);
            (lit(&band), Vec::new())
        });
        assert!(found.is_empty(), "shadow band: {:?}", brief(&found));
        // Headlights: a bright ellipse sweeping over the ground, a new place every frame.
        let found = run(&mut rule, 900..1100, |second| {
            let centre = (width as f32 * ((second - 900) as f32 / 200.0), height as f32 * 0.8);
            let lights = move |x: u32, y: u32| {
                let (dx, dy) = ((x as f32 - centre.0) / 60.0, (y as f32 - centre.1) / 25.0);
                if dx * dx + dy * dy < 1.0 { 1.8 } else { 1.0 }
            };
            (lit(&lights), Vec::new())
        });
        assert!(found.is_empty(), "headlights: {:?}", brief(&found));
    }

    #[test]
    fn bags_taken_away_are_seen_gone_and_bags_left_there_again_are_reported_again() {
        let left = with(&bags(64, 46), 400, 410);
        let found = run_all(&mut rule(), 0..500, |second| match second {
            40..200 | 300.. => (left.clone(), Vec::new()),
            _ => (street(), Vec::new()),
        });
        let events: Vec<(i64, &str, u64)> = found
            .iter()
            .map(|(second, found)| match found {
                Violation::Camera(v) => (*second, "left", v.track_id),
                Violation::Cleared(v) => (*second, "cleared", v.track_id),
                Violation::Sensor(_) => unreachable!("a camera rule"),
            })
            .collect();
        let kinds: Vec<&str> = events.iter().map(|(_, kind, _)| *kind).collect();
        assert_eq!(kinds, ["left", "cleared", "left"], "{events:?}");
        let [(_, _, first), (cleared_at, _, cleared), (again_at, _, again)] = events[..] else { unreachable!() };
        assert_eq!(cleared, first, "the clearing names the violation it ends");
        assert!((200..=210).contains(&cleared_at), "seen gone within two frames: {cleared_at}");
        assert!(again_at >= 360 && again != first, "the second time after its own dwell, as a new object: {events:?}");
        let Violation::Cleared(clearing) = &found[1].1 else { unreachable!() };
        let Violation::Camera(violation) = &found[0].1 else { unreachable!() };
        assert_eq!((clearing.bbox, clearing.category), (violation.bbox, violation.category));
        assert_eq!(clearing.frame.captured_at, at(cleared_at), "the frame that shows the street bare");
    }

    #[test]
    fn bags_there_when_watching_starts_and_taken_away_later_are_no_object() {
        for (there, what) in [(with(&bags(64, 46), 400, 410), "bags"), (with(&bags(200, 120), 40, 350), "a pile")] {
            let found =
                run(&mut rule(), 0..300, |second| (if second < 60 { there.clone() } else { street() }, Vec::new()));
            assert!(found.is_empty(), "the street where {what} stood is no object: {:?}", brief(&found));
        }
    }

    #[test]
    fn a_van_parked_when_watching_starts_leaves_no_ghost_when_it_drives_off() {
        // The bags stand in for a van's side: there when the rule starts, under a vehicle box.
        let parked = with(&bags(200, 120), 200, 280);
        let van = BBox::new(195.0, 275.0, 405.0, 405.0);
        let found = run(&mut rule(), 0..400, |second| {
            if second < 60 { (parked.clone(), vec![box_of("truck", van)]) } else { (street(), Vec::new()) }
        });
        assert!(found.is_empty(), "the street where the van stood is no object: {:?}", brief(&found));
    }
}
