//! CloudWatch: thresholds on an instance's metrics, checked once or watched.

pub mod guard;
