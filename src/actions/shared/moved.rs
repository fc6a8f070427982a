//! `Moved`: what a data-moving step read from its source, in one shape for
//! every engine and action (`"moved": {"bytes", "rows", "tables"}` in its
//! journaled `applied`). Rehearsals record it beside the step's duration;
//! `plan --measure` asks each such action what it would move now in the
//! same unit, so a rehearsed rate scales to the data there is today.

use serde::{Deserialize, Serialize};

/// The key of the shape inside an action's `Applied.data`.
pub const KEY: &str = "moved";

/// What a step read from its source.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Moved {
    /// The size of what was read, as its source accounts it: the tables on
    /// disk (heap and TOAST for PostgreSQL, data and indexes for MySQL) for
    /// copies, checksum verifies and replication's initial sync — the unit
    /// `plan --measure` reads, so a rehearsed rate of these bytes per second
    /// scales to today's size; the database's size for snapshots; the
    /// archive's bytes for restores; the bytes read for a prewarm.
    pub bytes: u64,
    /// Rows read (counted where the action reads them, else the server's estimate).
    pub rows: u64,
    /// Tables read (relations — tables, TOAST, indexes — for `postgres.prewarm`).
    pub tables: u64,
}

impl Moved {
    /// The sum over tables given as (bytes, rows).
    pub fn of_tables(tables: impl IntoIterator<Item = (u64, u64)>) -> Moved {
        tables
            .into_iter()
            .fold(Moved::default(), |sum, (bytes, rows)| Moved {
                bytes: sum.bytes + bytes,
                rows: sum.rows + rows,
                tables: sum.tables + 1,
            })
    }

    /// The same with the rows counted as they were read.
    pub fn with_rows(self, rows: u64) -> Moved {
        Moved { rows, ..self }
    }

    /// Adds `"moved"` to an action's journaled facts (an object).
    pub fn into_data(self, mut data: serde_json::Value) -> serde_json::Value {
        if let Some(object) = data.as_object_mut() {
            object.insert(
                KEY.to_string(),
                serde_json::to_value(self).unwrap_or_default(),
            );
        }
        data
    }

    /// Reads the shape back from a journaled `applied`, if the step recorded it.
    pub fn from_data(data: &serde_json::Value) -> Option<Moved> {
        serde_json::from_value(data.get(KEY)?.clone()).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_goes_into_the_journaled_facts_and_comes_back() {
        let moved = Moved::of_tables([(1000, 10), (24, 2)]);
        assert_eq!(
            moved,
            Moved {
                bytes: 1024,
                rows: 12,
                tables: 2
            }
        );
        let data = moved.into_data(serde_json::json!({ "mode": "checksum" }));
        assert_eq!(data["moved"]["bytes"], 1024);
        assert_eq!(data["mode"], "checksum");
        assert_eq!(Moved::from_data(&data), Some(moved));
        assert_eq!(Moved::from_data(&serde_json::json!({ "tables": 3 })), None);
    }
}
