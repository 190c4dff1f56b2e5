//! The outbox of lock changes: which destinations want what, claiming rows for delivery across
//! an HA pair, recording the result, the stale sweep, and Foreman's host status.
//!
//! Rows are written by the database itself, in the transaction of the lock change: a trigger on
//! `dlmlock_events` (see `sql/functions/foreman_dlm_notify_event.sql`).

use chrono::NaiveDateTime;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text, Timestamp};
use diesel_async::{AsyncConnection, RunQueryDsl};

use super::batches::{self, days_ago};
use super::sql::{fill, sql};
use super::{Conn, StorageError};

/// A notification claimed for delivery.
#[derive(Debug, Clone, QueryableByName)]
pub struct NotificationRow {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub uuid: String,
    #[diesel(sql_type = Text)]
    pub destination: String,
    #[diesel(sql_type = Text)]
    pub event: String,
    #[diesel(sql_type = Nullable<Integer>)]
    pub dlmlock_id: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub lock_name: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub host_id: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub host_name: Option<String>,
    #[diesel(sql_type = Nullable<Integer>)]
    pub user_id: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    pub user_login: Option<String>,
    #[diesel(sql_type = Timestamp)]
    pub occurred_at: NaiveDateTime,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
}

#[derive(QueryableByName)]
pub struct Orphaned {
    #[diesel(sql_type = Text)]
    pub destination: String,
    #[diesel(sql_type = BigInt)]
    pub notifications: i64,
}

/// Why the notifications of a destination that left the settings were given up.
pub const NO_LONGER_A_DESTINATION: &str =
    "its destination is no longer in the settings (removed or renamed)";

/// Makes the destinations table say exactly `destinations` (name, events), in one transaction.
/// The undelivered notifications of any other destination (one removed or renamed in the
/// settings) would wait forever: they are marked failed, and returned by destination.
pub async fn set_destinations(
    conn: &mut Conn,
    destinations: &[(String, Vec<String>)],
) -> Result<Vec<Orphaned>, StorageError> {
    let names: Vec<String> = destinations.iter().map(|(name, _)| name.clone()).collect();
    conn.transaction::<_, StorageError, _>(async |conn| {
        sql("DELETE FROM foreman_dlm_destinations WHERE NOT (name = ANY ($1))")
            .bind(names.as_slice())
            .execute(conn)
            .await?;
        let orphaned: Vec<Orphaned> = sql("WITH failed AS ( \
                 UPDATE foreman_dlm_notifications \
                    SET failed_at = now() AT TIME ZONE 'UTC', claimed_until = NULL, \
                        last_error = $2 \
                  WHERE delivered_at IS NULL AND failed_at IS NULL \
                    AND NOT (destination = ANY ($1)) \
              RETURNING destination) \
             SELECT destination, count(*) AS notifications FROM failed \
              GROUP BY destination ORDER BY destination")
        .bind(names.as_slice())
        .bind(NO_LONGER_A_DESTINATION)
        .load(conn)
        .await?;
        for (name, events) in destinations {
            sql(
                "INSERT INTO foreman_dlm_destinations (name, events, updated_at) \
                 VALUES ($1, $2, now() AT TIME ZONE 'UTC') \
                 ON CONFLICT (name) DO UPDATE SET events = EXCLUDED.events, \
                 updated_at = EXCLUDED.updated_at \
                 WHERE foreman_dlm_destinations.events IS DISTINCT FROM EXCLUDED.events",
            )
            .bind(name.as_str())
            .bind(events.as_slice())
            .execute(conn)
            .await?;
        }
        Ok(orphaned)
    })
    .await
}

/// The two batch statements of outbox pruning: delivered rows, then failed ones.
fn prune_statements() -> &'static [&'static str; 2] {
    static STATEMENTS: std::sync::OnceLock<[&'static str; 2]> = std::sync::OnceLock::new();
    STATEMENTS.get_or_init(|| {
        ["delivered_at", "failed_at"].map(|column| {
            let text = fill(include_str!("sql/prune.sql"), &[("column", column)]);
            &*Box::leak(super::sql::compact(&text).into_boxed_str())
        })
    })
}

/// Deletes delivered notifications older than `keep_delivered_days` and failed ones older than
/// `keep_failed_days`, `batch` rows a statement; how many. Safe beside another instance doing the
/// same: a row deleted by the other is simply not deleted twice.
pub async fn prune(
    conn: &mut Conn,
    keep_delivered_days: u32,
    keep_failed_days: u32,
    batch: i64,
    pause: std::time::Duration,
) -> Result<usize, StorageError> {
    let [delivered, failed] = *prune_statements();
    let mut total = 0;
    for (statement, days) in [(delivered, keep_delivered_days), (failed, keep_failed_days)] {
        let cutoff = days_ago(conn, days).await?;
        total += batches::delete_all(conn, statement, cutoff, batch, pause)
            .await?
            .0;
    }
    Ok(total)
}

/// Claims up to `batch` due notifications for `destinations`, for `claim_seconds`.
pub async fn claim(
    conn: &mut Conn,
    destinations: &[String],
    batch: i64,
    claim_seconds: i32,
) -> Result<Vec<NotificationRow>, StorageError> {
    Ok(sql(include_str!("sql/claim.sql"))
        .bind(destinations)
        .bind(batch)
        .bind(claim_seconds)
        .load(conn)
        .await?)
}

pub async fn mark_delivered(conn: &mut Conn, id: i64) -> Result<(), StorageError> {
    sql(
        "UPDATE foreman_dlm_notifications SET delivered_at = now() AT TIME ZONE 'UTC', \
         claimed_until = NULL, last_error = NULL WHERE id = $1",
    )
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(QueryableByName)]
struct GaveUp {
    #[diesel(sql_type = Bool)]
    gave_up: bool,
}

/// Records a failed attempt; `true` when the notification is now failed for good (too old, or
/// `permanent`).
pub async fn mark_retry(
    conn: &mut Conn,
    id: i64,
    error: &str,
    retry_in_seconds: i32,
    max_age_seconds: i32,
    permanent: bool,
) -> Result<bool, StorageError> {
    let row: Option<GaveUp> = sql(include_str!("sql/retry.sql"))
        .bind(id)
        .bind(error)
        .bind(retry_in_seconds)
        .bind(max_age_seconds)
        .bind(permanent)
        .get_result(conn)
        .await
        .optional()?;
    Ok(row.is_some_and(|r| r.gave_up))
}

#[derive(QueryableByName)]
struct Stale {
    #[diesel(sql_type = BigInt)]
    stale: i64,
}

/// Marks holders that went stale and enqueues a `stale` notification for each; how many.
pub async fn report_stale_holders(
    conn: &mut Conn,
    clock: Option<NaiveDateTime>,
    stale_hours: i32,
) -> Result<i64, StorageError> {
    let row: Stale = sql(include_str!("sql/stale.sql"))
        .bind(clock)
        .bind(stale_hours)
        .get_result(conn)
        .await?;
    Ok(row.stale)
}

#[derive(QueryableByName)]
struct ProxyUrl {
    #[diesel(sql_type = Nullable<Text>)]
    url: Option<String>,
}

/// The URL of the host's monitoring proxy (foreman_monitoring's `hosts.monitoring_proxy_id`).
pub async fn monitoring_proxy_url(
    conn: &mut Conn,
    host_id: i32,
) -> Result<Option<String>, StorageError> {
    let row: Option<ProxyUrl> = sql("SELECT sp.url FROM hosts h \
                                      JOIN smart_proxies sp ON sp.id = h.monitoring_proxy_id \
                                     WHERE h.id = $1")
    .bind(host_id)
    .get_result(conn)
    .await
    .optional()?;
    Ok(row.and_then(|r| r.url))
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Smart proxies with the Monitoring feature, for `check-config`.
pub async fn monitoring_proxies(conn: &mut Conn) -> Result<i64, StorageError> {
    let row: Count = sql("SELECT count(DISTINCT spf.smart_proxy_id) AS n \
                            FROM smart_proxy_features spf \
                            JOIN features f ON f.id = spf.feature_id WHERE f.name = 'Monitoring'")
    .get_result(conn)
    .await?;
    Ok(row.n)
}

#[derive(QueryableByName)]
struct Status {
    #[diesel(sql_type = Nullable<BigInt>)]
    status: Option<i64>,
}

/// Writes host `host_id`'s "Distributed Lock" status; the status written (`None`: no such host).
pub async fn refresh_host_status(
    conn: &mut Conn,
    host_id: i32,
    stale_hours: i32,
    clock: Option<NaiveDateTime>,
) -> Result<Option<i64>, StorageError> {
    let row: Status = sql(include_str!("sql/host_status.sql"))
        .bind(host_id)
        .bind(stale_hours)
        .bind(clock)
        .get_result(conn)
        .await?;
    Ok(row.status)
}

/// Removes every "Distributed Lock" host status row (for a site that drops the plugin).
pub async fn purge_host_status(conn: &mut Conn) -> Result<usize, StorageError> {
    Ok(
        sql("DELETE FROM host_status WHERE type = 'HostStatus::DlmlockStatus'")
            .execute(conn)
            .await?,
    )
}

#[derive(QueryableByName)]
struct StatusCounts {
    #[diesel(sql_type = BigInt)]
    ok: i64,
    #[diesel(sql_type = BigInt)]
    stale: i64,
}

/// (OK, stale) "Distributed Lock" host status rows.
pub async fn host_status_counts(conn: &mut Conn) -> Result<(i64, i64), StorageError> {
    let row: StatusCounts = sql("SELECT count(*) FILTER (WHERE status = 0) AS ok, \
                                        count(*) FILTER (WHERE status <> 0) AS stale \
                                   FROM host_status WHERE type = 'HostStatus::DlmlockStatus'")
    .get_result(conn)
    .await?;
    Ok((row.ok, row.stale))
}

#[derive(QueryableByName)]
struct Backlog {
    #[diesel(sql_type = BigInt)]
    pending: i64,
    #[diesel(sql_type = BigInt)]
    failed: i64,
}

/// (pending, failed) notifications, each counted along its partial index: the table itself
/// holds every delivered notification of the retention period.
pub async fn backlog(conn: &mut Conn) -> Result<(i64, i64), StorageError> {
    let row: Backlog = sql("SELECT (SELECT count(*) FROM foreman_dlm_notifications \
                  WHERE delivered_at IS NULL AND failed_at IS NULL) AS pending, \
                (SELECT count(*) FROM foreman_dlm_notifications \
                  WHERE failed_at IS NOT NULL) AS failed")
    .get_result(conn)
    .await?;
    Ok((row.pending, row.failed))
}
