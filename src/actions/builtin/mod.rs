//! The built-in actions, named by one word: `shell`, `wait`, `approve`.

pub mod approve;
pub mod shell;
pub mod wait;
