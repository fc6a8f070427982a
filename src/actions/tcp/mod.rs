//! TCP checks.

pub mod check;
