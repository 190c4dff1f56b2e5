//! `foreman-dlm host-status`: the plugin's "Distributed Lock" host status rows, and `--purge` to
//! remove them on a site that drops the plugin (without its Ruby class, Rails cannot load them
//! and the host pages fail).

use std::path::Path;
use std::process::ExitCode;

use super::{block_on, connect_once, fail};
use crate::settings::Settings;
use crate::storage::notifications as store;

#[derive(clap::Args)]
pub struct HostStatusArgs {
    /// Delete every row of type HostStatus::DlmlockStatus.
    #[arg(long)]
    pub purge: bool,
}

pub fn run(config: Option<&Path>, args: &HostStatusArgs) -> ExitCode {
    let settings = match Settings::load(config) {
        Ok(settings) => settings,
        Err(e) => return fail(e),
    };
    let url = match settings.database_url() {
        Ok(url) => url,
        Err(e) => return fail(e),
    };
    block_on(async {
        let mut conn = match connect_once(&url).await {
            Ok(conn) => conn,
            Err(e) => return fail(e),
        };
        if args.purge {
            if settings.foreman.host_status {
                eprintln!(
                    "note: [foreman] host_status = true: the service writes these rows again; \
                     set it to false first"
                );
            }
            return match store::purge_host_status(&mut conn).await {
                Ok(n) => {
                    println!("removed {n} \"Distributed Lock\" host status row(s)");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(format!("cannot remove the host status rows: {e}")),
            };
        }
        match store::host_status_counts(&mut conn).await {
            Ok((ok, stale)) => {
                println!(
                    "\"Distributed Lock\" host status rows: {ok} OK, {stale} stale; foreman-dlm \
                     {} them ([foreman] host_status = {})",
                    if settings.foreman.host_status {
                        "keeps"
                    } else {
                        "does not keep"
                    },
                    settings.foreman.host_status
                );
                ExitCode::SUCCESS
            }
            Err(e) => fail(format!("cannot read the host status rows: {e}")),
        }
    })
}
