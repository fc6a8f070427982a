//! In-process tests of the engine: a `Plan` built by hand from fake actions,
//! run by a real `Runner` against a journal in a temporary directory. Each
//! test asserts the exact journal and the exact calls the fakes received.

mod fake;
mod harness;

mod failure;
mod forward;
mod resume;
