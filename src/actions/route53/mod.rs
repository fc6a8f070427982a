//! Route 53: point a DNS name somewhere else and wait until resolvers have let
//! go of the old answer.

pub mod swap;

mod api;
#[cfg(test)]
mod tests;
