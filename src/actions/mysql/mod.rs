//! MySQL and MariaDB actions, named and shaped like their PostgreSQL twins so a
//! playbook reads the same for both engines.

mod connect;
mod freeze;
mod verify;

pub use freeze::{ReadOnly, ReadWrite};
pub use verify::Verify;
