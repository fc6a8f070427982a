//! `Engine`: which database engine a URL names, by its scheme. Every action
//! or feature that takes either kind of URL (`sql.check`, `rds.promote`'s
//! lag check, the write canary, the plan's check of it) asks here.

/// The database engine of a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    Postgres,
    Mysql,
}

impl Engine {
    /// `postgres://` / `postgresql://` or `mysql://` / `mariadb://`; None otherwise.
    pub fn of(url: &str) -> Option<Engine> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else if url.starts_with("mysql://") || url.starts_with("mariadb://") {
            Some(Engine::Mysql)
        } else {
            None
        }
    }
}
