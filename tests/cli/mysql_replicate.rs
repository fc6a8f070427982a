//! MySQL/MariaDB: mysql_replicate (being written).
