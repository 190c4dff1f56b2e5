//! Every admin query uses an index or a scan bounded by the locks table, on a site with 100,000
//! hosts and 10,000 locks: none may scan Foreman's `hosts` table.

use foreman_dlm::locks::search::{parse_order, parse_search};
use foreman_dlm::storage::locks::{explain_list, ListQuery};

use crate::common::TestDb;

#[test]
fn searches_never_scan_the_hosts_table() {
    let db = TestDb::new();
    db.exec(
        "INSERT INTO hosts (name, managed, type, created_at, updated_at)
         SELECT 'host' || i || '.example.com', true, 'Host::Managed', now(), now() FROM generate_series(1, 100000) i;
         INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at)
         SELECT 'lock-' || i, 'ForemanDlm::Dlmlock::Update', i % 50 <> 0,
                CASE WHEN i % 4 = 0 THEN i * 7 END, now(), now() - make_interval(hours => i % 10)
           FROM generate_series(1, 10000) i;
         INSERT INTO dlmlock_events (dlmlock_id, event_type, host_id, created_at, updated_at)
         SELECT 1 + i % 10000, 'acquire', 1 + i % 100000, now() - make_interval(days => i % 30), now()
           FROM generate_series(1, 50000) i;
         ANALYZE;",
    );
    let mut conn = db.conn();
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
    ];
    for search in searches {
        for order in ["name", "host DESC", "updated_at"] {
            let (sort, descending) = parse_order(order).expect("order");
            let query = ListQuery {
                filters: if search.is_empty() {
                    vec![]
                } else {
                    parse_search(search).expect("search")
                },
                sort,
                descending,
                limit: Some(20),
                offset: 0,
                stale_hours: 4,
            };
            let plans = explain_list(&mut conn, &query).expect("explain");
            for plan in &plans {
                assert!(
                    !plan.contains("Seq Scan on hosts"),
                    "search {search:?} order {order:?} scans hosts:\n{plan}"
                );
            }
            if search == "name = lock-42" {
                assert!(
                    plans.iter().all(|p| p.contains("index_dlmlocks_on_name")),
                    "name lookups use the name index:\n{plans:?}"
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
    let events_plan = db.plan(
        "SELECT id, event_type, host_id, user_id, created_at, updated_at FROM dlmlock_events \
         WHERE dlmlock_id = 42 ORDER BY id ASC LIMIT 20 OFFSET 0",
    );
    assert!(
        !events_plan.contains("Seq Scan"),
        "event log query:\n{events_plan}"
    );
    let expiry_plan = db.plan(
        "DELETE FROM dlmlock_events WHERE id = ANY(ARRAY(SELECT id FROM dlmlock_events \
         WHERE created_at < now() AT TIME ZONE 'UTC' - make_interval(days => 7) ORDER BY created_at LIMIT 1000))",
    );
    assert!(
        expiry_plan.contains("index_dlmlock_events_on_created_at") && !expiry_plan.contains("Seq Scan"),
        "expiry batches use the created_at index and the primary key, never a table scan:\n{expiry_plan}"
    );
    eprintln!("event log:\n{events_plan}\n\nexpiry batch:\n{expiry_plan}");
}
