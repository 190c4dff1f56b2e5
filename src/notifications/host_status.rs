//! The plugin's "Distributed Lock" host status, kept for sites that keep the plugin installed for
//! its UI: one row per host that holds or held a lock, 0 = OK, 1 = stale.

use super::Delivery;
use crate::clock;
use crate::storage::notifications::{self as store, NotificationRow};
use crate::storage::Database;

pub async fn deliver(db: &Database, row: &NotificationRow, stale_hours: i32) -> Delivery {
    let Some(host_id) = row.host_id else {
        return Delivery::Done;
    };
    let written = async {
        let mut conn = db.conn().await?;
        store::refresh_host_status(&mut conn, host_id, stale_hours, clock::test_now()).await
    };
    match written.await {
        Ok(Some(1)) => {
            log::warn!(
                "host {:?} holds a stale lock: its status is now an error",
                row.host_name
            );
            Delivery::Done
        }
        // A host deleted since the change has no status to keep.
        Ok(_) => Delivery::Done,
        Err(e) => Delivery::Retry(e.to_string()),
    }
}
