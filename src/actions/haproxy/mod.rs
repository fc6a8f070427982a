//! HAProxy through its runtime API: swap a backend's servers, or shift their
//! weights gradually.

mod api;
mod config;
mod name;
pub mod swap;
pub mod weights;

pub use api::RuntimeApi;
