//! Work on cases that reads and writes the store: the layer above [`crate::store`], below
//! [`crate::notify`] and [`crate::api`].
//!
//! - [`CaseEngine`]: turns violations into cases, one open case per camera, zone and category;
//! - [`CameraSites`]: where each camera is (its grid, its position), as cameras come and go;
//! - [`citizen`]: citizen reports (Open311) with a photo, the category suggested by the detector;
//! - [`plates`]: licence plates of parking cases, read off the camera path, erased after retention;
//! - [`supervise_overdue`]: puts cases past their deadline under supervision (督办).

pub mod citizen;
pub mod dataset;
mod engine;
pub mod plates;
mod sites;
mod supervision;

pub use engine::{CaseEngine, CaseOutcome, EngineSettings};
pub use sites::{CameraSite, CameraSites};
pub use supervision::supervise_overdue;
