//! The case domain: what a grid case is and how it may move, with no storage or transport in it.
//!
//! - [`people`]: the [`Role`] a token holder acts in and the [`Principal`] who acts;
//! - [`taxonomy`]: categories and their standard codes, urgencies and time limits (`config/taxonomy.toml`);
//! - [`deadlines`]: when a case is due, as the workflow moves it (working time from [`crate::calendar`]);
//! - [`grids`]: the 区 → 街道 → 社区 → 网格 hierarchy and its case counts;
//! - [`duplicates`]: reports of one problem from several sources, linked by distance and time;
//! - [`evidence`]: evidence images (zone and boxes drawn) as content-addressed JPEG files;
//! - [`whistles`]: departments called to a case (吹哨报到) and the directory of who handles what where;
//! - [`timeline`]: the steps a case's timeline records and who takes them;
//! - [`workflow`]: the seven-step closed loop and its side paths as a state machine, with the role
//!   each action needs.
//!
//! The work that needs the store — filing violations and citizen reports, the deadline clock — is in
//! [`crate::casework`], one layer up.

mod config;
pub mod deadlines;
pub mod duplicates;
pub mod evidence;
pub mod grids;
pub mod people;
pub mod quality;
pub mod taxonomy;
pub mod timeline;
pub mod whistles;
pub mod workflow;

pub use config::{CasesConfig, DepartmentConfig, GridConfig, WhistleTimes};
pub use people::{Principal, Role};
