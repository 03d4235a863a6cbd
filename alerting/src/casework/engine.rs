use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
};

use chrono::{DateTime, TimeDelta, Utc};
use image::Rgb;
use sharpeyes_inference::BBox;
use tokio::sync::{mpsc, watch};
use tracing::{error, info, warn};

use super::{
    plates::{PlateOffer, PlateQueue},
    sites::CameraSites,
};
use crate::{
    AlertingMetrics, Error, Result,
    cases::{
        Principal, Role,
        deadlines::DeadlinePolicy,
        duplicates::DuplicateRule,
        evidence::{self, EvidenceStore, OBJECT_COLOR, OTHER_COLOR},
        workflow::{Action, Status},
    },
    clock::SharedClock,
    rules::{CameraViolation, Category, ObjectCleared, SCENE_CHANGE_CLASS, SensorViolation, Violation, wire},
    store::ActionOutcome,
    store::{NewCase, NewEvidence, NewObject, PlaceKey, Store},
};

/// First and longest wait before filing a violation again while the database is unreachable.
const STORE_RETRY_MIN: std::time::Duration = std::time::Duration::from_millis(500);
const STORE_RETRY_MAX: std::time::Duration = std::time::Duration::from_secs(30);

/// How often the engine looks for parked violations that are due.
const PARKED_POLL: std::time::Duration = std::time::Duration::from_secs(5);
/// A parked violation's first wait before it is filed again; each failure doubles it, up to the longest.
const PARKED_RETRY_FIRST: TimeDelta = TimeDelta::seconds(30);
const PARKED_RETRY_LONGEST: TimeDelta = TimeDelta::hours(1);
/// How long a parked violation taken for a retry is held from other centers.
const PARKED_HOLD: TimeDelta = TimeDelta::minutes(5);
/// The node name a parked violation's message carries.
const PARKED_BY: &str = "parked";

/// Boxes overlapping this much are the same object seen again (after a restart or a long occlusion).
const SAME_OBJECT_IOU: f32 = 0.5;

/// What the engine did with a violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaseOutcome {
    /// A new case was opened.
    Opened(i64),
    /// A new object was added to the open case.
    Added(i64),
    /// The object was already part of the open case.
    AlreadyKnown(i64),
    /// The place's last case closed less than the cooldown ago: nothing filed.
    CoolingDown,
    /// The camera saw the object of the open case gone: its timeline says so.
    ClearedSeen(i64),
    /// The camera saw an object gone that no open case holds (its case was closed, or voided).
    NoOpenCase,
}

/// Where a problem is: a camera's zone, or a sensor and the rule it broke.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Place {
    /// Camera or device id.
    source: Arc<str>,
    /// Whether `source` is a sensor (ids of cameras and sensors may coincide).
    sensor: bool,
    /// Zone id (cameras) or rule id (sensors).
    zone: Arc<str>,
    category: Category,
}

impl Place {
    /// The place of a violation.
    fn of_violation(violation: &Violation) -> Self {
        match violation {
            Violation::Camera(v) => {
                Self { source: v.camera.clone(), sensor: false, zone: v.zone.clone(), category: v.category }
            }
            Violation::Sensor(v) => {
                Self { source: v.device.clone(), sensor: true, zone: v.rule.clone(), category: v.category }
            }
            Violation::Cleared(v) => {
                Self { source: v.camera.clone(), sensor: false, zone: v.zone.clone(), category: v.category }
            }
        }
    }

    /// How the store names it.
    fn key(&self) -> PlaceKey<'_> {
        PlaceKey {
            source: if self.sensor { "sensor" } else { "camera" },
            id: &self.source,
            zone: &self.zone,
            category: self.category.as_str(),
        }
    }
}

#[derive(Debug)]
struct OpenCase {
    id: i64,
    objects: Vec<BBox>,
}

/// Turns violations into cases: **one open case per camera, zone and category** (per sensor, rule
/// and category for sensors). A camera violation at a place with an open case adds its object to
/// that case (with a confirming evidence image) unless the object is already in it; otherwise it
/// opens a case with evidence image 0. A sensor violation opens a case unless one is open for it.
/// Once a place's case is closed, violations there open a new case only after the cooldown. A camera
/// case whose detection scores at least its category's `auto_file_score` is filed (verified) at once.
/// A new case within the duplicate rule's distance and time of an open case of its category is linked
/// to it (`duplicate_of`).
///
/// The database, not this process's memory, says what is open and cooling at a place: a place's state
/// is read from the store before its violations are filed, so a case closed or voided through the API
/// is seen at the next violation. On one box what was read stays valid until the store commits a
/// timeline change (its change counter moves: an action through the API, or the engine's own filing),
/// so a vehicle reported again and again costs no query. When several centers file into one database
/// ([`EngineSettings::shared`]) each violation is filed under the place's lock, after reading the
/// place's state, and recorded by its stable id so that a copy of it delivered again files nothing.
pub struct CaseEngine {
    store: Store,
    evidence: EvidenceStore,
    sites: CameraSites,
    open: HashMap<Place, OpenCase>,
    metrics: AlertingMetrics,
    policy: DeadlinePolicy,
    cooldown: TimeDelta,
    duplicates: DuplicateRule,
    /// Places whose case closed, and until when they take no new case.
    cooling: HashMap<Place, DateTime<Utc>>,
    /// Places whose state was read since the store's timeline last changed (one box only).
    read: HashSet<Place>,
    /// The store's timeline changes, which make what was read stale.
    changes: watch::Receiver<u64>,
    shared: bool,
    clock: SharedClock,
    /// Where parking cases' vehicles go to have their plates read, and when each (case, track) last
    /// went.
    plates: Option<(PlateQueue, OfferedPlates)>,
}

/// When each vehicle (case, track) was last offered to the plate reader.
type OfferedPlates = HashMap<(i64, u64), DateTime<Utc>>;

/// Each vehicle (track) of a parking case is offered to the plate reader at most this often.
const PLATE_OFFER_EVERY: TimeDelta = TimeDelta::seconds(10);

/// How the engine files cases.
#[derive(Clone, Debug)]
pub struct EngineSettings {
    /// Codes, urgencies and deadlines.
    pub policy: DeadlinePolicy,
    /// After a place's case closes, how long before violations there open a new one.
    pub cooldown: TimeDelta,
    /// When a new case is a duplicate of an open one.
    pub duplicates: DuplicateRule,
    /// Whether other processes file into the same store (centers sharing PostgreSQL).
    pub shared: bool,
    /// Where the engine reads the time.
    pub clock: SharedClock,
}

/// Boxes as the store keeps them (`[x1, y1, x2, y2]`).
fn stored_boxes(boxes: &[[f64; 4]]) -> Vec<BBox> {
    boxes.iter().map(|b| BBox::new(b[0] as f32, b[1] as f32, b[2] as f32, b[3] as f32)).collect()
}

/// Who reports a case handled when its camera sees the object gone.
fn camera_handler() -> Principal {
    Principal::new("camera-clearance", Role::Handler)
}

/// Who files cases automatically above the category's confidence.
fn ai_verifier() -> Principal {
    Principal::new("ai-verification", Role::Operator)
}

impl CaseEngine {
    /// An engine over `store`, knowing each camera's grid and position (cameras added at runtime
    /// included, when `sites` is shared with what adds them). Open cases need no reloading: each
    /// violation reads its place's state from the store, so a restart continues them.
    pub async fn start(
        store: Store,
        evidence: EvidenceStore,
        sites: CameraSites,
        metrics: AlertingMetrics,
        settings: EngineSettings,
    ) -> Result<Self> {
        let EngineSettings { policy, cooldown, duplicates, shared, clock } = settings;
        let changes = store.timeline_changes();
        Ok(Self {
            changes,
            read: HashSet::new(),
            store,
            evidence,
            sites,
            open: HashMap::new(),
            metrics,
            policy,
            cooldown,
            duplicates,
            cooling: HashMap::new(),
            shared,
            clock,
            plates: None,
        })
    }

    /// Hands the vehicles of parking cases to `queue` to have their plates read.
    pub fn with_plates(mut self, queue: PlateQueue) -> Self {
        self.plates = Some((queue, HashMap::new()));
        self
    }

    /// Offers the vehicle of parking case `case_id` to the plate reader, unless it was offered lately.
    fn offer_plate(&mut self, case_id: i64, violation: &CameraViolation) {
        let now = self.clock.now();
        let Some((queue, offered)) = &mut self.plates else { return };
        let key = (case_id, violation.track_id);
        if violation.category != Category::IllegalParking
            || offered.get(&key).is_some_and(|at| now - *at < PLATE_OFFER_EVERY)
        {
            return;
        }
        offered.retain(|_, at| now - *at < PLATE_OFFER_EVERY);
        offered.insert(key, now);
        queue.offer(PlateOffer { case_id, frame: violation.frame.clone(), bbox: violation.bbox });
    }

    /// Whether `place` has no open case and its last one closed less than the cooldown ago.
    fn cooling_down(&mut self, place: &Place, category: Category) -> bool {
        let now = self.clock.now();
        self.cooling.retain(|_, until| *until > now);
        let cooling = !self.open.contains_key(place) && self.cooling.contains_key(place);
        if cooling {
            self.metrics.violations_cooling_down_total.with_label_values(&[category.as_str()]).inc();
        }
        cooling
    }

    /// Counts a violation (a clearing is none).
    fn count(&self, violation: &Violation) {
        if !matches!(violation, Violation::Cleared(_)) {
            self.metrics.violations_total.with_label_values(&[violation.category().as_str()]).inc();
        }
    }

    /// Files a violation.
    pub async fn handle(&mut self, violation: Violation) -> Result<CaseOutcome> {
        self.count(&violation);
        self.file(violation).await
    }

    async fn file(&mut self, violation: Violation) -> Result<CaseOutcome> {
        let place = Place::of_violation(&violation);
        if !self.shared {
            if self.changes.has_changed().unwrap_or(true) {
                self.changes.mark_unchanged();
                self.read.clear();
            }
            if !self.read.contains(&place) {
                self.read_place(&place).await?;
                self.read.insert(place);
            }
            return self.file_at_place(violation, None).await;
        }
        let lock = self.store.lock_place(place.key()).await?;
        let outcome = self.file_shared(violation, &place).await;
        lock.release().await;
        outcome
    }

    /// Files a relayed violation under its place's lock: once by its stable id, against the place's
    /// state as the database has it.
    async fn file_shared(&mut self, violation: Violation, place: &Place) -> Result<CaseOutcome> {
        let id = violation.stable_id();
        if let Some(case) = self.store.filed_violation(&id).await? {
            self.metrics.violations_refiled_total.with_label_values(&[place.category.as_str()]).inc();
            return Ok(CaseOutcome::AlreadyKnown(case));
        }
        self.read_place(place).await?;
        let outcome = self.file_at_place(violation, Some(id.clone())).await?;
        // Every relayed violation is accounted to one case, also the ones that only saw it again.
        if let CaseOutcome::AlreadyKnown(case) | CaseOutcome::ClearedSeen(case) = outcome {
            self.store.attribute_violation(&id, case, self.clock.now()).await?;
        }
        Ok(outcome)
    }

    /// Takes what is open and cooling at `place` from the store.
    async fn read_place(&mut self, place: &Place) -> Result<()> {
        let state = self.store.place_state(place.key(), self.clock.now() - self.cooldown).await?;
        match state.open {
            Some((case, boxes)) => {
                let objects = stored_boxes(&boxes);
                self.open.insert(place.clone(), OpenCase { id: case, objects });
            }
            None => {
                self.open.remove(place);
            }
        }
        match state.finished_at {
            Some(at) => self.cooling.insert(place.clone(), at + self.cooldown),
            None => self.cooling.remove(place),
        };
        Ok(())
    }

    /// Files a violation against the open case of its place; `relayed` is its stable id when it is to
    /// be recorded with what it filed.
    async fn file_at_place(&mut self, violation: Violation, relayed: Option<String>) -> Result<CaseOutcome> {
        match violation {
            Violation::Camera(violation) => self.handle_camera(*violation, relayed).await,
            Violation::Sensor(violation) => self.handle_sensor(violation, relayed).await,
            Violation::Cleared(cleared) => self.handle_cleared(cleared).await,
        }
    }

    /// Records on the open case of the place that its object was seen gone, with the frame that shows
    /// the place bare; reports the case handled when asked to and it is being handled.
    async fn handle_cleared(&mut self, cleared: ObjectCleared) -> Result<CaseOutcome> {
        let place = Place {
            source: cleared.camera.clone(),
            sensor: false,
            zone: cleared.zone.clone(),
            category: cleared.category,
        };
        let Some(case) = self
            .open
            .get(&place)
            .filter(|case| case.objects.iter().any(|known| known.iou(&cleared.bbox) > SAME_OBJECT_IOU))
        else {
            info!(camera = %cleared.camera, zone = %cleared.zone, "an object left was seen gone; no open case holds it");
            return Ok(CaseOutcome::NoOpenCase);
        };
        let id = case.id;
        let evidence = self
            .render_evidence(cleared.frame.clone(), cleared.zone_points.clone(), vec![(cleared.bbox, OBJECT_COLOR)], id)
            .await?;
        let status = self.store.record_cleared(id, &evidence, cleared.seen_at).await?;
        info!(case = id, camera = %cleared.camera, zone = %cleared.zone, "the camera sees the object gone");
        if cleared.report_handled && status == Some(Status::Handling) {
            let note = "the camera sees the object gone (rules.static_object.report_handled_when_cleared)";
            match self
                .store
                .apply_action(id, &camera_handler(), Action::ReportHandled, note, self.clock.now(), &self.policy)
                .await?
            {
                ActionOutcome::Applied(_) => info!(case = id, "case reported handled: the camera sees the object gone"),
                outcome => warn!(case = id, ?outcome, "reporting the case handled was refused"),
            }
        }
        Ok(CaseOutcome::ClearedSeen(id))
    }

    async fn handle_sensor(&mut self, violation: SensorViolation, relayed: Option<String>) -> Result<CaseOutcome> {
        let category = violation.category;
        let place = Place { source: violation.device.clone(), sensor: true, zone: violation.rule.clone(), category };
        if let Some(case) = self.open.get(&place) {
            return Ok(CaseOutcome::AlreadyKnown(case.id));
        }
        if self.cooling_down(&place, category) {
            return Ok(CaseOutcome::CoolingDown);
        }
        let duplicate_of = self.duplicate_of(category, violation.location).await?;
        let entry = self.policy.taxonomy().entry(category);
        let detail = serde_json::json!({
            "rule": &*violation.rule,
            "reading": violation.reading,
            "location": violation.location,
        });
        let case = NewCase {
            code: entry.code.clone(),
            category,
            camera: String::new(),
            zone: violation.rule.to_string(),
            grid: violation.grid.clone(),
            status: Status::Reported,
            urgency: entry.urgency,
            source: "sensor".into(),
            device: violation.device.to_string(),
            detail: Some(detail.to_string()),
            location: violation.location,
            duplicate_of,
            first_seen_at: violation.since,
            confirmed_at: violation.confirmed_at,
            opened_at: self.clock.now(),
            violation: relayed,
        };
        let id = self.store.insert_case(&case, None, &[]).await?;
        self.metrics.cases_opened_total.with_label_values(&[category.as_str()]).inc();
        self.open.insert(place, OpenCase { id, objects: Vec::new() });
        info!(
            case = id, code = case.code, device = %violation.device, rule = %violation.rule, grid = %violation.grid,
            "case opened from a sensor"
        );
        Ok(CaseOutcome::Opened(id))
    }

    async fn handle_camera(&mut self, violation: CameraViolation, relayed: Option<String>) -> Result<CaseOutcome> {
        let category = violation.category;
        let place = Place { source: violation.camera.clone(), sensor: false, zone: violation.zone.clone(), category };
        if let Some(case) = self.open.get(&place)
            && case.objects.iter().any(|known| known.iou(&violation.bbox) > SAME_OBJECT_IOU)
        {
            let id = case.id;
            self.offer_plate(id, &violation);
            return Ok(CaseOutcome::AlreadyKnown(id));
        }
        if self.cooling_down(&place, category) {
            return Ok(CaseOutcome::CoolingDown);
        }
        let object = NewObject {
            class: violation.class.to_string(),
            score: violation.score,
            bbox: violation.bbox.to_array(),
            first_seen_at: violation.first_seen,
            confirmed_at: violation.confirmed_at,
        };
        let case_id = self.open.get(&place).map(|case| case.id);
        let evidence = self.save_evidence(&violation, case_id.unwrap_or(0)).await?;
        // The first-seen frame shows where the object stood; a scene change's reference view shows the zone.
        let before_boxes =
            if &*violation.class == SCENE_CHANGE_CLASS { Vec::new() } else { vec![(violation.bbox, OBJECT_COLOR)] };
        let before = match (&violation.before, case_id) {
            (Some(frame), None) => Some(
                self.render_evidence(frame.clone(), violation.zone_points.clone(), before_boxes, case_id.unwrap_or(0))
                    .await?,
            ),
            _ => None,
        };

        let outcome = match case_id {
            Some(id) => {
                self.store.add_object(id, &object, &evidence, relayed.as_deref(), self.clock.now()).await?;
                self.metrics.case_objects_added_total.with_label_values(&[category.as_str()]).inc();
                CaseOutcome::Added(id)
            }
            None => {
                let site = self.sites.get(&violation.camera).unwrap_or_default();
                let duplicate_of = self.duplicate_of(category, site.location).await?;
                let entry = self.policy.taxonomy().entry(category);
                let auto_file = entry.auto_file_score.is_some_and(|score| violation.score >= score);
                let case = NewCase {
                    code: entry.code.clone(),
                    category,
                    camera: violation.camera.to_string(),
                    zone: violation.zone.to_string(),
                    grid: site.grid,
                    status: Status::Reported,
                    urgency: entry.urgency,
                    source: "camera".into(),
                    device: String::new(),
                    detail: None,
                    location: site.location,
                    duplicate_of,
                    first_seen_at: violation.first_seen,
                    confirmed_at: violation.confirmed_at,
                    opened_at: self.clock.now(),
                    violation: relayed,
                };
                let id = self
                    .store
                    .insert_case(
                        &case,
                        Some(&object),
                        &[Some(evidence), before].into_iter().flatten().collect::<Vec<_>>(),
                    )
                    .await?;
                self.metrics.cases_opened_total.with_label_values(&[category.as_str()]).inc();
                self.keep_frame(id, &violation).await;
                self.open.insert(place.clone(), OpenCase { id, objects: Vec::new() });
                if auto_file {
                    self.auto_file(id, violation.score).await?;
                }
                CaseOutcome::Opened(id)
            }
        };
        if let CaseOutcome::Opened(id) | CaseOutcome::Added(id) = outcome {
            self.offer_plate(id, &violation);
        }
        let case = self.open.get_mut(&place).expect("the case was just found or opened");
        case.objects.push(violation.bbox);
        match outcome {
            CaseOutcome::Opened(id) => info!(
                case = id, code = self.policy.taxonomy().entry(category).code, camera = %violation.camera, zone = %violation.zone,
                class = %violation.class, "case opened"
            ),
            CaseOutcome::Added(id) => info!(
                case = id, camera = %violation.camera, zone = %violation.zone, objects = case.objects.len(),
                class = %violation.class, "object added to open case"
            ),
            CaseOutcome::AlreadyKnown(_)
            | CaseOutcome::CoolingDown
            | CaseOutcome::ClearedSeen(_)
            | CaseOutcome::NoOpenCase => {}
        }
        Ok(outcome)
    }

    /// The open case a new case of `category` at `location` duplicates, if any.
    async fn duplicate_of(&self, category: Category, location: Option<[f64; 2]>) -> Result<Option<i64>> {
        let Some(location) = location else {
            return Ok(None);
        };
        let since = self.clock.now() - self.duplicates.window;
        let found = self.store.nearby_open_case(category.as_str(), location, since, &self.duplicates).await?;
        if let Some(original) = found {
            info!(original, category = category.as_str(), "new report linked as a duplicate");
        }
        Ok(found)
    }

    /// Files a case the detector is sure of, as an operator's verification would.
    async fn auto_file(&self, id: i64, score: f32) -> Result<()> {
        let note = format!("detection score {score:.2} at or above the category's auto_file_score");
        match self.store.apply_action(id, &ai_verifier(), Action::Verify, &note, self.clock.now(), &self.policy).await?
        {
            ActionOutcome::Applied(_) => info!(case = id, score, "case filed without operator check"),
            outcome => warn!(case = id, ?outcome, "automatic filing refused"),
        }
        Ok(())
    }

    /// Files violations as they come and, every few seconds, the parked ones that are due; until
    /// `violations` closes (then it has filed or parked every violation it was handed).
    pub async fn run(mut self, mut violations: mpsc::Receiver<Violation>) {
        let mut poll = tokio::time::interval(PARKED_POLL);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                violation = violations.recv() => match violation {
                    Some(violation) => self.handle_logged(violation).await,
                    None => break,
                },
                _ = poll.tick() => {
                    if let Err(error) = self.retry_parked().await {
                        warn!(%error, "filing parked violations failed; trying again shortly");
                    }
                }
            }
        }
        info!("case engine drained and stopped");
    }

    /// Files a violation, logging and counting a failure instead of returning it (the stage goes on).
    /// While the database is unreachable the violation is retried with backoff: the engine waits, the
    /// violations queue up behind it (the channel blocks the rules), and none is lost. Any other
    /// failure (an evidence image that cannot be written: disk full, permissions) parks the violation
    /// with its frames in the store, filed again until it works ([`Self::retry_parked`]). The message
    /// that brought a relayed violation is acknowledged only once it is filed or parked.
    pub async fn handle_logged(&mut self, violation: Violation) {
        let (source, category) = (violation.source_id().to_owned(), violation.category());
        self.count(&violation);
        let mut delays = sharpeyes_ingest::backoff::retry_delays(STORE_RETRY_MIN, STORE_RETRY_MAX);
        loop {
            match self.file(violation.clone()).await {
                Ok(_) => return,
                Err(error) if error.is_transient() => {
                    let delay = delays.next().unwrap_or(STORE_RETRY_MAX);
                    warn!(source = %source, error = %error, retry_in_ms = delay.as_millis() as u64, "case store unavailable; retrying the violation");
                    tokio::time::sleep(delay).await;
                }
                Err(error) => {
                    self.metrics.case_errors_total.with_label_values(&[category.as_str()]).inc();
                    self.park(&violation, &error).await;
                    return;
                }
            }
        }
    }

    /// Keeps `violation`, which could not be filed for `error`, in the store until a retry files it;
    /// while even that fails (the database went away too) it is tried again with backoff.
    async fn park(&self, violation: &Violation, error: &Error) {
        let (source, category) = (violation.source_id().to_owned(), violation.category());
        let encoded = {
            let violation = violation.clone();
            tokio::task::spawn_blocking(move || wire::encode(&violation, PARKED_BY))
                .await
                .expect("encoding does not panic")
        };
        let message = match encoded {
            Ok(message) => message,
            Err(encode_error) => {
                self.metrics.violations_lost_total.with_label_values(&[category.as_str()]).inc();
                error!(source = %source, category = category.as_str(), error = %error, %encode_error, "violation lost: it can neither be filed nor encoded to be parked");
                return;
            }
        };
        let reason = error.to_string();
        let mut delays = sharpeyes_ingest::backoff::retry_delays(STORE_RETRY_MIN, STORE_RETRY_MAX);
        loop {
            let now = self.clock.now();
            match self
                .store
                .park_violation(&source, category.as_str(), &message, &reason, now, now + PARKED_RETRY_FIRST)
                .await
            {
                Ok(id) => {
                    self.metrics.violations_parked_total.with_label_values(&[category.as_str()]).inc();
                    self.metrics.violations_parked.inc();
                    warn!(parked = id, source = %source, category = category.as_str(), error = %reason, "violation parked: it is filed again until it works");
                    return;
                }
                Err(park_error) => {
                    let delay = delays.next().unwrap_or(STORE_RETRY_MAX);
                    warn!(source = %source, error = %reason, park_error = %park_error, retry_in_ms = delay.as_millis() as u64, "cannot park the violation either; trying again");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Files the parked violations that are due; one that fails again waits twice as long as the
    /// last time (up to an hour). Returns how many were filed.
    pub async fn retry_parked(&mut self) -> Result<usize> {
        let mut filed = 0;
        loop {
            let now = self.clock.now();
            let Some(parked) = self.store.take_parked_violation(now, now + PARKED_HOLD).await? else {
                break;
            };
            let decoded = {
                let message = parked.message.clone();
                tokio::task::spawn_blocking(move || wire::decode(&message)).await.expect("decoding does not panic")
            };
            let outcome = match decoded {
                Ok((violation, _)) => self.file(violation).await.map_err(|error| error.to_string()),
                Err(error) => Err(format!("the parked message cannot be read: {error}")),
            };
            match outcome {
                Ok(outcome) => {
                    self.store.unpark_violation(parked.id).await?;
                    filed += 1;
                    info!(parked = parked.id, ?outcome, "parked violation filed");
                }
                Err(error) => {
                    let doubled = PARKED_RETRY_FIRST * 2i32.saturating_pow(parked.attempts.clamp(0, 16) as u32);
                    let retry_at = now + doubled.min(PARKED_RETRY_LONGEST);
                    self.store.parked_violation_failed(parked.id, &error, retry_at).await?;
                    warn!(parked = parked.id, attempts = parked.attempts + 1, %error, %retry_at, "parked violation still cannot be filed");
                }
            }
        }
        self.metrics.violations_parked.set(self.store.parked_violation_count().await?);
        Ok(filed)
    }

    /// The confirming frame with the zone, the zone's other objects and the violation's box drawn.
    async fn save_evidence(&self, violation: &CameraViolation, case_id: i64) -> Result<NewEvidence> {
        let boxes: Vec<(BBox, Rgb<u8>)> = violation
            .zone_boxes
            .iter()
            .map(|b| (*b, OTHER_COLOR))
            .chain(std::iter::once((violation.bbox, OBJECT_COLOR)))
            .collect();
        self.render_evidence(violation.frame.clone(), violation.zone_points.clone(), boxes, case_id).await
    }

    /// Keeps the confirming frame as the detector saw it (nothing drawn) behind case `id`, for the
    /// labelled-data export. A frame that cannot be kept is logged and the case goes on without it:
    /// the case and its evidence are already stored.
    async fn keep_frame(&self, id: i64, violation: &CameraViolation) {
        let frame = violation.frame.clone();
        let (width, height, captured_at) = (frame.width, frame.height, frame.captured_at);
        let store = self.evidence.clone();
        let saved = tokio::task::spawn_blocking(move || {
            let image = image::RgbImage::from_raw(frame.width, frame.height, frame.rgb.to_vec())
                .expect("a frame holds width * height * 3 bytes");
            let jpeg = evidence::encode_jpeg(&image).map_err(|source| crate::Error::Evidence { case: id, source })?;
            store.save(&jpeg)
        })
        .await
        .expect("frame encoding does not panic");
        let kept = match saved {
            Ok(sha256) => {
                let objects = serde_json::to_string(&violation.frame_objects).expect("boxes and class names serialise");
                self.store.insert_case_frame(id, &NewEvidence { sha256, width, height, captured_at }, &objects).await
            }
            Err(error) => Err(error),
        };
        if let Err(error) = kept {
            warn!(case = id, %error, "the case's analysed frame was not kept: it will be missing from dataset exports");
        }
    }

    /// Draws the zone and `boxes` on `frame` and stores it as a content-addressed JPEG.
    async fn render_evidence(
        &self,
        frame: sharpeyes_ingest::Frame,
        zone: Vec<[f64; 2]>,
        boxes: Vec<(BBox, Rgb<u8>)>,
        case_id: i64,
    ) -> Result<NewEvidence> {
        let store = self.evidence.clone();
        let (width, height, captured_at) = (frame.width, frame.height, frame.captured_at);
        // Drawing and JPEG encoding are CPU work: keep them off the async workers.
        let sha256 = tokio::task::spawn_blocking(move || {
            let image = evidence::render(&frame, &zone, &boxes);
            let jpeg =
                evidence::encode_jpeg(&image).map_err(|source| crate::Error::Evidence { case: case_id, source })?;
            store.save(&jpeg)
        })
        .await
        .expect("evidence rendering does not panic")?;
        Ok(NewEvidence { sha256, width, height, captured_at })
    }
}
