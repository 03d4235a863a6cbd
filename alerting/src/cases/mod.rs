//! Grid cases: the problem at a place, with its code, evidence and objects.
//!
//! - [`taxonomy`]: categories and their standard codes, urgencies and time limits (`config/taxonomy.toml`);
//! - [`calendar`]: working time against a holiday calendar (`config/calendar.toml`);
//! - [`deadlines`]: when a case is due, as the workflow moves it;
//! - [`grids`]: the 区 → 街道 → 社区 → 网格 hierarchy and its case counts;
//! - [`duplicates`]: reports of one problem from several sources, linked by distance and time;
//! - [`evidence`]: evidence images (zone and boxes drawn) as content-addressed JPEG files;
//! - [`CaseEngine`]: turns violations into cases, one open case per camera, zone and category;
//! - [`supervise_overdue`]: puts cases past their deadline under supervision (督办);
//! - [`whistles`]: departments called to a case (吹哨报到) and the directory of who handles what where;
//! - [`workflow`]: the seven-step closed loop and its side paths as a state machine, with the role
//!   each action needs.

pub mod calendar;
pub mod citizen;
pub mod deadlines;
pub mod duplicates;
mod engine;
pub mod evidence;
pub mod grids;
mod supervision;
pub mod taxonomy;
pub mod whistles;
pub mod workflow;

pub use engine::{CameraSite, CaseEngine, CaseOutcome, ClosedCases, EngineSettings};
pub use supervision::supervise_overdue;
