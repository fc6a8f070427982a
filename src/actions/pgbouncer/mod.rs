//! PgBouncer through its admin console: pause and resume a database, and
//! switch it to another server with no failed query.

mod console;
mod ini;
pub mod pause;
pub mod resume;
pub mod switch;
