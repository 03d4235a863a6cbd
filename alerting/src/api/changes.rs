//! The channels between the API and what runs this node's cameras and rules: the changes `POST`, `PUT`
//! and `DELETE /api/v1/cameras` and `PUT` and `DELETE /api/v1/rules/{rule}` ask for, each with its
//! answer (the binary's keepers serve them: validating and applying them takes the whole
//! configuration and the running stages, which the API does not hold).

use serde_json::Value;
use tokio::sync::{mpsc, oneshot};

use super::error::ApiError;
use crate::cases::Principal;

/// Changes waiting for their keeper (a request waits while it is full).
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

/// A change to the running rules' settings.
#[derive(Debug)]
pub enum RuleChange {
    /// Sets `rule`'s section (`illegal_parking`, `litter`, `illegal_construction`): the keys of its
    /// `[rules.<rule>]` section as JSON.
    Set {
        /// The rule.
        rule: String,
        /// Its section.
        section: Value,
    },
    /// Takes `rule` back to the configuration file's section.
    Reset {
        /// The rule.
        rule: String,
    },
}

/// Why a change was not made.
#[derive(Debug, thiserror::Error)]
pub enum ChangeRefusal {
    /// The change does not validate; every problem with its key path.
    #[error("{0}")]
    Invalid(String),
    /// No such camera or rule.
    #[error("{0}")]
    Unknown(String),
    /// The change conflicts with what runs (a camera of that id exists; the service is stopping; a
    /// stream could not start; nothing to reset).
    #[error("{0}")]
    Conflict(String),
    /// The database did not keep the change (nothing was changed).
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl From<ChangeRefusal> for ApiError {
    fn from(refusal: ChangeRefusal) -> Self {
        match refusal {
            ChangeRefusal::Invalid(problems) => Self::BadRequest(problems),
            ChangeRefusal::Unknown(message) => Self::NotFound(message),
            ChangeRefusal::Conflict(message) => Self::Conflict(message),
            ChangeRefusal::Store(error) => Self::Internal(error),
        }
    }
}

/// A change asked for, with who asked and where the answer goes: what is now in force (without
/// secrets, with `source`, `changed_at` and `changed_by`), or why not.
#[derive(Debug)]
pub struct ChangeRequest<C> {
    /// The change.
    pub change: C,
    /// Who asked (audited).
    pub who: Principal,
    /// The answer.
    pub reply: oneshot::Sender<Result<Value, ChangeRefusal>>,
}

/// Where the API sends changes of kind `C`; cloned into the API state.
#[derive(Debug)]
pub struct Changes<C>(mpsc::Sender<ChangeRequest<C>>);

impl<C> Clone for Changes<C> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

/// Where camera changes go.
pub type CameraChanges = Changes<CameraChange>;
/// Where rule changes go.
pub type RuleChanges = Changes<RuleChange>;

impl<C> Changes<C> {
    /// A channel of changes, and its receiving end for their keeper.
    pub fn channel() -> (Self, mpsc::Receiver<ChangeRequest<C>>) {
        let (tx, rx) = mpsc::channel(CHANGES_WAITING);
        (Self(tx), rx)
    }

    /// Asks for `change` on behalf of `who` and waits for the answer.
    pub async fn ask(&self, change: C, who: Principal) -> Result<Value, ChangeRefusal> {
        let stopped = || ChangeRefusal::Conflict("the service is stopping: the change was not made".into());
        let (reply, answer) = oneshot::channel();
        self.0.send(ChangeRequest { change, who, reply }).await.map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}
