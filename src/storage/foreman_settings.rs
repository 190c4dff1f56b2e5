//! Foreman's `settings` table: rows exist only for values changed from the code default, and
//! values are YAML (`--- 10`).

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Varchar};

use super::sql::sql;
use super::StorageError;

#[derive(QueryableByName)]
struct SettingRow {
    #[diesel(sql_type = Varchar)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// The integer values of the named settings that have a row (and an integer value).
pub fn integers(
    conn: &mut PgConnection,
    names: &[&str],
) -> Result<Vec<(String, i64)>, StorageError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let rows = sql("SELECT name, value FROM settings WHERE name = ANY($1)")
        .bind(names)
        .load::<SettingRow>(conn)?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.name, yaml_integer(row.value.as_deref()?)?)))
        .collect())
}

/// Foreman's page size for API lists (setting `entries_per_page`, default 20).
pub fn entries_per_page(conn: &mut PgConnection) -> Result<i64, StorageError> {
    Ok(integers(conn, &["entries_per_page"])?
        .into_iter()
        .map(|(_, n)| n)
        .find(|n| *n > 0)
        .unwrap_or(20))
}

fn yaml_integer(value: &str) -> Option<i64> {
    let docs = yaml_rust2::YamlLoader::load_from_str(value).ok()?;
    docs.first()?.as_i64()
}

#[cfg(test)]
mod tests {
    use super::yaml_integer;

    #[test]
    fn settings_values_are_yaml() {
        assert_eq!(yaml_integer("--- 10"), Some(10));
        assert_eq!(yaml_integer("--- 50000\n"), Some(50000));
        assert_eq!(yaml_integer("--- abc"), None);
    }
}
