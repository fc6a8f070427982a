//! MySQL/MariaDB: mysql_archive (being written).
