//! `foreman-dlm check-config`: the effective configuration, then each thing `serve` depends on,
//! checked in order, in plain words.

use std::path::Path;
use std::process::ExitCode;

use diesel::sql_types::{Bool, Nullable, Text};
use diesel::QueryableByName;
use diesel_async::RunQueryDsl;

use super::{block_on, fail};
use crate::identity::ClientCertAuthenticator;
use crate::locks::policy;
use crate::settings::{redact_database_url, ListenAddr, Settings, Switch};
use crate::storage::locks::admin as admin_store;
use crate::storage::notifications as notification_store;
use crate::storage::sql::sql;
use crate::storage::{catalog, migrations, Conn, Database};

pub fn run(config: Option<&Path>) -> ExitCode {
    let settings = match Settings::load(config) {
        Ok(s) => s,
        Err(e) => return fail(e),
    };
    println!(
        "# effective configuration (secrets redacted)\n{}",
        settings.describe()
    );
    match block_on(check(&settings)) {
        Ok(lines) => {
            for line in lines {
                println!("ok: {line}");
            }
            println!("configuration OK");
            ExitCode::SUCCESS
        }
        Err(problem) => fail(problem),
    }
}

#[derive(QueryableByName)]
struct TlsState {
    #[diesel(sql_type = Bool)]
    ssl: bool,
    #[diesel(sql_type = Nullable<Text>)]
    version: Option<String>,
}

async fn connection_security(conn: &mut Conn) -> String {
    let state: Result<TlsState, _> = sql(
        "SELECT COALESCE(ssl, false) AS ssl, version::text AS version FROM pg_stat_ssl \
         WHERE pid = pg_backend_pid()",
    )
    .get_result(conn)
    .await;
    match state {
        Ok(TlsState { ssl: true, version }) => {
            format!("over TLS ({})", version.unwrap_or_default())
        }
        Ok(_) => "without TLS".to_string(),
        Err(_) => "(TLS state unknown)".to_string(),
    }
}

async fn check(settings: &Settings) -> Result<Vec<String>, String> {
    let mut ok = Vec::new();
    let url = settings.database_url().map_err(|e| e.to_string())?;
    let shown = redact_database_url(url.expose());
    let mut conn = Database::connect_once(&url)
        .await
        .map_err(|e| format!("cannot connect to the database ({shown}): {e}"))?;
    let security = connection_security(&mut conn).await;
    ok.push(format!("connected to the database ({shown}) {security}"));
    for table in ["hosts", "parameters", "users"] {
        let present = catalog::table_exists(&mut conn, table)
            .await
            .map_err(|e| format!("cannot inspect the database: {e}"))?;
        if !present {
            return Err(format!(
                "the database has no table {table:?}: database settings must point at Foreman's \
                 own database"
            ));
        }
    }
    ok.push("Foreman's tables hosts, parameters and users are present".into());
    let pending = migrations::pending_on(&mut conn).await.map_err(|e| {
        format!("cannot read the applied migrations ({e}): run `foreman-dlm migrate`")
    })?;
    if !pending.is_empty() {
        return Err(format!(
            "{} migration(s) pending ({}): run `foreman-dlm migrate`",
            pending.len(),
            pending.join(", ")
        ));
    }
    ok.push("foreman-dlm's migrations are applied".into());
    ok.extend(lock_policies(settings, &mut conn).await?);
    ok.extend(notifications(settings, &mut conn).await?);
    let cert = &settings.client_cert;
    if cert.ca_files.is_empty() && cert.katello_ca_files.is_empty() {
        return Err(
            "client_cert.ca_files and client_cert.katello_ca_files are empty: no host \
             certificate could ever be verified; list Foreman's CA (e.g. \
             /etc/puppetlabs/puppet/ssl/certs/ca.pem)"
                .into(),
        );
    }
    let authenticator = ClientCertAuthenticator::from_settings(cert).map_err(|e| e.to_string())?;
    ok.push(format!(
        "{} CA file(s) and {} CRL file(s) loaded; each CA identifies one kind of host:",
        cert.ca_files.len() + cert.katello_ca_files.len(),
        cert.crl_files.len()
    ));
    for binding in authenticator.bindings() {
        ok.push(format!(
            "  {} → {} (from {})",
            binding.subject,
            binding.kind.describe(),
            binding.file.display()
        ));
    }
    if katello_ca_listed_as_puppet(cert.ca_files.iter().map(|p| p.as_path())) {
        ok.push(
            "  note: a file in client_cert.ca_files looks like Katello's CA; its certificates \
             identify hosts by certname/name only. List it in client_cert.katello_ca_files for \
             subscription-manager consumer certificates."
                .into(),
        );
    }
    match &settings.http.listen {
        ListenAddr::Tcp(addr) => ok.push(format!(
            "will listen on {addr}; certificate headers are believed from {}",
            cert.trusted_proxies
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )),
        ListenAddr::Unix(path) => ok.push(format!(
            "will listen on the Unix socket {} (mode {:04o}); only its owner and group may connect",
            path.display(),
            settings.http.socket_mode.0
        )),
    }
    if let Some(tls) = &settings.tls {
        let cas: Vec<_> = cert.ca_files.iter().chain(&cert.katello_ca_files).collect();
        crate::http::tls::acceptor(tls, &cas)?;
        ok.push(format!(
            "TLS certificate and key load and match; will listen on {} with TLS",
            tls.listen
        ));
    }
    Ok(ok)
}

/// Katello's CA files live under /etc/pki/katello (puppet-certs).
/// The `[[locks.policies]]` in plain words, with their time zones checked against the database
/// (which evaluates the windows).
async fn lock_policies(settings: &Settings, conn: &mut Conn) -> Result<Vec<String>, String> {
    let patterns = &settings.locks.policies;
    let mut lines = vec![format!(
        "lock policies: {} pattern(s), the first match wins; a value set on a lock through the \
         API wins over its pattern",
        patterns.len()
    )];
    let zones = policy::pattern_time_zones(patterns);
    let unknown = admin_store::unknown_time_zones(conn, &zones)
        .await
        .map_err(|e| format!("cannot check time zones: {e}"))?;
    if let Some(problem) = policy::unknown_pattern_time_zone(patterns, &unknown) {
        return Err(format!("{problem}; use an IANA name such as Europe/Berlin"));
    }
    for pattern in patterns {
        lines.push(format!("  {pattern}"));
    }
    lines.push(
        "  every other lock → 1 holder at a time, no lease, any time (the plugin's behaviour)"
            .into(),
    );
    lines.push(alert_gate(settings)?);
    Ok(lines)
}

/// Where the alert gate asks, with its files loaded; a gate without a Prometheus is said aloud,
/// since it stops every new holder of its locks.
fn alert_gate(settings: &Settings) -> Result<String, String> {
    let gated = settings
        .locks
        .policies
        .iter()
        .filter(|p| p.block_on_alerts.is_some())
        .count();
    Ok(match &settings.prometheus {
        Some(prometheus) => {
            crate::alerts::AlertGate::new(prometheus).map_err(|e| format!("[prometheus]: {e}"))?;
            format!(
                "alert gate: asks {} ({} s timeout, answers kept {} s) for locks with \
                 block_on_alerts ({gated} pattern(s) here; a lock may have its own)",
                crate::settings::redact_url_path(&prometheus.url),
                prometheus.timeout_seconds,
                prometheus.cache_seconds
            )
        }
        None if gated > 0 => format!(
            "alert gate: NO [prometheus] url, so the locks of the {gated} pattern(s) with \
             block_on_alerts take no new holder"
        ),
        None => "alert gate: off (no [prometheus]); a lock with block_on_alerts takes no new \
                 holder"
            .to_string(),
    })
}

/// Where lock changes are delivered, in plain words, with what each needs checked.
async fn notifications(settings: &Settings, conn: &mut Conn) -> Result<Vec<String>, String> {
    let mut lines = Vec::new();
    let column = catalog::column_exists(conn, "hosts", "monitoring_proxy_id")
        .await
        .map_err(|e| format!("cannot inspect the database: {e}"))?;
    let monitoring = match settings.monitoring.enabled {
        Switch::Fixed(false) => {
            lines.push("monitoring downtimes: off (monitoring.enabled = false)".to_string());
            false
        }
        Switch::Fixed(true) if !column => {
            return Err("monitoring.enabled = true, but Foreman's database has no \
                 hosts.monitoring_proxy_id: foreman_monitoring is not installed; use \"auto\" \
                 or false"
                .into())
        }
        Switch::Auto(_) if !column => {
            lines.push(
                "monitoring downtimes: off (auto: foreman_monitoring's hosts.monitoring_proxy_id \
                 is not in Foreman's database)"
                    .to_string(),
            );
            false
        }
        _ => true,
    };
    if monitoring {
        let proxies = notification_store::monitoring_proxies(conn)
            .await
            .map_err(|e| format!("cannot inspect the smart proxies: {e}"))?;
        let identity = crate::notifications::monitoring_identity(settings)
            .map_err(|e| format!("monitoring downtimes: {e}"))?;
        lines.push(format!(
            "monitoring downtimes: on ({proxies} smart prox(ies) with the Monitoring feature); \
             {} minutes from acquire, removed on release; {identity}",
            settings.monitoring.downtime_minutes
        ));
    }
    lines.push(if settings.foreman.host_status {
        "host status: on ([foreman] host_status = true). Foreman needs the foreman_dlm plugin's \
         HostStatus::DlmlockStatus class for these rows, or its host pages fail; \
         `foreman-dlm host-status --purge` removes them"
            .to_string()
    } else {
        "host status: off ([foreman] host_status = false)".to_string()
    });
    for webhook in &settings.webhooks {
        lines.push(format!(
            "{} gets {}{}",
            crate::notifications::webhook_label(&webhook.url),
            webhook.events.join(", "),
            if webhook.secret.is_some() {
                " (signed)"
            } else {
                " (unsigned: no secret)"
            }
        ));
    }
    Ok(lines)
}

fn katello_ca_listed_as_puppet<'a>(mut files: impl Iterator<Item = &'a Path>) -> bool {
    files.any(|p| p.starts_with("/etc/pki/katello") || p.to_string_lossy().contains("katello"))
}
