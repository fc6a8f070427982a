//! Reporters: render the engine's records and progress for people (a live
//! display on a terminal, plain lines otherwise) and machines (JSON lines).

mod html;
mod human;
mod json;
mod markdown;
mod observer;
mod plain;
mod style;
mod summary;
mod transfer;

pub use html::html;
pub use human::Human;
pub use json::Json;
pub use markdown::markdown;
pub use observer::Observer;
pub use plain::Plain;
pub use style::{clock, describe_record, StepTitles};
pub use summary::{Bar, RunSummary};
