//! The people who work cases: the [`Role`] a token holder acts in, and the [`Principal`] who acts
//! (a token holder, or the service itself: the deadline clock, the AI verifier).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a token may do. Later stages decide per action; every role may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads cases and cameras.
    Viewer,
    /// A reporting channel (a citizen app, a hotline desk): files reports through Open311; reads.
    Reporter,
    /// Command-center operator: verifies AI cases.
    Operator,
    /// Dispatches cases to departments.
    Dispatcher,
    /// Community or department office: handles cases of its grids.
    Handler,
    /// Checks handled cases and closes them.
    Inspector,
    /// Everything.
    Admin,
}

impl Role {
    /// Every role.
    pub const ALL: [Self; 7] =
        [Self::Viewer, Self::Reporter, Self::Operator, Self::Dispatcher, Self::Handler, Self::Inspector, Self::Admin];

    /// The snake_case name used in configuration, the API and the case timeline.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Reporter => "reporter",
            Self::Operator => "operator",
            Self::Dispatcher => "dispatcher",
            Self::Handler => "handler",
            Self::Inspector => "inspector",
            Self::Admin => "admin",
        }
    }

    /// Whether the role calls departments to a case (吹哨): dispatchers and admins.
    pub const fn may_blow_whistles(self) -> bool {
        matches!(self, Self::Dispatcher | Self::Admin)
    }

    /// Whether the role reports in for a called department (报到): handlers and admins.
    pub const fn may_report_in(self) -> bool {
        matches!(self, Self::Handler | Self::Admin)
    }

    /// Whether the role acknowledges and owns cases: everyone who works them (not viewers or reporters).
    pub const fn may_acknowledge(self) -> bool {
        !matches!(self, Self::Viewer | Self::Reporter)
    }

    /// Whether the role files citizen reports (Open311 `POST requests`): reporters, operators, admins.
    pub const fn may_report(self) -> bool {
        matches!(self, Self::Reporter | Self::Operator | Self::Admin)
    }

    /// Whether the role sees cameras and sensors (their list, zones and live frames): everyone but
    /// reporters, whose applications serve citizens.
    pub const fn may_watch_cameras(self) -> bool {
        !matches!(self, Self::Reporter)
    }

    /// Whether the role creates and expires silences: operators, dispatchers and admins.
    pub const fn may_silence(self) -> bool {
        matches!(self, Self::Operator | Self::Dispatcher | Self::Admin)
    }
}

/// Who acts on a case: the holder of a valid API token, or the service itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// Token name.
    pub name: Arc<str>,
    /// Token role.
    pub role: Role,
    /// The department the token acts for, when it is bound to one (a handler reports in for it only).
    pub department: Option<Arc<str>>,
}

impl Principal {
    /// A principal bound to no department.
    pub fn new(name: &str, role: Role) -> Self {
        Self { name: name.into(), role, department: None }
    }
}
