//! Grid cases: the problem at a place, with its code, evidence and objects.
//!
//! - [`taxonomy`]: categories and their standard codes;
//! - [`evidence`]: evidence images (zone and boxes drawn) as content-addressed JPEG files;
//! - [`CaseEngine`]: turns violations into cases, one open case per camera, zone and category.

mod engine;
pub mod evidence;
pub mod taxonomy;

pub use engine::{CaseEngine, CaseOutcome};
