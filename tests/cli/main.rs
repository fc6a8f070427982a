//! Integration tests: the real `cutover` binary, run the way an operator runs it,
//! against real processes and files. One binary, one module per area.

mod support;

mod audit;
mod corpus;
mod lock;
mod resume;
mod run;
mod secrets;
mod validate;
