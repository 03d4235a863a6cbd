//! What every handler shares: the store, the token check, live camera and sensor status, the case
//! policies and the citizen intake.

use std::sync::Arc;

use axum::extract::FromRef;
use sharpeyes_ingest::{camera::CameraBoard, mqtt::SensorBoard};

use super::{
    auth::Authenticator,
    changes::{CameraChanges, RuleChanges},
    edge_reads::EdgeReads,
    error::ApiError,
    map::config::MapSettings,
    open311::config::Open311Settings,
    stream_limit::StreamLimit,
    zone_keeper::ZoneKeeper,
};
use crate::{
    cases::{
        Principal, Role, deadlines::DeadlinePolicy, evidence::EvidenceStore, grids::Grid, whistles::WhistlePolicy,
    },
    casework::citizen::{CitizenIntake, PhotoAnalyser},
    clock::SharedClock,
    metrics::QualityMetrics,
    rules::{CameraViews, ZoneEditor},
    store::{ReadScope, Store},
};

/// The configuration as last read (at start, then on each valid SIGHUP), its secrets already replaced:
/// what `GET /api/v1/config` shows.
pub type ConfigView = Arc<dyn Fn() -> serde_json::Value + Send + Sync>;

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    /// The case database.
    pub store: Store,
    /// Evidence files.
    pub evidence: EvidenceStore,
    /// Token check.
    pub auth: Arc<Authenticator>,
    /// Metrics served at `/metrics`.
    pub registry: prometheus::Registry,
    /// Live status of every camera this node runs (cameras added and removed at runtime included).
    pub cameras: CameraBoard,
    /// The latest reading of every sensor.
    pub sensors: Arc<SensorBoard>,
    /// Deadlines set by workflow actions.
    pub policy: DeadlinePolicy,
    /// The department directory and whistle report-in times.
    pub whistles: WhistlePolicy,
    /// The configured grids of every level, with their names.
    pub grids: Arc<Vec<Grid>>,
    /// Each camera's zones and latest analysed frame.
    pub views: Arc<CameraViews>,
    /// Where citizen reports become cases.
    pub citizens: CitizenIntake,
    /// The detector that suggests a category for a citizen's photo (none: reports must name one).
    pub photos: Option<Arc<PhotoAnalyser>>,
    /// Changes the cameras' zones: this node's rules, or (a center) the edges' through the broker.
    pub zones: ZoneKeeper,
    /// On a center, the edges' reads of the cameras they run (none elsewhere).
    pub edges: Option<EdgeReads>,
    /// Adds, changes and removes the running cameras (none on a center).
    pub camera_changes: Option<CameraChanges>,
    /// Changes the running dwell rules' settings (none on a center).
    pub rule_changes: Option<RuleChanges>,
    /// What "now" is for the actions handlers take (the system clock in service).
    pub clock: SharedClock,
    /// The event streams each token holds open, capped.
    pub streams: Arc<StreamLimit>,
    /// Open311's settings: the public view, media links, CORS.
    pub open311: Arc<Open311Settings>,
    /// Operators' decisions on camera cases, counted.
    pub quality: QualityMetrics,
    /// The map's cameras, sensors and tile server.
    pub map: MapSettings,
    /// The detector manifest's classes, which number the labels of dataset exports (none: no manifest).
    pub dataset_classes: Arc<Vec<String>>,
    /// The configuration as last read, without secrets.
    pub config: ConfigView,
}

impl ApiState {
    /// The cases `who` may read: a reporter its own citizen reports, a handler bound to a department
    /// that department's cases, everyone else every case.
    pub fn read_scope(&self, who: &Principal) -> ReadScope {
        match (who.role, who.department.as_deref()) {
            (Role::Reporter, _) => ReadScope::FiledBy(who.name.to_string()),
            (Role::Handler, Some(id)) => match self.whistles.department(id) {
                Some(department) => ReadScope::of_department(department),
                // A department no longer configured: nothing but the cases it was called to.
                None => ReadScope::Department { id: id.to_owned(), categories: Vec::new(), grids: Vec::new() },
            },
            _ => ReadScope::All,
        }
    }

    /// Refuses case `id` to `who` unless it is within their read scope, with the same 404 as a case
    /// that does not exist (a case out of scope is not revealed).
    pub async fn check_visible(&self, who: &Principal, id: i64) -> Result<(), ApiError> {
        if self.store.case_in_scope(id, &self.read_scope(who)).await? {
            Ok(())
        } else {
            Err(ApiError::NotFound(format!("no case {id}")))
        }
    }

    /// Refuses cameras and sensors to roles that may not watch them (403 naming the role).
    pub fn check_may_watch(&self, who: &Principal) -> Result<(), ApiError> {
        may_watch(who)
    }
}

/// Refuses cameras and sensors to roles that may not watch them (403 naming the role).
pub fn may_watch(who: &Principal) -> Result<(), ApiError> {
    if who.role.may_watch_cameras() {
        Ok(())
    } else {
        Err(ApiError::Forbidden(format!("a {} may not see cameras or sensors", who.role.as_str())))
    }
}

/// What the reads of the cameras (their list, the tuning view's frame, detections and preview) need:
/// this node's cameras, or on a center the way to the edges that run them. An edge serves these
/// reads to the centers with nothing else of the API.
#[derive(Clone)]
pub struct CameraReads {
    /// Live status of the cameras this node runs.
    pub cameras: CameraBoard,
    /// Their zones and latest analysed frames.
    pub views: Arc<CameraViews>,
    /// Their rules' zones, for previews (none on a center).
    pub zones: Option<ZoneEditor>,
    /// On a center, the edges that run the cameras.
    pub edges: Option<EdgeReads>,
}

impl FromRef<ApiState> for CameraReads {
    fn from_ref(state: &ApiState) -> Self {
        Self {
            cameras: state.cameras.clone(),
            views: state.views.clone(),
            zones: state.zones.editor().cloned(),
            edges: state.edges.clone(),
        }
    }
}
