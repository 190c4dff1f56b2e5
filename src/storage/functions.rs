//! The database functions, each from the one file that holds its current definition
//! (`sql/functions/NAME.sql`). Versioned migrations keep their history; after them, `migrate`
//! applies each file whose checksum differs from the one recorded in
//! `foreman_dlm_function_sources`, like Flyway's repeatable migrations. A function keeps its
//! signature for life: a new signature is a new name, and the old one stays for one release, for
//! the instances of the previous release during a rolling upgrade.

use diesel::sql_types::Text;
use diesel::{Connection, OptionalExtension, RunQueryDsl};

macro_rules! source {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("sql/functions/", $name, ".sql")),
        )
    };
}

/// Every function's name and source, callees before their callers: each file is applied in a
/// transaction of its own while the previous release keeps serving, and a body that calls a
/// function not created yet would fail its requests until the rest is applied. A unit test
/// holds the order.
pub const FUNCTIONS: [(&str, &str); 29] = [
    source!("foreman_dlm_enqueue"),
    source!("foreman_dlm_notify_event"),
    source!("foreman_dlm_log_event"),
    source!("foreman_dlm_window_open"),
    source!("foreman_dlm_next_window"),
    source!("foreman_dlm_holders"),
    source!("foreman_dlm_holders_json"),
    source!("foreman_dlm_host_parameter"),
    source!("foreman_dlm_locks_held_by"),
    source!("foreman_dlm_settle_holders"),
    source!("foreman_dlm_stamp"),
    source!("foreman_dlm_slot_freed"),
    source!("foreman_dlm_expire_holders"),
    source!("foreman_dlm_holder_counts"),
    source!("foreman_dlm_hold"),
    source!("foreman_dlm_granted"),
    source!("foreman_dlm_refuse"),
    source!("foreman_dlm_lapse_reason"),
    source!("foreman_dlm_halt"),
    source!("foreman_dlm_lapse_holders"),
    source!("foreman_dlm_halt_json"),
    source!("foreman_dlm_resume"),
    source!("foreman_dlm_cooling_until"),
    source!("foreman_dlm_acquire_held"),
    source!("foreman_dlm_release_held"),
    source!("foreman_dlm_acquire_slot"),
    source!("foreman_dlm_release_slot"),
    source!("foreman_dlm_host_request_v3"),
    source!("foreman_dlm_host_request_v2"),
];

#[derive(diesel::QueryableByName)]
struct Recorded {
    #[diesel(sql_type = Text)]
    checksum: String,
}

/// A source's checksum: SHA-256 of the file, in hex.
pub fn checksum(source: &str) -> String {
    openssl::sha::sha256(source.as_bytes())
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// A function file the database refused: its name says which file to look at.
#[derive(Debug)]
pub struct FunctionFailed {
    pub name: &'static str,
    pub error: diesel::result::Error,
}

/// Applies every function whose source changed since it was last applied, each in a transaction
/// of its own, and returns their names. The caller holds the migration lock.
pub fn apply_changed<C>(conn: &mut C) -> Result<Vec<String>, FunctionFailed>
where
    C: Connection<Backend = diesel::pg::Pg> + diesel::connection::LoadConnection,
{
    let mut applied = Vec::new();
    for (name, source) in FUNCTIONS {
        let wanted = checksum(source);
        let recorded: Option<Recorded> =
            diesel::sql_query("SELECT checksum FROM foreman_dlm_function_sources WHERE name = $1")
                .bind::<Text, _>(name)
                .get_result(conn)
                .optional()
                .map_err(|error| FunctionFailed { name, error })?;
        if recorded.is_some_and(|r| r.checksum == wanted) {
            continue;
        }
        conn.transaction(|conn| {
            conn.batch_execute(source)?;
            diesel::sql_query(
                "INSERT INTO foreman_dlm_function_sources (name, checksum, applied_at) \
                 VALUES ($1, $2, now() AT TIME ZONE 'UTC') \
                 ON CONFLICT (name) DO UPDATE \
                 SET checksum = EXCLUDED.checksum, applied_at = EXCLUDED.applied_at",
            )
            .bind::<Text, _>(name)
            .bind::<Text, _>(&wanted)
            .execute(conn)
            .map(|_| ())
        })
        .map_err(|error| FunctionFailed { name, error })?;
        applied.push(name.to_string());
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::FUNCTIONS;

    /// The functions a source calls: `foreman_dlm_NAME(` for a NAME in [`FUNCTIONS`].
    fn calls(source: &str) -> Vec<&'static str> {
        FUNCTIONS
            .iter()
            .map(|(name, _)| *name)
            .filter(|name| {
                source
                    .match_indices(name)
                    .any(|(at, _)| source[at + name.len()..].starts_with('('))
            })
            .collect()
    }

    #[test]
    fn every_function_comes_after_the_functions_it_calls() {
        for (position, (name, source)) in FUNCTIONS.iter().enumerate() {
            let body = &source[source.find("$function$").unwrap_or(0)..];
            for callee in calls(body) {
                let at = FUNCTIONS.iter().position(|(n, _)| *n == callee);
                assert!(
                    at.is_some_and(|at| at < position),
                    "{name} calls {callee}, which is applied after it"
                );
            }
        }
        assert!(calls("SELECT foreman_dlm_hold(1)").contains(&"foreman_dlm_hold"));
    }
}
