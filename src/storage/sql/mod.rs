//! SQL statements that diesel keeps prepared on each connection.
//!
//! `diesel::sql_query` marks every statement unsafe to cache, so each call is parsed and planned
//! again; for the lock path's CTEs planning costs more than running them. [`Sql`] holds the same
//! text and its bind values, writes each `$n` placeholder through diesel's public bind API, and
//! leaves the statement cacheable: diesel's statement cache (keyed by the SQL text) prepares it
//! once per connection. A statement whose text follows user input (a search's conditions) is
//! marked [`Sql::uncached`]: every distinct text would otherwise stay prepared, with its plan, on
//! every connection for the connection's life, and a viewer could grow the server's memory
//! without bound by searching.

mod explain;

use std::borrow::Cow;

pub use explain::{explain, explain_nested};

use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp, Untyped};
use diesel::QueryResult;

/// A value for a `$n` placeholder.
#[derive(Debug, Clone, PartialEq)]
pub enum BindValue {
    Int(Option<i32>),
    BigInt(Option<i64>),
    Text(Option<String>),
    Bool(Option<bool>),
    TextArray(Vec<String>),
    IntArray(Vec<i32>),
    Timestamp(Option<chrono::NaiveDateTime>),
}

/// A statement and its bind values; `$1` is the first value given to [`Sql::bind`]. A
/// placeholder may appear several times.
#[derive(Debug, Clone)]
pub struct Sql {
    text: Cow<'static, str>,
    binds: Vec<BindValue>,
    cached: bool,
}

pub fn sql(text: impl Into<Cow<'static, str>>) -> Sql {
    Sql {
        text: text.into(),
        binds: Vec::new(),
        cached: true,
    }
}

impl Sql {
    /// Planned each time it runs and never kept prepared on the connection.
    pub fn uncached(mut self) -> Sql {
        self.cached = false;
        self
    }

    pub fn bind(mut self, value: impl Into<BindValue>) -> Sql {
        self.binds.push(value.into());
        self
    }

    /// Appends `value` and returns its placeholder, for statements built piece by piece.
    pub fn placeholder(&mut self, value: impl Into<BindValue>) -> String {
        self.binds.push(value.into());
        format!("${}", self.binds.len())
    }

    pub fn push_text(&mut self, text: &str) {
        self.text.to_mut().push_str(text);
    }
}

/// `template` with each `{key}` of `values` replaced in one pass, so that a value (which may hold
/// text from the settings, inside a string literal) is never searched for another key.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let replaced = after.find('}').and_then(|close| {
            let key = &after[..close];
            values
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, value)| (value, close))
        });
        match replaced {
            Some((value, close)) => {
                out.push_str(value);
                rest = &after[close + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The statement without `--` comments and with each run of whitespace as one space, string
/// literals untouched: what is sent, prepared and cached is then only the SQL. The `.sql` files
/// keep their comments for readers.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            if c == '\'' {
                // '' inside a literal is a quote, not its end.
                if chars.peek() == Some(&'\'') {
                    out.extend(chars.next());
                } else {
                    in_string = false;
                }
            }
            continue;
        }
        match c {
            '\'' => {
                in_string = true;
                out.push(c);
            }
            '-' if chars.peek() == Some(&'-') => {
                while chars.next_if(|c| *c != '\n').is_some() {}
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') && !out.is_empty() {
                    out.push(' ');
                }
            }
            c => out.push(c),
        }
    }
    out.trim_end().to_string()
}

impl QueryFragment<Pg> for Sql {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        if !self.cached {
            out.unsafe_to_cache_prepared();
        }
        let text: &str = &self.text;
        let mut rest = text;
        while let Some(at) = rest.find('$') {
            let digits = rest[at + 1..]
                .bytes()
                .take_while(u8::is_ascii_digit)
                .count();
            if digits == 0 {
                out.push_sql(&rest[..=at]);
                rest = &rest[at + 1..];
                continue;
            }
            out.push_sql(&rest[..at]);
            let index: usize = rest[at + 1..at + 1 + digits]
                .parse()
                .map_err(|_| diesel::result::Error::QueryBuilderError("bad placeholder".into()))?;
            let value = index
                .checked_sub(1)
                .and_then(|i| self.binds.get(i))
                .ok_or_else(|| {
                    diesel::result::Error::QueryBuilderError(
                        format!("no value for ${index}").into(),
                    )
                })?;
            match value {
                BindValue::Int(v) => out.push_bind_param::<Nullable<Integer>, _>(v)?,
                BindValue::BigInt(v) => out.push_bind_param::<Nullable<BigInt>, _>(v)?,
                BindValue::Text(v) => out.push_bind_param::<Nullable<Text>, _>(v)?,
                BindValue::Bool(v) => out.push_bind_param::<Nullable<Bool>, _>(v)?,
                BindValue::TextArray(v) => out.push_bind_param::<Array<Text>, _>(v)?,
                BindValue::IntArray(v) => out.push_bind_param::<Array<Integer>, _>(v)?,
                BindValue::Timestamp(v) => out.push_bind_param::<Nullable<Timestamp>, _>(v)?,
            }
            rest = &rest[at + 1 + digits..];
        }
        out.push_sql(rest);
        Ok(())
    }
}

impl QueryId for Sql {
    type QueryId = ();
    // Not a static id: diesel then caches by the rendered SQL text, one entry per statement.
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl Query for Sql {
    type SqlType = Untyped;
}

impl From<i32> for BindValue {
    fn from(v: i32) -> Self {
        BindValue::Int(Some(v))
    }
}

impl From<Option<i32>> for BindValue {
    fn from(v: Option<i32>) -> Self {
        BindValue::Int(v)
    }
}

impl From<i64> for BindValue {
    fn from(v: i64) -> Self {
        BindValue::BigInt(Some(v))
    }
}

impl From<Option<i64>> for BindValue {
    fn from(v: Option<i64>) -> Self {
        BindValue::BigInt(v)
    }
}

impl From<&str> for BindValue {
    fn from(v: &str) -> Self {
        BindValue::Text(Some(v.to_string()))
    }
}

impl From<String> for BindValue {
    fn from(v: String) -> Self {
        BindValue::Text(Some(v))
    }
}

impl From<&String> for BindValue {
    fn from(v: &String) -> Self {
        BindValue::Text(Some(v.clone()))
    }
}

impl From<Option<&str>> for BindValue {
    fn from(v: Option<&str>) -> Self {
        BindValue::Text(v.map(str::to_string))
    }
}

impl From<Option<String>> for BindValue {
    fn from(v: Option<String>) -> Self {
        BindValue::Text(v)
    }
}

impl From<Option<chrono::NaiveDateTime>> for BindValue {
    fn from(v: Option<chrono::NaiveDateTime>) -> Self {
        BindValue::Timestamp(v)
    }
}

impl From<bool> for BindValue {
    fn from(v: bool) -> Self {
        BindValue::Bool(Some(v))
    }
}

impl From<Option<bool>> for BindValue {
    fn from(v: Option<bool>) -> Self {
        BindValue::Bool(v)
    }
}

impl From<&[String]> for BindValue {
    fn from(v: &[String]) -> Self {
        BindValue::TextArray(v.to_vec())
    }
}

impl From<Vec<String>> for BindValue {
    fn from(v: Vec<String>) -> Self {
        BindValue::TextArray(v)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn fill_replaces_in_one_pass() {
        let filled = super::fill("a {x} b {y} {unknown} {", &[("x", "'{y}'"), ("y", "2")]);
        assert_eq!(filled, "a '{y}' b 2 {unknown} {");
    }

    use super::*;
    use diesel::query_builder::QueryBuilder;

    fn rendered(statement: &Sql) -> String {
        let mut builder = <Pg as diesel::backend::Backend>::QueryBuilder::default();
        statement.to_sql(&mut builder, &Pg).expect("sql");
        builder.finish()
    }

    #[test]
    fn placeholders_become_bind_parameters_in_order() {
        let statement = sql("SELECT $2, $1 WHERE x ~ '^[0-9]$' AND y = $2")
            .bind(1)
            .bind("a");
        assert_eq!(
            rendered(&statement),
            "SELECT $1, $2 WHERE x ~ '^[0-9]$' AND y = $3"
        );
        let missing = sql("SELECT $3").bind(1);
        let mut builder = <Pg as diesel::backend::Backend>::QueryBuilder::default();
        assert!(missing.to_sql(&mut builder, &Pg).is_err());
    }

    #[test]
    fn compact_keeps_literals_and_drops_comments() {
        assert_eq!(
            compact("SELECT 1, -- one\n   '--- x\n  y', 'it''s --not'\n\n  FROM t -- end"),
            "SELECT 1, '--- x\n  y', 'it''s --not' FROM t"
        );
        assert_eq!(compact("a - b"), "a - b");
    }

    #[test]
    fn statements_are_cacheable() {
        let statement = sql("SELECT $1").bind(1);
        assert!(QueryFragment::<Pg>::is_safe_to_cache_prepared(&statement, &Pg).expect("check"));
        assert!(!QueryFragment::<Pg>::is_safe_to_cache_prepared(
            &diesel::sql_query("SELECT 1"),
            &Pg
        )
        .expect("check"));
        let uncached = sql("SELECT $1").bind(1).uncached();
        assert!(!QueryFragment::<Pg>::is_safe_to_cache_prepared(&uncached, &Pg).expect("check"));
    }
}
