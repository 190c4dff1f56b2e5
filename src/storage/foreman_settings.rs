//! Foreman's `settings` table: rows exist only for values changed from the code default, and
//! values are YAML (`--- 10`).

use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Varchar};
use diesel_async::RunQueryDsl;

use super::sql::sql;
use super::{Conn, StorageError};

#[derive(QueryableByName)]
struct SettingRow {
    #[diesel(sql_type = Varchar)]
    name: String,
    #[diesel(sql_type = Nullable<Text>)]
    value: Option<String>,
}

/// A setting's value, decoded from its YAML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SettingValue {
    Integer(i64),
    Text(String),
}

/// The values of the named settings that have a row with an integer or string value.
pub async fn values(
    conn: &mut Conn,
    names: &[&str],
) -> Result<Vec<(String, SettingValue)>, StorageError> {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let rows: Vec<SettingRow> = sql("SELECT name, value FROM settings WHERE name = ANY($1)")
        .bind(names)
        .load(conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| Some((row.name, decode(row.value.as_deref()?)?)))
        .collect())
}

/// Foreman's page size for API lists (setting `entries_per_page`, default 20).
pub async fn entries_per_page(conn: &mut Conn) -> Result<i64, StorageError> {
    Ok(values(conn, &["entries_per_page"])
        .await?
        .into_iter()
        .find_map(|(_, value)| match value {
            SettingValue::Integer(n) if n > 0 => Some(n),
            _ => None,
        })
        .unwrap_or(20))
}

fn decode(value: &str) -> Option<SettingValue> {
    let doc = yaml_rust2::YamlLoader::load_from_str(value)
        .ok()?
        .into_iter()
        .next()?;
    doc.as_i64()
        .map(SettingValue::Integer)
        .or_else(|| doc.as_str().map(|s| SettingValue::Text(s.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_values_are_yaml() {
        assert_eq!(decode("--- 10"), Some(SettingValue::Integer(10)));
        assert_eq!(decode("--- 50000\n"), Some(SettingValue::Integer(50000)));
        assert_eq!(
            decode("--- pbkdf2sha1"),
            Some(SettingValue::Text("pbkdf2sha1".into()))
        );
        assert_eq!(decode("--- [1]"), None);
    }
}
