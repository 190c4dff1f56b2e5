//! The admin index: a parsed search turned into one `WHERE` clause, a count and a page.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use diesel_async::RunQueryDsl;

use super::statements::LOCKS_WITH_POLICIES;
use super::{LockRow, LockStatements};
use crate::locks::model::{Lock, Page};
use crate::locks::search::{ListQuery, LockFilter, SortField, TextMatch};
use crate::storage::sql::{explain, sql, Sql};
use crate::storage::{Conn, StorageError};

/// The holder's name for a lock row aliased `l`: a primary-key lookup per row, so that reads,
/// sorts and searches never scan Foreman's `hosts` table.
const HOLDER_NAME_OF_L: &str = "(SELECT h.name FROM hosts h WHERE h.id = l.host_id)";

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
fn where_clause(statement: &mut Sql, statements: &LockStatements, query: &ListQuery) -> String {
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
                // A lock is stale when one of its live holders has not refreshed for
                // `stale_hours` (with one holder: the plugin's `updated_at` rule).
                let hours =
                    statement.placeholder(i32::try_from(query.stale_hours).unwrap_or(i32::MAX));
                let now = statement.placeholder(query.clock);
                let is_stale = format!(
                    "(l.host_id IS NOT NULL AND EXISTS (SELECT 1 FROM {} \
                     WHERE h.refreshed_at < {} - make_interval(hours => {hours})))",
                    statements.live_holders("h", &now),
                    statements.clock_of(&now),
                );
                if *stale {
                    is_stale
                } else {
                    format!("NOT COALESCE({is_stale}, false)")
                }
            }
            LockFilter::Holders(op, n) => {
                let now = statement.placeholder(query.clock);
                let count = format!(
                    "(CASE WHEN l.host_id IS NULL THEN 0 ELSE (SELECT count(*) FROM {}) END)",
                    statements.live_holders("h", &now)
                );
                format!("{count} {} {}", op.sql(), statement.placeholder(*n))
            }
            LockFilter::Full(full) => {
                let now = statement.placeholder(query.clock);
                let is_full = format!(
                    "(l.host_id IS NOT NULL AND (SELECT count(*) FROM {}) >= {})",
                    statements.live_holders("h", &now),
                    statements.max_holders()
                );
                if *full {
                    is_full
                } else {
                    format!("NOT {is_full}")
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

/// A search's statement: kept prepared only when it has no conditions (a few shapes, one per
/// order, which the status page and the index run all the time); with conditions its text follows
/// the user's search, and is planned once and forgotten.
fn cached_unless_searched(statement: Sql, query: &ListQuery) -> Sql {
    if query.filters.is_empty() {
        statement
    } else {
        statement.uncached()
    }
}

fn list_statement(statements: &LockStatements, query: &ListQuery) -> Sql {
    let mut statement = sql(String::new());
    let now = statement.placeholder(query.clock);
    statement.push_text(&format!(
        "SELECT {} FROM {LOCKS_WITH_POLICIES}",
        statements.lock_columns(&now)
    ));
    let conditions = where_clause(&mut statement, statements, query);
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
    cached_unless_searched(statement, query)
}

fn count_statement(statements: &LockStatements, query: &ListQuery) -> Sql {
    let mut statement = sql(format!("SELECT count(*) AS n FROM {LOCKS_WITH_POLICIES}"));
    let conditions = where_clause(&mut statement, statements, query);
    statement.push_text(&conditions);
    cached_unless_searched(statement, query)
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// One page of locks matching `query`, and how many match in all.
pub async fn list(
    conn: &mut Conn,
    statements: &LockStatements,
    query: &ListQuery,
) -> Result<Page<Lock>, StorageError> {
    let total = count_statement(statements, query)
        .get_result::<Count>(conn)
        .await?
        .n;
    let rows = list_statement(statements, query)
        .load::<LockRow>(conn)
        .await?;
    Ok(Page {
        total,
        items: rows
            .into_iter()
            .map(LockRow::into_lock)
            .collect::<Result<_, _>>()?,
    })
}

/// The plans of the statements `list` runs, for checking that searches stay index-bound.
pub async fn explain_list(
    conn: &mut Conn,
    statements: &LockStatements,
    query: &ListQuery,
) -> Result<Vec<String>, StorageError> {
    let mut plans = Vec::new();
    for statement in [
        count_statement(statements, query),
        list_statement(statements, query),
    ] {
        plans.push(explain(conn, &statement).await?);
    }
    Ok(plans)
}
