//! HTTP checks, and the error text every HTTP caller shows.

pub mod check;
pub(crate) mod error;
