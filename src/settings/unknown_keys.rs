//! Settings nobody reads. A typo must not pass silently: `crl_file = …` for `crl_files` would
//! switch revocation checking off, `[htpp]` would leave the listener at its default. serde skips
//! unknown keys; `serde_ignored` collects them, and each becomes one line of the error, with its
//! line in the file (or its environment variable) and the known key it most resembles.

use std::path::Path;

use toml::de::{DeTable, DeValue};

/// Keys the effective configuration leaves out while they are unset, which a typo may still
/// have meant.
pub(super) const OPTIONAL_KEYS: [&str; 14] = [
    "database.url",
    "tls.listen",
    "tls.cert_file",
    "tls.key_file",
    "tls.chain_file",
    "tls.max_connections_per_address",
    "tls.handshake_timeout_seconds",
    "webhooks.secret",
    "webhooks.ca_file",
    "prometheus.url",
    "prometheus.ca_file",
    "prometheus.bearer_token_file",
    "prometheus.timeout_seconds",
    "prometheus.cache_seconds",
];

/// The settings file as read, for line numbers.
pub(super) struct FileText<'a> {
    pub path: &'a Path,
    pub text: &'a str,
}

/// One line per unknown key, or `None` when every key is known. `known` is the effective
/// configuration as a table: its keys are the ones the parser knows.
pub(super) fn describe(
    ignored: &[String],
    file: Option<&FileText<'_>>,
    known: &toml::Table,
) -> Option<String> {
    if ignored.is_empty() {
        return None;
    }
    let mut known = known.clone();
    for key in OPTIONAL_KEYS {
        add_key(&mut known, key);
    }
    let parsed = file.and_then(|file| DeTable::parse(file.text).ok().map(|table| (file, table)));
    // The file's keys by line, then the environment's.
    let mut lines: Vec<(usize, String)> = ignored
        .iter()
        .map(|key| {
            // serde_ignored writes `?` for the inside of an Option (`tls.?.chain_fle`).
            let segments: Vec<&str> = key.split('.').filter(|s| *s != "?").collect();
            let hint = suggestion(&segments, &known);
            let in_file = parsed.as_ref().and_then(|(file, table)| {
                let at = position_in(table.get_ref(), &segments)?;
                Some((file, 1 + file.text[..at].matches('\n').count()))
            });
            match in_file {
                Some((file, line)) => (
                    line,
                    format!(
                        "{}, line {line}: unknown {} {}{}",
                        file.path.display(),
                        if segments.len() == 1 {
                            "section"
                        } else {
                            "key"
                        },
                        segments.join("."),
                        hint.map(|h| format!("; did you mean {h}?"))
                            .unwrap_or_default()
                    ),
                ),
                None => (
                    usize::MAX,
                    format!(
                        "{}: unknown setting {}{}",
                        variable(&segments),
                        segments.join("."),
                        hint.map(|h| {
                            let mut corrected = segments.clone();
                            corrected.pop();
                            corrected.push(&h);
                            format!("; did you mean {}?", variable(&corrected))
                        })
                        .unwrap_or_default()
                    ),
                ),
            }
        })
        .collect();
    lines.sort();
    Some(
        lines
            .into_iter()
            .map(|(_, line)| line)
            .collect::<Vec<_>>()
            .join("\n"),
    )
}

/// The environment variable that sets `segments` (the settings' only other source).
fn variable(segments: &[&str]) -> String {
    format!("FOREMAN_DLM__{}", segments.join("__").to_uppercase())
}

/// Where the key's name starts in the file, walking tables and arrays of tables.
fn position_in(table: &DeTable<'_>, segments: &[&str]) -> Option<usize> {
    let (first, rest) = segments.split_first()?;
    let (key, value) = table
        .iter()
        .find(|(key, _)| key.get_ref().as_ref() == *first)?;
    if rest.is_empty() {
        return Some(key.span().start);
    }
    match value.get_ref() {
        DeValue::Table(inner) => position_in(inner, rest),
        DeValue::Array(items) => {
            let (index, rest) = rest.split_first()?;
            match items.get(index.parse::<usize>().ok()?)?.get_ref() {
                DeValue::Table(inner) if !rest.is_empty() => position_in(inner, rest),
                _ => None,
            }
        }
        _ => None,
    }
}

/// The known key beside the unknown one that it most resembles, if any is close.
fn suggestion(segments: &[&str], known: &toml::Table) -> Option<String> {
    let (last, parents) = segments.split_last()?;
    let mut table = known;
    // An index into an array of tables ([[webhooks]]): the first entry has the same keys.
    for parent in parents
        .iter()
        .filter(|parent| parent.parse::<usize>().is_err())
    {
        table = match table.get(*parent)? {
            toml::Value::Table(inner) => inner,
            toml::Value::Array(items) => match items.first()? {
                toml::Value::Table(inner) => inner,
                _ => return None,
            },
            _ => return None,
        };
    }
    table
        .keys()
        .map(|candidate| (strsim::jaro_winkler(last, candidate), candidate))
        .filter(|(score, _)| *score >= 0.85)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, candidate)| candidate.clone())
}

/// Adds `key` (dotted) to `table` as an empty placeholder, into the first entry of an array.
fn add_key(table: &mut toml::Table, key: &str) {
    let Some((parent, last)) = key.split_once('.') else {
        return;
    };
    let inner = match table
        .entry(parent)
        .or_insert_with(|| toml::Value::Table(toml::Table::new()))
    {
        toml::Value::Table(inner) => inner,
        toml::Value::Array(items) => match items.first_mut() {
            Some(toml::Value::Table(inner)) => inner,
            _ => return,
        },
        _ => return,
    };
    inner
        .entry(last)
        .or_insert_with(|| toml::Value::String(String::new()));
}

/// Arrays of tables whose entries' keys are settings (a window inside a policy is a value).
const TABLE_ARRAYS: [&str; 2] = ["webhooks", "locks.policies"];

/// An entry of each array of tables, so that their keys show in the effective configuration.
const SAMPLE_ENTRIES: &str = "[[webhooks]]\nurl = \"https://example.com/\"\n\
    events = [\"acquire\"]\nsecret = \"s\"\nca_file = \"/ca.pem\"\n\n\
    [[locks.policies]]\nmatch = \"x*\"\nmax_holders = 2\nlease_seconds = 60\n\
    windows = [{ days = [\"mon\"], start = \"22:00\", end = \"04:00\", time_zone = \"UTC\" }]\n\
    on_lease_expiry = \"halt\"\ncooldown_seconds = 60\nblock_on_alerts = \"ALERTS\"\n";

/// Every key the parser reads, dotted; a key of the entries of `[[webhooks]]` as `webhooks.url`.
/// The documentation's table of settings is held to this list by a test.
pub fn known_keys() -> Vec<String> {
    let built = super::defaults::defaults().and_then(|builder| {
        builder
            .add_source(config::File::from_str(
                SAMPLE_ENTRIES,
                config::FileFormat::Toml,
            ))
            .build()
            .map_err(|e| super::SettingsError::Invalid(e.to_string()))
    });
    let table = built
        .ok()
        .and_then(|config| config.try_deserialize::<super::Settings>().ok())
        .and_then(|settings| toml::Table::try_from(&settings).ok())
        .unwrap_or_default();
    let mut keys = Vec::new();
    flatten(&table, "", &mut keys);
    keys.extend(OPTIONAL_KEYS.iter().map(|key| key.to_string()));
    keys.sort();
    keys.dedup();
    keys
}

fn flatten(table: &toml::Table, prefix: &str, keys: &mut Vec<String>) {
    for (name, value) in table {
        let key = format!("{prefix}{name}");
        match value {
            toml::Value::Table(inner) => flatten(inner, &format!("{key}."), keys),
            toml::Value::Array(items) if TABLE_ARRAYS.contains(&key.as_str()) => {
                if let Some(toml::Value::Table(entry)) = items.first() {
                    flatten(entry, &format!("{key}."), keys);
                }
            }
            _ => keys.push(key),
        }
    }
}
