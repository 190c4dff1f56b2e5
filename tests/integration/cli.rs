//! The binary's subcommands as an operator runs them: `check-config`, `migrate`, `serve`.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;

use crate::common::{pki, TestDb};
use foreman_dlm::demo::FOREMAN_SCHEMA_SQL;

fn foreman_dlm(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_foreman-dlm"));
    // Never the default metrics port: tests run side by side.
    command
        .arg("--config")
        .arg(config)
        .args(args)
        .env("FOREMAN_DLM__METRICS__LISTEN", "127.0.0.1:0");
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().expect("run foreman-dlm")
}

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A settings file for `db`, with a password in the URL that must never be printed.
fn settings_file(dir: &Path, db: &TestDb, ca_file: &Path) -> std::path::PathBuf {
    let url = db.url.replace("postgres@", "postgres:Sup3rSecret@");
    let path = dir.join("settings.toml");
    std::fs::write(
        &path,
        format!(
            "[database]\nurl = \"{url}\"\n\n[client_cert]\nca_files = [\"{}\"]\n",
            ca_file.display()
        ),
    )
    .expect("write settings");
    path
}

#[test]
fn check_config_prints_redacted_settings_and_passes() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);

    let output = foreman_dlm(
        &config,
        &["check-config"],
        &[("FOREMAN_DLM__HTTP__LISTEN", "127.0.0.1:9999")],
    );

    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("configuration OK"), "{out}");
    assert!(out.contains("postgres:********@"), "{out}");
    assert!(!out.contains("Sup3rSecret"), "password printed: {out}");
    assert!(
        out.contains("listen = \"127.0.0.1:9999\""),
        "environment overrides the file: {out}"
    );
    for limit in [
        "[limits]",
        "search_conditions = 20",
        "admin_statement_timeout_seconds = 10",
        "locks_created_per_host_per_hour = 60",
        "locks_held_per_host = 20",
        "windows_per_lock = 50",
        "admin_pool_size = 2",
        "lock_series = 100",
        "keep_delivered_days = 7",
    ] {
        assert!(out.contains(limit), "check-config prints {limit}: {out}");
    }
}

#[test]
fn check_config_reads_lock_policies_in_plain_words_and_checks_their_time_zones() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);
    let policies = |time_zone: &str| {
        format!(
            "\n[[locks.policies]]\nmatch = \"web-*\"\nmax_holders = 3\nlease_seconds = 7200\n\
             windows = [{{ days = [\"mon\"], start = \"22:00\", end = \"04:00\", \
             time_zone = \"{time_zone}\" }}]\n"
        )
    };
    let base = std::fs::read_to_string(&config).expect("settings");

    std::fs::write(&config, format!("{base}{}", policies("Europe/Berlin"))).expect("write");
    let good = foreman_dlm(&config, &["check-config"], &[]);
    let out = text(&good);
    assert!(good.status.success(), "{out}");
    assert!(
        out.contains("web-* → 3 holders at a time, a lease of 7200s, new holders only mon 22:00–04:00 Europe/Berlin"),
        "{out}"
    );
    assert!(
        out.contains("every other lock → 1 holder at a time"),
        "{out}"
    );

    std::fs::write(&config, format!("{base}{}", policies("Mars/Olympus"))).expect("write");
    let unknown = foreman_dlm(&config, &["check-config"], &[]);
    assert!(!unknown.status.success());
    assert!(
        text(&unknown).contains("the database knows no time zone \"Mars/Olympus\""),
        "{}",
        text(&unknown)
    );
    let serve = foreman_dlm(
        &config,
        &["serve"],
        &[("FOREMAN_DLM__HTTP__LISTEN", "127.0.0.1:0")],
    );
    assert!(!serve.status.success(), "serve refuses it too");
    assert!(text(&serve).contains("Mars/Olympus"), "{}", text(&serve));

    std::fs::write(
        &config,
        format!("{base}\n[[locks.policies]]\nmatch = \"x\"\nmax_holders = 0\n"),
    )
    .expect("write");
    let zero = foreman_dlm(&config, &["check-config"], &[]);
    assert!(!zero.status.success());
    assert!(
        text(&zero).contains("max_holders must be between 1 and"),
        "{}",
        text(&zero)
    );
}

#[test]
fn check_config_names_the_first_problem() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let missing_ca = dir.path().join("no-such-ca.pem");
    let config = settings_file(dir.path(), &db, &missing_ca);

    let cases: [(&[(&str, &str)], &str); 4] = [
        (&[], "no-such-ca.pem"),
        (
            &[(
                "FOREMAN_DLM__DATABASE__URL",
                "postgres://postgres:Sup3rSecret@127.0.0.1:1/foreman",
            )],
            "cannot connect to the database",
        ),
        (
            &[("FOREMAN_DLM__HTTP__LISTEN", "everywhere")],
            "http.listen",
        ),
        (
            &[("FOREMAN_DLM__CLIENT_CERT__TRUSTED_PROXIES", "10.0.0.0/99")],
            "invalid configuration",
        ),
    ];
    for (env, expected) in cases {
        let output = foreman_dlm(&config, &["check-config"], env);
        let out = text(&output);
        assert!(!output.status.success(), "{env:?} passed: {out}");
        assert!(
            out.contains(expected),
            "{env:?}: expected {expected:?} in {out}"
        );
        assert!(!out.contains("Sup3rSecret"), "password printed: {out}");
    }
    let output = foreman_dlm(&dir.path().join("absent.toml"), &["check-config"], &[]);
    assert!(text(&output).contains("absent.toml does not exist"));
}

/// However a URL spells its password (percent-encoded key, twice, as the key's passphrase, in
/// the user info and the query), `check-config` prints none of them, whether it connects or not.
#[test]
fn check_config_never_prints_a_password_however_it_is_spelled() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);
    let base = db.url.replace("postgres@", "postgres:REALPW1@");
    let joiner = if base.contains('?') { '&' } else { '?' };
    let urls = [
        format!("{base}{joiner}pass%77ord=REALPW3"),
        format!("{base}{joiner}password=REALPW4&application_name=x&password=REALPW5"),
        format!("{base}{joiner}%70assword=REALPW6"),
        format!("{base}{joiner}sslpassword=REALPW7"),
        format!("{base}{joiner}PASSWORD=REALPW8"),
    ];
    for url in &urls {
        let output = foreman_dlm(
            &config,
            &["check-config"],
            &[("FOREMAN_DLM__DATABASE__URL", url.as_str())],
        );
        let out = text(&output);
        assert!(out.contains("********"), "{url}: nothing masked in {out}");
        for n in 1..=8 {
            let secret = format!("REALPW{n}");
            assert!(!out.contains(&secret), "{url}: {secret} printed in {out}");
        }
    }
}

#[test]
fn migrate_reads_foremans_database_yml_and_serve_requires_it() {
    let db = TestDb::empty();
    db.exec(FOREMAN_SCHEMA_SQL);
    let dir = tempfile::tempdir().expect("tempdir");
    let yml = dir.path().join("database.yml");
    std::fs::write(
        &yml,
        format!(
            "production:\n  adapter: postgresql\n  host: 127.0.0.1\n  port: 5432\n  database: {}\n  username: postgres\n  password: \"Sup3rSecret\"\n",
            db.name
        ),
    )
    .expect("write database.yml");
    let config = dir.path().join("settings.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\nforeman_database_yml = \"{}\"\n[client_cert]\nca_files = [\"{}\"]\n",
            yml.display(),
            pki::shared().ca_file.display()
        ),
    )
    .expect("write settings");

    let before = foreman_dlm(&config, &["check-config"], &[]);
    let serve = foreman_dlm(
        &config,
        &["serve"],
        &[("FOREMAN_DLM__HTTP__LISTEN", "127.0.0.1:0")],
    );
    let first = foreman_dlm(&config, &["migrate"], &[]);
    let second = foreman_dlm(&config, &["migrate"], &[]);
    let after = foreman_dlm(&config, &["check-config"], &[]);

    assert!(!before.status.success());
    assert!(
        text(&before).contains("run `foreman-dlm migrate`"),
        "{}",
        text(&before)
    );
    assert!(
        !serve.status.success(),
        "serve must refuse a database with pending migrations"
    );
    assert!(
        text(&serve).contains("pending migration"),
        "{}",
        text(&serve)
    );
    assert!(first.status.success(), "{}", text(&first));
    assert!(text(&first).contains("applied migrations"));
    assert!(text(&second).contains("up to date"));
    assert!(after.status.success(), "{}", text(&after));
    assert!(text(&after).contains("unset: Foreman's database.yml is used"));
    for output in [&before, &serve, &first, &second, &after] {
        assert!(!text(output).contains("Sup3rSecret"));
    }
    assert_eq!(
        db.scalar("SELECT to_regclass('dlmlocks') IS NOT NULL AS present"),
        serde_json::json!(true)
    );
}

#[test]
fn unusable_tls_files_are_clear_startup_errors() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let pki = pki::shared();
    let config = settings_file(dir.path(), &db, &pki.ca_file);
    let other_key = dir.path().join("other.key");
    std::fs::write(&other_key, pki.host("someone.example.com").key_pem()).expect("write key");
    let server_cert = pki.server_cert_file.display().to_string();
    let server_key = pki.server_key_file.display().to_string();
    let missing = dir.path().join("missing.pem").display().to_string();
    let other_key = other_key.display().to_string();
    let listen = ("FOREMAN_DLM__TLS__LISTEN", "127.0.0.1:0");
    let http = ("FOREMAN_DLM__HTTP__LISTEN", "127.0.0.1:0");

    let cases: [(&str, &str, &str); 3] = [
        (&missing, &server_key, "tls.cert_file: cannot read"),
        (&server_cert, &missing, "tls.key_file: cannot read"),
        (&server_cert, &other_key, "does not match the certificate"),
    ];
    for (cert, key, expected) in cases {
        let env = [
            listen,
            http,
            ("FOREMAN_DLM__TLS__CERT_FILE", cert),
            ("FOREMAN_DLM__TLS__KEY_FILE", key),
        ];
        for command in ["check-config", "serve"] {
            let output = foreman_dlm(&config, &[command], &env);
            let out = text(&output);
            assert_eq!(output.status.code(), Some(1), "{command}: {out}");
            assert!(
                out.contains(expected),
                "{command}: expected {expected:?} in {out}"
            );
            assert!(!out.contains("panicked"), "{out}");
        }
    }
    let env = [
        listen,
        http,
        ("FOREMAN_DLM__TLS__CERT_FILE", &*server_cert),
        ("FOREMAN_DLM__TLS__KEY_FILE", &*server_key),
    ];
    let good = foreman_dlm(&config, &["check-config"], &env);
    assert!(good.status.success(), "{}", text(&good));
    assert!(text(&good).contains("TLS certificate and key load and match"));
}

#[test]
fn expire_events_deletes_exactly_the_old_rows_in_batches() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);
    db.exec(
        "INSERT INTO dlmlock_events (dlmlock_id, event_type, created_at, updated_at)
         SELECT 1, 'acquire', now() AT TIME ZONE 'UTC' - make_interval(days => 8 + i % 30), now()
           FROM generate_series(1, 2500) i;
         INSERT INTO dlmlock_events (dlmlock_id, event_type, created_at, updated_at)
         SELECT 2, 'release', now() AT TIME ZONE 'UTC' - make_interval(days => 6, hours => i % 20), now()
           FROM generate_series(1, 120) i;
         INSERT INTO foreman_dlm_notifications (destination, event, occurred_at, next_attempt_at,
                                                delivered_at, failed_at)
         SELECT 'host_status', 'acquire', now(), now(),
                CASE WHEN i % 2 = 0
                     THEN now() AT TIME ZONE 'UTC' - make_interval(days => 6 + i % 4) END,
                CASE WHEN i % 2 = 1
                     THEN now() AT TIME ZONE 'UTC' - make_interval(days => 28 + i % 4) END
           FROM generate_series(1, 40) i;",
    );

    let output = foreman_dlm(
        &config,
        &[
            "expire-events",
            "--days",
            "7",
            "--batch-size",
            "1000",
            "--sleep",
            "0",
        ],
        &[],
    );
    let again = foreman_dlm(&config, &["expire-events", "--sleep", "0"], &[]);
    let invalid = foreman_dlm(&config, &["expire-events", "--days", "0"], &[]);

    assert!(output.status.success(), "{}", text(&output));
    assert!(
        text(&output).contains("removed 2500 lock event(s) older than 7 day(s) in 3 batch(es)"),
        "{}",
        text(&output)
    );
    // Delivered 6 or 8 days ago (kept 7 days): the 10 of 8 days go; failed 29 or 31 days ago
    // (kept 30): the 10 of 31 days go.
    assert!(
        text(&output).contains(
            "removed 20 notification(s) delivered more than 7 day(s) or failed more than 30 \
             day(s) ago"
        ),
        "{}",
        text(&output)
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM foreman_dlm_notifications"),
        serde_json::json!(20)
    );
    assert_eq!(
        db.rows("SELECT dlmlock_id, count(*) AS n FROM dlmlock_events GROUP BY 1"),
        serde_json::json!([{"dlmlock_id": 2, "n": 120}]),
        "exactly the events of the last 7 days remain"
    );
    assert!(
        text(&again).contains("removed 0 lock event(s)"),
        "{}",
        text(&again)
    );
    assert!(!invalid.status.success());
}

#[test]
fn failed_logins_are_logged_without_the_password() {
    let db = TestDb::new();
    db.add_user(
        "alice",
        "right-password",
        crate::common::users::Scheme::Bcrypt,
    );
    let mut options = crate::common::ServerOptions::for_db(&db);
    options.log_level = Some("debug".into());
    let mut server = crate::common::Server::spawn(&options);

    let url = server.url("/api/dlmlocks");
    let wrong = crate::common::curl("GET", &url, &["-u", "alice:Sup3rSecret-guess"]);
    let unknown = crate::common::curl("GET", &url, &["-u", "mallory:An0ther-Secret"]);
    let right = crate::common::curl("GET", &url, &["-u", "alice:right-password"]);
    server.kill();
    let log = server.logs();

    assert_eq!((wrong.status, unknown.status), (401, 401));
    assert_eq!(right.status, 403, "authenticated, without permission");
    assert!(log.contains("failed login for user \"alice\""), "{log}");
    assert!(log.contains("failed login for user \"mallory\""), "{log}");
    for secret in [
        "Sup3rSecret-guess",
        "An0ther-Secret",
        "right-password",
        "Sup3rSecret",
    ] {
        assert!(!log.contains(secret), "the log contains {secret:?}:\n{log}");
    }
}

#[test]
fn host_status_lists_and_purges_the_plugins_status_rows() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);
    let (a, b) = (db.add_host("a.example.com"), db.add_host("b.example.com"));
    db.exec(&format!(
        "INSERT INTO host_status (type, status, host_id, reported_at) VALUES
           ('HostStatus::DlmlockStatus', 0, {a}, now()), ('HostStatus::DlmlockStatus', 1, {b}, now()),
           ('HostStatus::BuildStatus', 0, {a}, now())"
    ));

    let listed = foreman_dlm(&config, &["host-status"], &[]);
    let purged = foreman_dlm(&config, &["host-status", "--purge"], &[]);

    assert!(listed.status.success(), "{}", text(&listed));
    assert!(text(&listed).contains("1 OK, 1 stale"), "{}", text(&listed));
    assert!(purged.status.success(), "{}", text(&purged));
    assert!(text(&purged).contains("removed 2"), "{}", text(&purged));
    assert_eq!(
        db.rows("SELECT type FROM host_status"),
        json!([{"type": "HostStatus::BuildStatus"}]),
        "only the plugin's rows go"
    );
}

#[test]
fn check_config_says_where_lock_changes_go_without_their_secrets() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);
    let base = std::fs::read_to_string(&config).expect("settings");
    std::fs::write(
        &config,
        format!(
            "{base}\n[foreman]\nhost_status = true\n\n[[webhooks]]\n\
             url = \"https://chat.example.com/hooks/t0ken\"\nevents = [\"acquire\", \"stale\"]\n\
             secret = \"hmac-s3cret\"\n"
        ),
    )
    .expect("write");

    let output = foreman_dlm(&config, &["check-config"], &[]);
    let out = text(&output);
    assert!(output.status.success(), "{out}");
    assert!(out.contains("monitoring downtimes: off (auto:"), "{out}");
    assert!(out.contains("host status: on"), "{out}");
    assert!(out.contains("host-status --purge"), "{out}");
    assert!(
        out.contains("webhook https://chat.example.com/… gets acquire, stale (signed)"),
        "{out}"
    );
    assert!(
        !out.contains("t0ken") && !out.contains("hmac-s3cret"),
        "{out}"
    );

    let forced = foreman_dlm(
        &config,
        &["check-config"],
        &[("FOREMAN_DLM__MONITORING__ENABLED", "true")],
    );
    assert!(!forced.status.success());
    assert!(
        text(&forced).contains("foreman_monitoring is not installed"),
        "{}",
        text(&forced)
    );
    let bad_event = std::fs::read_to_string(&config)
        .expect("settings")
        .replace("\"stale\"", "\"stolen\"");
    std::fs::write(&config, bad_event).expect("write");
    let refused = foreman_dlm(&config, &["check-config"], &[]);
    assert!(
        text(&refused).contains("unknown event \"stolen\""),
        "{}",
        text(&refused)
    );
}

#[test]
fn status_prints_the_locks_and_stale_exits_1_for_cron() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);
    let (web1, web2) = (
        db.add_host("web1.example.com"),
        db.add_host("web2.example.com"),
    );
    // A lock held since yesterday (stale after 4 hours) and one held for ten minutes by two.
    db.add_lock("old", Some(web1), true);
    let pair = db.add_lock("pair", Some(web1), true);
    db.exec(&format!(
        "UPDATE dlmlocks SET updated_at = now() AT TIME ZONE 'UTC' - interval '10 minutes' WHERE id = {pair};
         INSERT INTO foreman_dlm_lock_policies (dlmlock_id, max_holders, lease_seconds, created_at, updated_at)
              VALUES ({pair}, 3, 3600, now(), now());
         INSERT INTO foreman_dlm_lock_holders (dlmlock_id, host_id, acquired_at, refreshed_at) VALUES
              ({pair}, {web1}, now() AT TIME ZONE 'UTC' - interval '10 minutes', now() AT TIME ZONE 'UTC'),
              ({pair}, {web2}, now() AT TIME ZONE 'UTC' - interval '5 minutes', now() AT TIME ZONE 'UTC')"
    ));
    db.add_lock("free", None, false);

    let table = foreman_dlm(&config, &["status"], &[]);
    let as_json = foreman_dlm(&config, &["status", "--json"], &[]);
    let stale = foreman_dlm(&config, &["status", "--stale"], &[]);

    let out = text(&table);
    assert!(table.status.success(), "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("LOCK") && lines[0].contains("HELD FOR"),
        "{out}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("free") && l.contains("disabled") && l.contains("0/1")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("old")
            && l.contains("web1.example.com")
            && l.contains("1d 0h")
            && l.contains("STALE")),
        "{out}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("pair")
            && l.contains("web2.example.com")
            && l.contains("5m")
            && l.contains("2/3")
            && l.contains("lease 3600s")),
        "{out}"
    );

    let parsed: serde_json::Value = serde_json::from_slice(&as_json.stdout).expect("json");
    assert_eq!(parsed.as_array().map(Vec::len), Some(3));
    let pair_json = &parsed[2];
    assert_eq!(pair_json["name"], "pair");
    assert_eq!(pair_json["max_holders"], 3);
    assert_eq!(pair_json["holders"][0]["host"], "web1.example.com");
    assert!(pair_json["holders"][0]["held_for_seconds"]
        .as_i64()
        .is_some_and(|s| (590..700).contains(&s)));
    assert_eq!(parsed[1]["stale"], true);

    assert_eq!(stale.status.code(), Some(1), "{}", text(&stale));
    assert!(
        text(&stale).contains("old") && !text(&stale).contains("pair"),
        "{}",
        text(&stale)
    );
    db.exec("UPDATE dlmlocks SET host_id = NULL WHERE name = 'old'");
    let clean = foreman_dlm(&config, &["status", "--stale"], &[]);
    assert_eq!(clean.status.code(), Some(0), "{}", text(&clean));
    assert!(text(&clean).contains("(no locks)"));
}

/// Names written by others (the plugin's UI, SQL, Foreman's host names) may hold control
/// characters: `status` shows them escaped, so that they neither move the terminal's cursor nor
/// break a row, and `--json` keeps them exact (JSON escapes them itself).
#[test]
fn status_escapes_control_characters_in_names() {
    let db = TestDb::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = settings_file(dir.path(), &db, &pki::shared().ca_file);
    let host = db.add_host("web1.example.com");
    db.exec(&format!(
        "UPDATE hosts SET name = E'web1\\x1b]0;owned\\x07' WHERE id = {host};
         INSERT INTO dlmlocks (name, type, enabled, host_id, created_at, updated_at) VALUES
             (E'two\\nlines\\x1b[2J', 'ForemanDlm::Dlmlock::Update', true, {host}, now(), now())"
    ));

    let table = foreman_dlm(&config, &["status"], &[]);
    let out = String::from_utf8_lossy(&table.stdout).into_owned();
    assert!(table.status.success(), "{}", text(&table));
    assert!(
        !out.chars().any(|c| c.is_control() && c != '\n'),
        "raw control characters: {out:?}"
    );
    assert_eq!(out.lines().count(), 2, "a header and one row: {out}");
    assert!(
        out.contains(r"two\u{a}lines\u{1b}[2J") && out.contains(r"web1\u{1b}]0;owned\u{7}"),
        "{out}"
    );

    let as_json = foreman_dlm(&config, &["status", "--json"], &[]);
    let parsed: serde_json::Value = serde_json::from_slice(&as_json.stdout).expect("json");
    assert_eq!(parsed[0]["name"], "two\nlines\u{1b}[2J");
    assert_eq!(parsed[0]["holders"][0]["host"], "web1\u{1b}]0;owned\u{7}");
}

/// Every way the named settings file can be unusable is said in plain words, with its path: a
/// directory, a device, a file the service user cannot read, a TOML error.
#[test]
fn settings_file_problems_name_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let unreadable = dir.path().join("settings.toml");
    std::fs::write(&unreadable, "[http]\n").expect("write");
    std::fs::set_permissions(
        &unreadable,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .expect("chmod");
    let broken = dir.path().join("broken.toml");
    std::fs::write(&broken, "[http\n").expect("write");
    for (config, expected) in [
        (
            Path::new("/"),
            "the settings file / is a directory".to_string(),
        ),
        (
            Path::new("/dev/null"),
            "the settings file /dev/null is not a regular file".to_string(),
        ),
        (broken.as_path(), format!("{}: ", broken.display())),
    ] {
        let output = foreman_dlm(config, &["check-config"], &[]);
        assert!(!output.status.success());
        assert!(
            text(&output).contains(&expected),
            "{expected}: {}",
            text(&output)
        );
    }
    // As a user who may not read it (the tests run as root, who may read anything).
    let output = Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            env!("CARGO_BIN_EXE_foreman-dlm"),
            "--config",
        ])
        .arg(&unreadable)
        .arg("check-config")
        .output()
        .expect("runuser");
    let said = text(&output);
    assert!(!output.status.success());
    assert!(
        said.contains(&format!(
            "the settings file {} cannot be read",
            unreadable.display()
        )) && said.contains("Permission denied"),
        "{said}"
    );
}
