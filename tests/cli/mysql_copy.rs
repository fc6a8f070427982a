//! MySQL/MariaDB: mysql_copy (being written).
