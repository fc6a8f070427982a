//! Locks across hosts: a PostgreSQL session-level advisory lock per key (the
//! playbook's name, every endpoint its steps drive), held by the store's one
//! session for the whole command. A holder that dies — kill -9, a lost
//! network — frees them with its session; nothing stale is ever left to
//! clear by hand. The `cutover.locks` rows only name the holder for the
//! refusal message.

use sha2::Digest;

use super::Store;

/// Who asks for the locks.
pub struct Holder<'a> {
    pub run_id: &'a str,
    pub operator: &'a str,
    pub host: &'a str,
}

/// A key another run holds, and who.
#[derive(Debug)]
pub struct Held {
    pub key: String,
    pub holder: String,
}

/// The advisory lock id of a key: the first 8 bytes of its SHA-256.
fn lock_id(key: &str) -> i64 {
    let hash = sha2::Sha256::digest(key.as_bytes());
    i64::from_be_bytes(hash[..8].try_into().expect("8 bytes"))
}

impl Store {
    /// Takes every key's lock, in order, none waited for (so no order can
    /// deadlock); on the first one held elsewhere, releases those taken and
    /// says who holds it.
    pub fn lock(&self, keys: &[String], holder: &Holder) -> anyhow::Result<Result<(), Held>> {
        let mut seen = std::collections::BTreeSet::new();
        let keys: Vec<String> = keys
            .iter()
            .filter(|key| seen.insert(key.as_str()))
            .cloned()
            .collect();
        let (run_id, operator, host) = (
            holder.run_id.to_string(),
            holder.operator.to_string(),
            holder.host.to_string(),
        );
        let pid = std::process::id() as i32;
        self.call("take the run's locks", move |client| async move {
            let mut taken = Vec::new();
            for key in &keys {
                let id = lock_id(key);
                let locked: bool = client
                    .query_one("SELECT pg_try_advisory_lock($1)", &[&id])
                    .await?
                    .get(0);
                if !locked {
                    for id in taken {
                        client
                            .execute("SELECT pg_advisory_unlock($1)", &[&id])
                            .await?;
                    }
                    let holder = describe(&client, key).await?;
                    return Ok(Err(Held {
                        key: key.clone(),
                        holder,
                    }));
                }
                taken.push(id);
                client
                    .execute(
                        "INSERT INTO cutover.locks (key, lock_id, run_id, operator, host, pid, since, heartbeat_at)
                         VALUES ($1, $2, $3, $4, $5, $6, now(), now())
                         ON CONFLICT (key) DO UPDATE SET lock_id = $2, run_id = $3, operator = $4,
                             host = $5, pid = $6, since = now(), heartbeat_at = now()",
                        &[key, &id, &run_id, &operator, &host, &pid],
                    )
                    .await?;
            }
            Ok(Ok(()))
        })
    }
}

/// "run R by OPERATOR on HOST (pid P) since T, last heartbeat Ns ago".
async fn describe(
    client: &tokio_postgres::Client,
    key: &str,
) -> Result<String, tokio_postgres::Error> {
    let row = client
        .query_opt(
            "SELECT run_id, operator, host, pid, to_char(since AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),
                    extract(epoch FROM now() - heartbeat_at)::float8
             FROM cutover.locks WHERE key = $1",
            &[&key],
        )
        .await?;
    Ok(match row {
        Some(row) => {
            let (run, operator, host, pid, since, age): (String, String, String, i32, String, f64) = (
                row.get(0),
                row.get(1),
                row.get(2),
                row.get(3),
                row.get(4),
                row.get(5),
            );
            format!(
                "run {run} by {operator} on {host} (pid {pid}) since {since}, last heartbeat {}s ago",
                age.round() as i64
            )
        }
        None => "a holder that has not said who it is yet".into(),
    })
}
