//! What Foreman's database has: optional plugins' tables and columns (Katello, foreman_monitoring).

use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel_async::RunQueryDsl;

use super::sql::sql;
use super::{Conn, StorageError};

#[derive(QueryableByName)]
struct Present {
    #[diesel(sql_type = Bool)]
    present: bool,
}

/// Whether a table exists (in the connection's search path), e.g. Katello's on a Katello server.
pub async fn table_exists(conn: &mut Conn, table: &str) -> Result<bool, StorageError> {
    sql("SELECT to_regclass($1) IS NOT NULL AS present")
        .bind(table)
        .get_result::<Present>(conn)
        .await
        .map(|row| row.present)
        .map_err(StorageError::from)
}

/// Whether `table` has `column`, e.g. `hosts.monitoring_proxy_id` where foreman_monitoring is.
pub async fn column_exists(
    conn: &mut Conn,
    table: &str,
    column: &str,
) -> Result<bool, StorageError> {
    sql("SELECT EXISTS (SELECT 1 FROM pg_attribute \
          WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped) AS present")
    .bind(table)
    .bind(column)
    .get_result::<Present>(conn)
    .await
    .map(|row| row.present)
    .map_err(StorageError::from)
}
