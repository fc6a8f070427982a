//! Elastic Load Balancing v2: move a target group from old targets to new
//! ones, waiting on its health checks and its connection draining.

pub mod swap;

mod api;
#[cfg(test)]
mod tests;
