//! SQL checks, for PostgreSQL and MySQL/MariaDB URLs alike.

pub mod check;
