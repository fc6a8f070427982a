//! HTTP checks, and what every HTTP caller shares: the error text, an internal CA.

pub mod check;
pub(crate) mod error;
pub(crate) mod trust;
