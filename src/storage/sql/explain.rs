//! The plan a service connection runs for a statement: for tests that keep the statements the
//! code runs index-bound.

use super::{sql, BindValue, Sql};
use crate::storage::{Conn, StorageError};

impl BindValue {
    /// The type diesel binds it as, in SQL.
    fn sql_type(&self) -> &'static str {
        match self {
            BindValue::Int(_) => "integer",
            BindValue::BigInt(_) => "bigint",
            BindValue::Text(_) => "text",
            BindValue::Bool(_) => "boolean",
            BindValue::TextArray(_) => "text[]",
            BindValue::IntArray(_) => "integer[]",
            BindValue::Timestamp(_) => "timestamp",
        }
    }

    /// As an SQL literal, for `EXPLAIN EXECUTE`, which takes no bind parameters.
    fn literal(&self) -> String {
        fn quoted(text: &str) -> String {
            format!("'{}'", text.replace('\'', "''"))
        }
        fn or_null<T>(value: &Option<T>, show: impl Fn(&T) -> String) -> String {
            value.as_ref().map_or_else(|| "NULL".to_string(), show)
        }
        let literal = match self {
            BindValue::Int(v) => or_null(v, i32::to_string),
            BindValue::BigInt(v) => or_null(v, i64::to_string),
            BindValue::Text(v) => or_null(v, |t| quoted(t)),
            BindValue::Bool(v) => or_null(v, bool::to_string),
            BindValue::IntArray(v) => {
                let items: Vec<String> = v.iter().map(i32::to_string).collect();
                format!("ARRAY[{}]", items.join(", "))
            }
            BindValue::TextArray(v) => {
                let items: Vec<String> = v.iter().map(|t| quoted(t)).collect();
                format!("ARRAY[{}]", items.join(", "))
            }
            BindValue::Timestamp(v) => or_null(v, |t| quoted(&t.to_string())),
        };
        format!("{literal}::{}", self.sql_type())
    }
}

impl Sql {
    /// `(type, …)` of the bind values as diesel sends them, for `PREPARE`.
    fn parameter_types(&self) -> String {
        if self.binds.is_empty() {
            return String::new();
        }
        let types: Vec<&str> = self.binds.iter().map(BindValue::sql_type).collect();
        format!(" ({})", types.join(", "))
    }

    /// `EXPLAIN EXECUTE` of the statement prepared as `name`, with the bind values as literals.
    fn explained_as(&self, name: &str) -> Sql {
        sql(format!("EXPLAIN {}", self.executed_as(name)))
    }

    /// `EXECUTE` of the statement prepared as `name`, with the bind values as literals.
    fn executed_as(&self, name: &str) -> String {
        let values: Vec<String> = self.binds.iter().map(BindValue::literal).collect();
        let arguments = if values.is_empty() {
            String::new()
        } else {
            format!("({})", values.join(", "))
        };
        format!("EXECUTE {name}{arguments}")
    }
}

#[derive(diesel::QueryableByName)]
struct PlanLine {
    #[diesel(sql_type = diesel::sql_types::Text, column_name = "QUERY PLAN")]
    line: String,
}

/// The plan that `conn`, a connection set up as the service's are (`connect::SESSION_SETUP`:
/// generic plans), runs for `statement` prepared with its bind types, for its bind values.
pub async fn explain(conn: &mut Conn, statement: &Sql) -> Result<String, StorageError> {
    use diesel_async::{RunQueryDsl, SimpleAsyncConnection};
    const NAME: &str = "foreman_dlm_explained";
    conn.batch_execute(&format!(
        "PREPARE {NAME}{} AS {}",
        statement.parameter_types(),
        statement.text
    ))
    .await?;
    let lines: Result<Vec<PlanLine>, _> = statement.explained_as(NAME).load(conn).await;
    conn.batch_execute(&format!("DEALLOCATE {NAME}")).await?;
    Ok(lines?
        .into_iter()
        .map(|l| l.line)
        .collect::<Vec<_>>()
        .join("\n"))
}

/// The plans of every statement that running `statement` executes, nested ones included (the
/// queries inside the host request function): runs it for real, prepared with its bind types and
/// with the service's session set-up, on a new connection to `url` (plain TCP; a superuser, since
/// it loads `auto_explain`, whose plans arrive as notices).
pub async fn explain_nested(url: &str, statement: &Sql) -> Result<Vec<String>, String> {
    use futures_util::StreamExt;
    let (client, mut connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .map_err(|e| e.to_string())?;
    let (notices_tx, mut notices) = tokio::sync::mpsc::unbounded_channel();
    let driver = tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(|cx| connection.poll_message(cx));
        while let Some(Ok(message)) = messages.next().await {
            if let tokio_postgres::AsyncMessage::Notice(notice) = message {
                let _ = notices_tx.send(notice.message().to_string());
            }
        }
    });
    const NAME: &str = "foreman_dlm_explained";
    let script = format!(
        "LOAD 'auto_explain'; SET auto_explain.log_min_duration = 0; \
         SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice; \
         SET client_min_messages = notice; {}; PREPARE {NAME}{} AS {}; {}",
        crate::storage::connect::SESSION_SETUP,
        statement.parameter_types(),
        statement.text,
        statement.executed_as(NAME),
    );
    let outcome = client.batch_execute(&script).await;
    drop(client);
    let _ = driver.await;
    outcome.map_err(|e| e.to_string())?;
    let mut plans = Vec::new();
    while let Ok(plan) = notices.try_recv() {
        plans.push(plan);
    }
    Ok(plans)
}
