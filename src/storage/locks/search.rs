//! The admin index: a parsed search turned into one `WHERE` clause, a count and a page.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::{LockRow, HOLDER_NAME_OF_L, LOCK_COLUMNS};
use crate::locks::model::{Lock, Page};
use crate::locks::search::{ListQuery, LockFilter, SortField, TextMatch};
use crate::storage::sql::{explain, sql, Sql};
use crate::storage::{Conn, StorageError};

fn sort_column(field: SortField) -> &'static str {
    match field {
        SortField::Id => "l.id",
        SortField::Name => "l.name",
        SortField::Type => "l.type",
        SortField::Enabled => "l.enabled",
        SortField::Host => HOLDER_NAME_OF_L,
        SortField::CreatedAt => "l.created_at",
        SortField::UpdatedAt => "l.updated_at",
    }
}

fn like_pattern(value: &str) -> String {
    let escaped = value
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// `column <op> $n` for a text match on a nullable column.
fn text_condition(statement: &mut Sql, column: &str, m: &TextMatch) -> String {
    match m {
        TextMatch::Equals(v) => format!("{column} = {}", statement.placeholder(v.as_str())),
        TextMatch::NotEquals(v) => {
            format!(
                "{column} IS DISTINCT FROM {}",
                statement.placeholder(v.as_str())
            )
        }
        TextMatch::Contains(v) => {
            format!("{column} ILIKE {}", statement.placeholder(like_pattern(v)))
        }
        TextMatch::NotContains(v) => format!(
            "COALESCE({column}, '') NOT ILIKE {}",
            statement.placeholder(like_pattern(v))
        ),
    }
}

/// `WHERE …` for the filters. Every condition is answered from `dlmlocks` itself, an index on
/// `hosts.name`, or a per-row primary-key lookup of the holder: never a scan of `hosts`.
fn where_clause(statement: &mut Sql, query: &ListQuery) -> String {
    let mut conditions = Vec::new();
    for filter in &query.filters {
        let condition = match filter {
            LockFilter::Name(m) => text_condition(statement, "l.name", m),
            LockFilter::Type(m) => text_condition(statement, "l.type", m),
            LockFilter::Host(TextMatch::Equals(v)) => format!(
                "l.host_id IN (SELECT id FROM hosts WHERE name = {})",
                statement.placeholder(v.to_lowercase())
            ),
            LockFilter::Host(TextMatch::NotEquals(v)) => format!(
                "(l.host_id IS NULL OR l.host_id NOT IN (SELECT id FROM hosts WHERE name = {}))",
                statement.placeholder(v.to_lowercase())
            ),
            LockFilter::Host(TextMatch::Contains(v)) => format!(
                "l.host_id IS NOT NULL AND {HOLDER_NAME_OF_L} ILIKE {}",
                statement.placeholder(like_pattern(v))
            ),
            LockFilter::Host(TextMatch::NotContains(v)) => format!(
                "(l.host_id IS NULL OR {HOLDER_NAME_OF_L} NOT ILIKE {})",
                statement.placeholder(like_pattern(v))
            ),
            LockFilter::Enabled(v) => format!("l.enabled = {}", statement.placeholder(*v)),
            LockFilter::Locked(true) => "l.host_id IS NOT NULL".to_string(),
            LockFilter::Locked(false) => "l.host_id IS NULL".to_string(),
            LockFilter::Stale(stale) => {
                let hours =
                    statement.placeholder(i32::try_from(query.stale_hours).unwrap_or(i32::MAX));
                let is_stale = format!(
                    "(l.host_id IS NOT NULL AND l.updated_at < now() AT TIME ZONE 'UTC' \
                     - make_interval(hours => {hours}))"
                );
                if *stale {
                    is_stale
                } else {
                    format!("NOT COALESCE({is_stale}, false)")
                }
            }
        };
        conditions.push(condition);
    }
    if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    }
}

fn list_statement(query: &ListQuery) -> Sql {
    let mut statement = sql(format!("SELECT {} FROM dlmlocks l", *LOCK_COLUMNS));
    let conditions = where_clause(&mut statement, query);
    let direction = if query.descending { "DESC" } else { "ASC" };
    statement.push_text(&format!(
        "{conditions} ORDER BY {} {direction} NULLS LAST, l.id {direction}",
        sort_column(query.sort)
    ));
    if let Some(limit) = query.limit {
        let limit = statement.placeholder(limit);
        statement.push_text(&format!(" LIMIT {limit}"));
    }
    let offset = statement.placeholder(query.offset);
    statement.push_text(&format!(" OFFSET {offset}"));
    statement
}

fn count_statement(query: &ListQuery) -> Sql {
    let mut statement = sql("SELECT count(*) AS n FROM dlmlocks l");
    let conditions = where_clause(&mut statement, query);
    statement.push_text(&conditions);
    statement
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One page of locks matching `query`, and how many match in all.
pub async fn list(conn: &mut Conn, query: &ListQuery) -> Result<Page<Lock>, StorageError> {
    let total = count_statement(query).get_result::<Count>(conn).await?.n;
    let rows = list_statement(query).load::<LockRow>(conn).await?;
    Ok(Page {
        total,
        items: rows.into_iter().map(Lock::from).collect(),
    })
}

/// The plans of the statements `list` runs, for checking that searches stay index-bound.
pub async fn explain_list(conn: &mut Conn, query: &ListQuery) -> Result<Vec<String>, StorageError> {
    let mut plans = Vec::new();
    for statement in [count_statement(query), list_statement(query)] {
        plans.push(explain(conn, &statement).await?);
    }
    Ok(plans)
}
