//! The built-in actions, named by one word: `shell`, `wait`, `approve`, `watch`.

pub mod approve;
pub mod shell;
pub mod wait;
pub mod watch;
