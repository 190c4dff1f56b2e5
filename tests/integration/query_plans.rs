//! The statements the code runs — the host statements with every query of the host request
//! function, every admin search, the event log and its expiry — use an index or a scan bounded
//! by the locks table, on a site with 100,000 hosts and 10,000 locks: none may scan Foreman's
//! `hosts` table. Each plan here is of the statement constant or builder the service itself
//! uses, with bind values, never a copy.

use chrono::NaiveDateTime;
use foreman_dlm::locks::lock_statements;
use foreman_dlm::locks::search::{parse_order, parse_search, ListQuery};
use foreman_dlm::settings::Secret;
use foreman_dlm::storage::locks::events::{EXPIRE_SQL, PAGE_OLDEST_FIRST_SQL};
use foreman_dlm::storage::locks::search::explain_list;
use foreman_dlm::storage::locks::statements::{HostLookup, HostOperation};
use foreman_dlm::storage::sql::{explain, explain_nested, sql};
use foreman_dlm::storage::Database;

use crate::common::TestDb;

fn big_site() -> TestDb {
    let db = TestDb::new();
    db.exec(
        "INSERT INTO hosts (name, certname, managed, type, created_at, updated_at)
         SELECT 'host' || i || '.example.com', 'host' || i || '.example.com', true, 'Host::Managed', now(), now()
           FROM generate_series(1, 100000) i;
         INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at)
         SELECT 'lock-' || i, 'ForemanDlm::Dlmlock::Update', i % 50 <> 0,
                CASE WHEN i % 4 = 0 THEN i * 7 END, now(), now() - make_interval(hours => i % 10)
           FROM generate_series(1, 10000) i;
         INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, created_at, updated_at)
         SELECT 1 + i % 10000, 'acquire', 1 + i % 100000, now() - make_interval(days => i % 30), now()
           FROM generate_series(1, 50000) i;
         INSERT INTO dlm_facets (host_id, last_checkin_at, created_at, updated_at)
         SELECT id, now(), now(), now() FROM hosts WHERE id % 2 = 0;
         INSERT INTO nics (host_id, type, name, \"primary\", created_at, updated_at)
         SELECT id, 'Nic::Managed', name, true, now(), now() FROM hosts WHERE id % 10 <> 0;
         INSERT INTO parameters (name, value, reference_id, type, created_at, updated_at)
         SELECT CASE WHEN i % 3 = 0 THEN 'can_acquire_update_locks' ELSE 'param' || i % 7 END,
                '--- true', i, 'HostParameter', now(), now()
           FROM generate_series(1, 20000) i;
         INSERT INTO parameters (name, value, type, created_at, updated_at)
         SELECT 'global' || i, 'x', 'CommonParameter', now(), now() FROM generate_series(1, 50) i;
         ANALYZE;",
    );
    db
}

fn assert_no_scan_of(plan: &str, tables: &[&str], what: &str) {
    for table in tables {
        assert!(
            !plan.contains(&format!("Seq Scan on {table}")),
            "{what} scans {table}:\n{plan}"
        );
    }
}

/// Every index scan of `table` in `plan` looks its rows up by `column`, instead of walking a
/// whole index (which a generic plan made on a small table may do).
fn assert_keyed(plan: &str, table: &str, column: &str, what: &str) {
    let lines: Vec<&str> = plan.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        if line.contains("Index") && line.contains(&format!(" on {table} ")) {
            let condition = lines.get(i + 1).copied().unwrap_or_default();
            assert!(
                condition.contains("Index Cond") && condition.contains(column),
                "{what} walks an index of {table} instead of looking {column} up:\n{plan}"
            );
        }
    }
}

#[actix_web::test]
async fn statements_never_scan_hosts_or_locks() {
    let db = big_site();
    let mut conn = Database::connect_once(&Secret::new(db.url.clone()))
        .await
        .expect("connection");

    // The service's sessions plan each prepared statement once (`connect::SESSION_SETUP`).
    #[derive(diesel::QueryableByName)]
    struct Setting {
        #[diesel(sql_type = diesel::sql_types::Text)]
        plan_cache_mode: String,
    }
    let setting: Setting =
        diesel_async::RunQueryDsl::get_result(sql("SHOW plan_cache_mode"), &mut conn)
            .await
            .expect("show");
    assert_eq!(setting.plan_cache_mode, "force_generic_plan");

    // The host statements, as the lock manager builds them, for an existing lock by name and
    // by id, a new lock, and an unknown host: every query they run, inside the host request
    // function too, as auto_explain reports them.
    let statements = lock_statements(&[]);
    let indexed = [
        "hosts",
        "dlmlocks",
        "dlm_facets",
        "foreman_dlm_lock_holders",
        "foreman_dlm_waiting",
        "foreman_dlm_lock_policies",
        "foreman_dlm_halts",
        "parameters",
        "nics",
        "dlmlock_events",
    ];
    for operation in [
        HostOperation::Show,
        HostOperation::Acquire {
            opt_out_verdict: None,
            gate_verdict: None,
        },
        HostOperation::Release,
    ] {
        for (subject, id, name) in [
            ("host4242.example.com", None, "lock-42"),
            ("host4243.example.com", Some(43), "43"),
            ("host4244.example.com", None, "a-new-lock"),
            ("nobody.example.com", Some(42), "42"),
        ] {
            let statement = sql(statements.host_request(operation, HostLookup::Certname))
                .bind(subject)
                .bind(id)
                .bind(name)
                .bind(None::<bool>)
                .bind(None::<NaiveDateTime>)
                .bind(None::<bool>)
                .bind(None::<String>);
            let plans = explain_nested(&db.url, &statement).await.expect("explain");
            let what = format!("{operation:?} by {subject} of {name}");
            // The statement itself, the host lookup, and (for a known host) the rest.
            assert!(plans.len() >= 2, "{what}: {plans:?}");
            assert!(
                plans.iter().any(|p| p.contains("index_hosts_on_certname")),
                "{what} finds the host by its certname index:\n{plans:#?}"
            );
            for plan in &plans {
                assert_no_scan_of(plan, &indexed, &what);
                assert_keyed(plan, "parameters", "type", &what);
                assert_keyed(plan, "nics", "host_id", &what);
            }
            if subject == "host4242.example.com" {
                assert!(
                    plans.len() >= 5 && plans.iter().any(|p| p.contains("dlmlocks_pkey")),
                    "{what} runs the check-in and finds the lock by its key:\n{plans:#?}"
                );
                eprintln!("{what}:\n{}\n", plans.join("\n"));
            }
        }
    }

    let searches = [
        "",
        "name = lock-42",
        "name ~ ock-4",
        "host = host28.example.com",
        "host ~ host2",
        "host !~ host2",
        "host != host28.example.com",
        "enabled = false",
        "locked = true",
        "stale = true and name ~ lock",
        "type = ForemanDlm::Dlmlock::Update",
        "holders > 0",
        "full = true",
    ];
    for search in searches {
        for order in ["name", "host DESC", "updated_at"] {
            let (sort, descending) = parse_order(order).expect("order");
            let query = ListQuery {
                filters: if search.is_empty() {
                    vec![]
                } else {
                    parse_search(search, 20, 1000).expect("search")
                },
                sort,
                descending,
                limit: Some(20),
                offset: 0,
                stale_hours: 4,
                clock: None,
            };
            let plans = explain_list(&mut conn, &statements, &query)
                .await
                .expect("explain");
            for plan in &plans {
                assert_no_scan_of(
                    plan,
                    &["hosts"],
                    &format!("search {search:?} order {order:?}"),
                );
            }
            if search == "name = lock-42" {
                assert!(
                    plans.iter().all(|p| p.contains("index_dlmlocks_on_name")
                        || p.contains("foreman_dlm_unique_lock_names")),
                    "name lookups use a name index:\n{plans:?}"
                );
            }
            if search.starts_with("host =") {
                assert!(
                    plans.iter().all(|p| p.contains("index_hosts_on_name")),
                    "{plans:?}"
                );
            }
            if order == "name" {
                eprintln!("search {search:?}:\n{}\n", plans[1]);
            }
        }
    }

    let events_plan = explain(
        &mut conn,
        &sql(PAGE_OLDEST_FIRST_SQL).bind(42).bind(20_i64).bind(0_i64),
    )
    .await
    .expect("explain");
    // The page names each event's host and user; Foreman's users table is a few rows to a few
    // hundred, where a scan is the planner's right choice, so only the big tables are checked.
    assert_no_scan_of(
        &events_plan,
        &["dlmlock_events", "hosts"],
        "the event log query",
    );
    assert!(events_plan.contains("hosts_pkey"), "{events_plan}");
    // A batch after the first starts from where the previous one stopped.
    let after: Option<chrono::NaiveDateTime> =
        chrono::DateTime::from_timestamp(1_700_000_000, 0).map(|t| t.naive_utc());
    let expiry_plan = explain(
        &mut conn,
        &sql(EXPIRE_SQL)
            .bind(after)
            .bind(after)
            .bind(Some(42_i64))
            .bind(1000_i64),
    )
    .await
    .expect("explain");
    assert!(
        expiry_plan.contains("index_dlmlock_events_on_created_at")
            && expiry_plan.contains("created_at >= ")
            && !expiry_plan.contains("Seq Scan"),
        "expiry batches use the created_at index and the primary key, never a table scan:\n{expiry_plan}"
    );
    eprintln!("event log:\n{events_plan}\n\nexpiry batch:\n{expiry_plan}");
}
