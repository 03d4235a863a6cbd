//! Grid cases: the problem at a place, with its code, evidence and objects.
//!
//! - [`taxonomy`]: categories and their standard codes;
//! - [`evidence`]: evidence images (zone and boxes drawn) as content-addressed JPEG files;
//! - [`CaseEngine`]: turns violations into cases, one open case per camera, zone and category;
//! - [`workflow`]: the seven-step closed loop and its side paths as a state machine, with the role
//!   each action needs.

mod engine;
pub mod evidence;
pub mod taxonomy;
pub mod workflow;

pub use engine::{CaseEngine, CaseOutcome};
