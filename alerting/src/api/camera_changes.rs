//! The channel between the API and what runs this node's cameras: the changes `POST`, `PUT` and
//! `DELETE /api/v1/cameras` ask for, each with its answer (the binary's camera keeper serves them).

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use crate::cases::Principal;

/// Changes waiting for the cameras' keeper (a request waits while it is full).
const CHANGES_WAITING: usize = 16;

/// A change to the cameras this node runs.
#[derive(Debug)]
pub enum CameraChange {
    /// Adds a camera: its `[[cameras]]` entry as JSON (zones included).
    Add(Value),
    /// Replaces camera `id`'s entry by `camera` (its stream reconnects only when its stream settings
    /// changed).
    Replace {
        /// Camera id.
        id: String,
        /// The new entry as JSON.
        camera: Value,
    },
    /// Removes camera `id`.
    Remove {
        /// Camera id.
        id: String,
    },
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum CameraRefusal {
    /// The camera does not validate; every problem with its key path.
    #[error("{0}")]
    Invalid(String),
    /// No such camera.
    #[error("{0}")]
    Unknown(String),
    /// The change conflicts with what runs (a camera of that id exists; the service is stopping; its
    /// stream could not start).
    #[error("{0}")]
    Conflict(String),
    /// The database did not keep the change (nothing was changed).
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl From<CameraRefusal> for ApiError {
    fn from(refusal: CameraRefusal) -> Self {
        match refusal {
            CameraRefusal::Invalid(problems) => Self::BadRequest(problems),
            CameraRefusal::Unknown(message) => Self::NotFound(message),
            CameraRefusal::Conflict(message) => Self::Conflict(message),
            CameraRefusal::Store(error) => Self::Internal(error),
        }
    }
}

/// A change asked for, with who asked and where the answer goes: the camera as it now runs (its
/// entry without secrets, with `source`, `changed_at` and `changed_by`), or why not.
#[derive(Debug)]
pub struct CameraRequest {
    /// The change.
    pub change: CameraChange,
    /// Who asked (audited).
    pub who: Principal,
    /// The answer.
    pub reply: oneshot::Sender<Result<Value, CameraRefusal>>,
}

/// Where the API sends camera changes; cloned into the API state.
#[derive(Clone, Debug)]
pub struct CameraChanges(mpsc::Sender<CameraRequest>);

impl CameraChanges {
    /// A channel of changes, and its receiving end for the cameras' keeper.
    pub fn channel() -> (Self, mpsc::Receiver<CameraRequest>) {
        let (tx, rx) = mpsc::channel(CHANGES_WAITING);
        (Self(tx), rx)
    }

    /// Asks for `change` on behalf of `who` and waits for the answer.
    pub async fn ask(&self, change: CameraChange, who: Principal) -> Result<Value, CameraRefusal> {
        let stopped = || CameraRefusal::Conflict("the cameras are stopping: the change was not made".into());
        let (reply, answer) = oneshot::channel();
        self.0.send(CameraRequest { change, who, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
