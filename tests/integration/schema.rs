//! Migrations: the plugin's exact schema, a no-op over plugin-created tables, safe when concurrent.

use serde_json::{json, Value};

use crate::common::{cert_header, migrate, pki, send, Server, ServerOptions, TestDb};
use foreman_dlm::demo::FOREMAN_SCHEMA_SQL;
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
