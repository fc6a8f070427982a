//! How far a replica is behind its source, as its own engine sees it: what
//! `rds.promote` waits on before it promotes (a promotion of a replica that
//! has not replayed everything loses those writes for good).

/// One reading of a replica's lag.
#[derive(Debug, Clone, PartialEq)]
pub struct LagReading {
    /// True when everything received has been replayed and replication is
    /// running (so nothing is left on the source that the replica lacks,
    /// once writes there are frozen).
    pub caught_up: bool,
    /// The figures, for the operator: `12 s behind`, `3.1 MiB received, not replayed`.
    pub shown: String,
}
