//! What every handler shares: the store, the token check, live camera and sensor status, the case
//! policies and the citizen intake.

use std::sync::Arc;

use sharpeyes_ingest::{camera::CameraStatus, mqtt::SensorBoard};

use super::auth::Authenticator;
use crate::{
    cases::{deadlines::DeadlinePolicy, evidence::EvidenceStore, grids::Grid, whistles::WhistlePolicy},
    casework::citizen::{CitizenIntake, PhotoAnalyser},
    clock::SharedClock,
    rules::CameraViews,
    store::Store,
};

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
    /// Live status of every camera.
    pub cameras: Arc<Vec<Arc<CameraStatus>>>,
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
    /// What "now" is for the actions handlers take (the system clock in service).
    pub clock: SharedClock,
}
