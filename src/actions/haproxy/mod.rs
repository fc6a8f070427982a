//! HAProxy through its runtime API: swap a backend's servers, or shift their
//! weights gradually.

mod api;
mod swap;
mod weights;

pub use api::RuntimeApi;
pub use swap::HaproxySwap;
pub use weights::HaproxyWeights;
