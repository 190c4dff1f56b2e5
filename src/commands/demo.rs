//! `foreman-dlm demo`: the real service on a throw-away Foreman-like database, for a first look.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use diesel::connection::SimpleConnection;

use super::{fail, run_server_then};
use crate::demo::pki::{Authority, Validity};
use crate::demo::FOREMAN_SCHEMA_SQL;
use crate::http::Listening;
use crate::settings::{ListenAddr, Secret, Settings};
use crate::storage::blocking::BlockingConnection;
use crate::storage::migrations;

#[derive(clap::Args)]
pub struct DemoArgs {
    /// PostgreSQL URL with the right to create databases; the demo database is created beside it.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    admin_url: String,
    /// Name of the demo database; it is dropped and created anew.
    #[arg(long, default_value = "foreman_dlm_demo")]
    database: String,
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: std::net::SocketAddr,
    /// The metrics and health listener (metrics.listen); empty for none.
    #[arg(long)]
    metrics_listen: Option<String>,
    /// Directory for the generated CA and host certificates.
    #[arg(long, default_value = "/tmp/foreman-dlm-demo")]
    cert_dir: PathBuf,
}

const DEMO_HOSTS: [&str; 3] = ["web1.example.com", "web2.example.com", "db1.example.com"];
const DEMO_ADMIN_PASSWORD: &str = "changeme";

pub fn run(args: DemoArgs) -> ExitCode {
    match prepare(&args) {
        Ok((settings, database_url)) => run_server_then(&settings, |listening| {
            print_instructions(&args, &database_url, listening)
        }),
        Err(e) => fail(e),
    }
}

/// The demo's settings and its database's URL.
fn prepare(args: &DemoArgs) -> Result<(Settings, String), String> {
    if args.database.is_empty()
        || !args
            .database
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err("--database may contain only a-z, 0-9 and _".into());
    }
    let database_url = sibling_database_url(&args.admin_url, &args.database)?;
    let mut admin =
        BlockingConnection::connect(&Secret::new(args.admin_url.as_str())).map_err(|e| {
            format!(
                "cannot connect to {}: {}",
                args.admin_url,
                e.to_string().trim()
            )
        })?;
    // Two statements: DROP/CREATE DATABASE refuse to run inside one implicit transaction.
    for statement in [
        format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", args.database),
        format!("CREATE DATABASE {}", args.database),
    ] {
        admin
            .batch_execute(&statement)
            .map_err(|e| format!("cannot create the demo database: {e}"))?;
    }
    let mut conn = BlockingConnection::connect(&Secret::new(database_url.as_str()))
        .map_err(|e| e.to_string())?;
    conn.batch_execute(FOREMAN_SCHEMA_SQL)
        .map_err(|e| format!("cannot load the Foreman schema: {e}"))?;
    let hosts: Vec<String> = DEMO_HOSTS
        .iter()
        .map(|h| format!("('{h}', true, 'Host::Managed', now(), now())"))
        .collect();
    let password_hash = bcrypt::hash(DEMO_ADMIN_PASSWORD, 4).map_err(|e| e.to_string())?;
    let data = include_str!("../demo/demo_data.sql")
        .replace("{hosts}", &hosts.join(", "))
        .replace("{password_salt}", &password_hash[..29])
        .replace("{password_hash}", &password_hash);
    conn.batch_execute(&data)
        .map_err(|e| format!("cannot add the demo's hosts and admin: {e}"))?;
    migrations::run_pending(&database_url).map_err(|e| e.to_string())?;

    let ca_file = write_certificates(&args.cert_dir)
        .map_err(|e| format!("cannot write certificates: {e}"))?;
    let mut settings = Settings::from_defaults_and_env().map_err(|e| e.to_string())?;
    settings.database.url = Some(Secret::new(database_url.as_str()));
    settings.http.listen = ListenAddr::Tcp(args.listen);
    if let Some(listen) = &args.metrics_listen {
        settings.metrics.listen = listen.clone();
        if !listen.trim().is_empty() && settings.metrics.listen_addr().is_none() {
            return Err(format!(
                "--metrics-listen {listen:?} is not an address:port"
            ));
        }
    }
    settings.client_cert.ca_files = vec![ca_file];
    Ok((settings, database_url))
}

fn sibling_database_url(admin_url: &str, database: &str) -> Result<String, String> {
    let (base, query) = admin_url
        .split_once('?')
        .map_or((admin_url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base
        .find("://")
        .ok_or("--admin-url must be a postgres:// URL")?
        + 3;
    let host_part = &base[scheme_end..];
    let host_end = host_part.find('/').map_or(base.len(), |i| scheme_end + i);
    let mut url = format!("{}/{database}", &base[..host_end]);
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Ok(url)
}

fn write_certificates(dir: &Path) -> Result<PathBuf, Box<dyn std::error::Error>> {
    std::fs::create_dir_all(dir)?;
    let ca = Authority::new("Puppet CA: demo")?;
    let ca_file = dir.join("ca.pem");
    std::fs::write(&ca_file, ca.cert.to_pem()?)?;
    for host in DEMO_HOSTS {
        let issued = ca.issue(host, Validity::default())?;
        std::fs::write(dir.join(format!("{host}.pem")), issued.cert_pem())?;
        std::fs::write(dir.join(format!("{host}.key")), issued.key_pem())?;
    }
    Ok(ca_file)
}

/// Every command printed runs as it is, pasted into a shell: the addresses are the ones bound,
/// the binary is this one, the database URL is whole.
fn print_instructions(args: &DemoArgs, database_url: &str, listening: &Listening) {
    let dir = args.cert_dir.display().to_string();
    let http = listening
        .http
        .first()
        .map_or_else(|| format!("http://{}", args.listen), |url| url.clone());
    let base = format!("{http}/api/dlmlocks");
    let cert = |host: &str| format!("-H \"SSL-CLIENT-CERT: $(tr '\\n' ' ' < {dir}/{host}.pem)\"");
    let binary = std::env::current_exe()
        .map(|path| path.display().to_string())
        .unwrap_or_else(|_| "foreman-dlm".into());
    let metrics = match listening.metrics {
        Some(addr) => format!("curl -s http://{addr}/metrics"),
        None => "(none: --metrics-listen is empty)".into(),
    };
    let text = include_str!("../demo/instructions.txt")
        .replace("{db}", &args.database)
        .replace("{dir}", &dir)
        .replace("{base}", &base)
        .replace("{http}", &http)
        .replace("{metrics}", &metrics)
        .replace("{database_url}", database_url)
        .replace("{binary}", &binary)
        .replace("{web1}", &cert("web1.example.com"))
        .replace("{web2}", &cert("web2.example.com"))
        .replace("{db1}", &cert("db1.example.com"))
        .replace("{password}", DEMO_ADMIN_PASSWORD);
    println!("{text}");
}

#[cfg(test)]
mod tests {
    use super::sibling_database_url;

    #[test]
    fn demo_database_url_replaces_only_the_database() {
        assert_eq!(
            sibling_database_url("postgres://postgres@127.0.0.1:5432/postgres", "demo").as_deref(),
            Ok("postgres://postgres@127.0.0.1:5432/demo")
        );
        assert_eq!(
            sibling_database_url("postgres://u:p@db/postgres?sslmode=disable", "demo").as_deref(),
            Ok("postgres://u:p@db/demo?sslmode=disable")
        );
        assert_eq!(
            sibling_database_url("postgres://db", "demo").as_deref(),
            Ok("postgres://db/demo")
        );
    }
}
