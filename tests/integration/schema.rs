//! Migrations: the plugin's exact schema, a no-op over plugin-created tables, safe when concurrent.

use serde_json::{json, Value};

use crate::common::{cert_header, migrate, pki, send, Server, ServerOptions, TestDb};
use foreman_dlm::demo::FOREMAN_SCHEMA_SQL;
use foreman_dlm::storage::locks::statements::{HostLookup, HostOperation};
use foreman_dlm::storage::migrations;

const PLUGIN_TABLES_SQL: &str = include_str!("../fixtures/plugin_tables.sql");

fn foreman_db() -> TestDb {
    let db = TestDb::empty();
    db.exec(FOREMAN_SCHEMA_SQL);
    db
}

/// Columns, indexes and constraints of the plugin's tables as the catalog describes them.
fn describe(db: &TestDb) -> Value {
    json!({
        "columns": db.rows(
            "SELECT table_name, column_name, data_type, character_maximum_length, is_nullable, column_default
               FROM information_schema.columns
              WHERE table_name IN ('dlmlocks', 'dlmlock_events', 'dlm_facets')
              ORDER BY table_name, ordinal_position"),
        "indexes": db.rows(
            "SELECT indexname, replace(indexdef, 'public.', '') AS def FROM pg_indexes
              WHERE tablename IN ('dlmlocks', 'dlmlock_events', 'dlm_facets') AND indexname NOT IN ('index_dlmlocks_on_name', 'index_dlmlock_events_on_created_at', 'foreman_dlm_unique_lock_names', 'foreman_dlm_unique_facet_hosts')
              ORDER BY indexname"),
        "constraints": db.rows(
            "SELECT conrelid::regclass::text AS tbl, conname, pg_get_constraintdef(oid) AS def FROM pg_constraint
              WHERE conrelid::regclass::text IN ('dlmlocks', 'dlmlock_events', 'dlm_facets')
              ORDER BY conname"),
    })
}

fn all_rows(db: &TestDb) -> Value {
    json!({
        "locks": db.rows("SELECT * FROM dlmlocks ORDER BY id"),
        "events": db.rows("SELECT * FROM dlmlock_events ORDER BY id"),
        "facets": db.rows("SELECT * FROM dlm_facets ORDER BY id"),
    })
}

#[test]
fn migrations_create_exactly_the_plugins_schema() {
    let by_plugin = foreman_db();
    by_plugin.exec(PLUGIN_TABLES_SQL);
    let by_us = foreman_db();
    migrate(&by_us.url).expect("migrate");

    let ours = describe(&by_us);
    assert_eq!(ours, describe(&by_plugin));
    assert_eq!(ours["columns"].as_array().map(Vec::len), Some(19));
    assert_eq!(
        by_us.rows("SELECT indexdef FROM pg_indexes WHERE indexname = 'index_dlmlocks_on_name'"),
        json!([{"indexdef": "CREATE INDEX index_dlmlocks_on_name ON public.dlmlocks USING btree (name)"}]),
        "our addition for lookups by name: a non-unique name index"
    );
    assert_eq!(
        by_us.rows(
            "SELECT indexname, indexdef FROM pg_indexes WHERE indexname LIKE 'foreman_dlm_unique_%' ORDER BY 1"
        ),
        json!([
            {"indexname": "foreman_dlm_unique_facet_hosts",
             "indexdef": "CREATE UNIQUE INDEX foreman_dlm_unique_facet_hosts ON public.dlm_facets USING btree (host_id)"},
            {"indexname": "foreman_dlm_unique_lock_names",
             "indexdef": "CREATE UNIQUE INDEX foreman_dlm_unique_lock_names ON public.dlmlocks USING btree (name)"},
        ]),
        "without duplicates to keep, names and facet hosts are unique everywhere"
    );
}

#[actix_web::test]
async fn migrating_a_plugin_database_keeps_its_rows_and_they_keep_working() {
    let db = foreman_db();
    db.exec(PLUGIN_TABLES_SQL);
    let before = all_rows(&db);

    let applied = migrate(&db.url).expect("first migrate");
    let again = migrate(&db.url).expect("second migrate");

    assert_eq!(applied.len(), migration_count());
    assert!(again.is_empty(), "second run is a no-op");
    assert_eq!(all_rows(&db), before, "no row changed");
    assert_eq!(
        db.rows("SELECT dlmlock_id, host_id, acquired_at::text, refreshed_at::text FROM foreman_dlm_lock_holders"),
        json!([{"dlmlock_id": 7, "host_id": 101, "acquired_at": "2025-01-10 09:08:07.654321",
                "refreshed_at": "2025-01-10 09:08:07.654321"}]),
        "today's holder becomes a holder row, held since the lock last changed"
    );

    let server = Server::spawn(&ServerOptions::for_db(&db));
    let pki = pki::shared();
    let newcomer = cert_header(&pki.host("newcomer.example.com"));
    let old_holder = cert_header(&pki.host("old-holder.example.com"));
    let url = |path: &str| server.url(path);

    assert_eq!(
        send("PUT", &url("/api/dlmlocks/cluster-a/lock"), &newcomer)
            .await
            .status,
        412
    );
    let show = send("GET", &url("/api/dlmlocks/7/lock"), &old_holder).await;
    assert_eq!(show.body["created_at"], "2024-05-01 10:00:00 UTC");
    assert_eq!(
        show.body["host"],
        json!({"name": "old-holder.example.com", "self": true})
    );
    assert_eq!(
        send("DELETE", &url("/api/dlmlocks/cluster-a/lock"), &old_holder)
            .await
            .status,
        200
    );
    assert_eq!(
        send("PUT", &url("/api/dlmlocks/cluster-a/lock"), &newcomer)
            .await
            .status,
        200
    );
    assert_eq!(
        send("PUT", &url("/api/dlmlocks/frozen/lock"), &newcomer)
            .await
            .status,
        412
    );
    assert_eq!(
        send("GET", &url("/api/dlmlocks/from-api/lock"), &newcomer)
            .await
            .body["type"],
        Value::Null
    );
    assert_eq!(
        send("PUT", &url("/api/dlmlocks/dup/lock"), &newcomer)
            .await
            .body["id"],
        json!(10)
    );
    assert_eq!(
        send("PUT", &url("/api/dlmlocks/brand-new/lock"), &newcomer)
            .await
            .body["id"],
        json!(12)
    );

    assert_eq!(
        db.rows("SELECT id, dlmlock_id, event_type, host_id FROM dlmlock_events ORDER BY id"),
        json!([
            {"id": 1, "dlmlock_id": 7, "event_type": "acquire", "host_id": 101},
            {"id": 2, "dlmlock_id": 8, "event_type": "disable", "host_id": null},
            {"id": 3, "dlmlock_id": 7, "event_type": "fail", "host_id": 101},
            {"id": 4, "dlmlock_id": 7, "event_type": "release", "host_id": 101},
            {"id": 5, "dlmlock_id": 7, "event_type": "acquire", "host_id": 102},
            {"id": 6, "dlmlock_id": 8, "event_type": "fail", "host_id": null},
            {"id": 7, "dlmlock_id": 10, "event_type": "acquire", "host_id": 102},
            {"id": 8, "dlmlock_id": 12, "event_type": "acquire", "host_id": 102}
        ])
    );
    assert_eq!(
        db.rows("SELECT host_id, count(*) AS n FROM dlm_facets GROUP BY host_id ORDER BY host_id"),
        json!([{"host_id": 101, "n": 1}, {"host_id": 102, "n": 1}]),
        "the existing facet is reused, the new host gets one"
    );
}

#[test]
fn concurrent_migrations_are_serialised() {
    let db = foreman_db();
    let url = db.url.clone();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || migrations::run_pending(&url))
        })
        .collect();
    let applied: Vec<usize> = runs
        .into_iter()
        .map(|t| t.join().expect("thread").expect("migrate").len())
        .collect();

    assert_eq!(
        (
            applied.iter().filter(|n| **n > 0).count(),
            applied.iter().sum::<usize>()
        ),
        (1, migration_count()),
        "exactly one run applied every migration: {applied:?}"
    );
    assert_eq!(
        db.scalar("SELECT count(*) AS n FROM __diesel_schema_migrations"),
        json!(migration_count())
    );
}

/// How many migrations the service embeds.
fn migration_count() -> usize {
    use diesel::migration::MigrationSource;
    MigrationSource::<diesel::pg::Pg>::migrations(&migrations::MIGRATIONS)
        .expect("embedded migrations")
        .len()
}

/// `foreman_dlm_*` functions in the database: name → `pg_get_functiondef`.
fn functions_in(db: &TestDb) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut found = std::collections::BTreeMap::<String, Vec<String>>::new();
    let rows = db.rows(
        "SELECT p.proname::text AS name, pg_get_functiondef(p.oid) AS def FROM pg_proc p \
         JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE n.nspname = 'public' AND p.proname LIKE 'foreman\\_dlm\\_%'",
    );
    for row in rows.as_array().unwrap() {
        found
            .entry(row["name"].as_str().unwrap().to_string())
            .or_default()
            .push(row["def"].as_str().unwrap().to_string());
    }
    found
}

/// A source file as `pg_get_functiondef` prints the function: without its comment line and the
/// final semicolon.
fn as_defined(source: &str) -> String {
    let statement: String = source
        .lines()
        .skip_while(|line| line.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    statement
        .trim_end()
        .trim_end_matches(';')
        .trim_end()
        .to_string()
}

fn assert_each_function_is_its_file(db: &TestDb, state: &str) {
    let found = functions_in(db);
    let sources = foreman_dlm::storage::functions::FUNCTIONS;
    let mut names: Vec<&str> = sources.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    assert_eq!(
        found.keys().map(String::as_str).collect::<Vec<_>>(),
        names,
        "{state}: the functions in the database are exactly the source files"
    );
    for (name, source) in sources {
        let definitions = &found[name];
        assert_eq!(definitions.len(), 1, "{state}: {name} has one signature");
        assert_eq!(
            definitions[0].trim_end(),
            as_defined(source),
            "{state}: {name} is its file"
        );
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/src/storage/sql/functions");
    let files = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(files, sources.len(), "every file in {dir} is applied");
}

/// The last migration of each earlier release: 0.1.0 defined its functions in migrations, 0.2.0
/// recorded their source files in `foreman_dlm_function_sources`.
const RELEASE_0_1_0: &str = "20261205120000";
const RELEASE_0_2_0: &str = "20261205130000";

/// The database as a release that ended with migration `last` left it.
fn migrate_as_release(db: &TestDb, last: &str) {
    use diesel::migration::MigrationSource;
    use diesel::Connection;
    use diesel_migrations::MigrationHarness;
    // diesel's own table, as its harness creates it before the first migration.
    db.exec(
        "CREATE TABLE IF NOT EXISTS __diesel_schema_migrations (version VARCHAR(50) PRIMARY KEY \
         NOT NULL, run_on TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP)",
    );
    let mut conn = diesel::PgConnection::establish(&db.url).unwrap();
    let mut all = MigrationSource::<diesel::pg::Pg>::migrations(&migrations::MIGRATIONS).unwrap();
    all.sort_by_key(|m| m.name().version().to_string());
    for migration in all {
        if migration.name().version().to_string().as_str() <= last {
            conn.run_migration(&*migration).unwrap();
        }
    }
    if last == RELEASE_0_2_0 {
        // 0.2.0 applied its files, which held what the migrations had defined.
        db.exec(
            "INSERT INTO foreman_dlm_function_sources (name, checksum, applied_at) \
             SELECT p.proname, 'as 0.2.0 had it', now() FROM pg_proc p \
             WHERE p.proname LIKE 'foreman\\_dlm\\_%'",
        );
    }
}

#[test]
fn every_function_in_the_database_is_defined_by_exactly_one_source_file() {
    // A fresh Foreman database.
    let fresh = TestDb::new();
    assert_each_function_is_its_file(&fresh, "fresh");

    // A database where the plugin made its tables, then migrated.
    let by_plugin = foreman_db();
    by_plugin.exec(PLUGIN_TABLES_SQL);
    migrate(&by_plugin.url).expect("migrate");
    assert_each_function_is_its_file(&by_plugin, "plugin tables");

    // Each earlier release's state, then this one's.
    for release in [RELEASE_0_1_0, RELEASE_0_2_0] {
        let earlier = foreman_db();
        earlier.exec(PLUGIN_TABLES_SQL);
        migrate_as_release(&earlier, release);
        assert!(!functions_in(&earlier).is_empty());
        migrate(&earlier.url).expect("migrate");
        assert_each_function_is_its_file(&earlier, &format!("from {release}"));
    }
}

fn migrate_command(db: &TestDb) -> String {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_foreman-dlm"))
        .arg("migrate")
        .env("FOREMAN_DLM__DATABASE__URL", &db.url)
        .env("FOREMAN_DLM__METRICS__LISTEN", "")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn changing_a_function_file_replaces_only_that_function() {
    let db = TestDb::new();
    let before = db.rows("SELECT name, applied_at FROM foreman_dlm_function_sources ORDER BY name");
    assert_eq!(
        migrate_command(&db).trim(),
        "database is up to date; nothing to migrate"
    );

    // What a changed file looks like to `migrate`: another checksum, and the old body.
    db.exec(
        "UPDATE foreman_dlm_function_sources SET checksum = 'the previous file' \
         WHERE name = 'foreman_dlm_window_open'; \
         CREATE OR REPLACE FUNCTION foreman_dlm_window_open(windows jsonb, at timestamp) \
         RETURNS boolean LANGUAGE sql AS 'SELECT true'",
    );
    assert_eq!(
        migrate_command(&db).trim(),
        "replaced functions: foreman_dlm_window_open"
    );
    assert_each_function_is_its_file(&db, "after the change");
    let after = db.rows("SELECT name, applied_at FROM foreman_dlm_function_sources ORDER BY name");
    let changed: Vec<&Value> = before
        .as_array()
        .unwrap()
        .iter()
        .zip(after.as_array().unwrap())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| &a["name"])
        .collect();
    assert_eq!(changed, vec![&json!("foreman_dlm_window_open")]);
}

#[test]
fn two_concurrent_migrates_apply_each_function_once() {
    let db = foreman_db();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_foreman-dlm"))
                .arg("migrate")
                .env("FOREMAN_DLM__DATABASE__URL", &db.url)
                .env("FOREMAN_DLM__METRICS__LISTEN", "")
                .stdout(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let said: String = runs
        .into_iter()
        .map(|run| {
            let output = run.wait_with_output().unwrap();
            assert!(output.status.success());
            String::from_utf8_lossy(&output.stdout).into_owned()
        })
        .collect();
    for (name, _) in foreman_dlm::storage::functions::FUNCTIONS {
        let times = said
            .lines()
            .filter(|line| line.starts_with("replaced functions:"))
            .flat_map(|line| line["replaced functions:".len()..].split(','))
            .filter(|listed| listed.trim() == name)
            .count();
        assert_eq!(times, 1, "{name} applied once:\n{said}");
    }
    assert_eq!(
        db.scalar("SELECT count(*) FROM foreman_dlm_function_sources"),
        json!(foreman_dlm::storage::functions::FUNCTIONS.len())
    );
    assert_each_function_is_its_file(&db, "after two concurrent runs");
}

/// The host request as the previous release (0.2.0) sends it, recorded from its statement, with
/// the settings' defaults.
fn previous_release_call(operation: &str, lock: &str) -> String {
    format!(
        "SELECT r.outcome FROM foreman_dlm_host_request_v2('{operation}', 'certname', \
         'web1.example.com', NULL, '{lock}', true, (now() AT TIME ZONE 'UTC')::timestamp, \
         1, 0, '[]'::jsonb, 'dlm_lock_opt_out', '[]'::jsonb, '[\"true\"]'::jsonb, 60, 20) r"
    )
}

#[test]
fn an_instance_of_the_previous_release_keeps_working_during_the_upgrade() {
    // The database as the previous release left it.
    let db = foreman_db();
    migrate_as_release(&db, RELEASE_0_2_0);
    let web1 = db.add_host("web1.example.com");
    let acquired = db.scalar(&previous_release_call("acquire", "before"));
    assert_eq!(acquired, json!("granted"), "before the upgrade");

    // This release migrates while the previous one keeps serving: its holders refresh and
    // release, and a new holder waits for an upgraded instance, since the previous release
    // knows neither the new policy values of the settings nor the alert gate.
    migrate(&db.url).expect("migrate");
    let refreshed = db.scalar(&previous_release_call("acquire", "before"));
    assert_eq!(refreshed, json!("refreshed"), "a refresh after the upgrade");
    let released = db.scalar(&previous_release_call("release", "before"));
    assert_eq!(released, json!("released"), "after the upgrade");
    let refused = db.scalar(&previous_release_call("acquire", "after"));
    assert_eq!(
        refused,
        json!("held"),
        "a 412, as the previous release knows it"
    );
    assert_eq!(
        db.rows("SELECT w.reason FROM foreman_dlm_waiting w"),
        json!([{"reason": "blocked"}])
    );
    // This release's own statement grants it.
    let statements = foreman_dlm::locks::lock_statements(&[]);
    let acquire = statements.host_request(
        HostOperation::Acquire {
            opt_out_verdict: None,
            gate_verdict: None,
        },
        HostLookup::Certname,
    );
    let current = db.scalar(&format!(
        "SELECT r.outcome FROM ({}) r",
        acquire
            .replace("$1", "'web1.example.com'")
            .replace("$2", "NULL::integer")
            .replace("$3", "'after'")
            .replace("$4", "NULL::boolean")
            .replace("$5", "NULL::timestamp")
            .replace("$6", "NULL::boolean")
            .replace("$7", "NULL::text")
    ));
    assert_eq!(current, json!("granted"));
    assert_eq!(
        db.rows("SELECT name, host_id FROM dlmlocks ORDER BY name"),
        json!([
            {"name": "after", "host_id": web1},
            {"name": "before", "host_id": null},
        ])
    );
    assert_eq!(
        db.rows("SELECT event_type, host_id FROM dlmlock_events ORDER BY id"),
        json!([
            {"event_type": "acquire", "host_id": web1},
            {"event_type": "release", "host_id": web1},
            {"event_type": "fail", "host_id": null},
            {"event_type": "acquire", "host_id": web1},
        ]),
        "every change has its event"
    );
    // What only 0.1.0 called is gone, with its record.
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM pg_proc WHERE proname IN \
             ('foreman_dlm_acquire', 'foreman_dlm_release', 'foreman_dlm_host_request')"
        ),
        json!(0)
    );
    assert_eq!(
        db.scalar(
            "SELECT count(*) FROM foreman_dlm_function_sources WHERE name IN \
             ('foreman_dlm_acquire', 'foreman_dlm_release', 'foreman_dlm_host_request')"
        ),
        json!(0)
    );
}
