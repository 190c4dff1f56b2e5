//! Foreman's database.yml as a libpq connection string, and connection strings with their
//! passwords masked for printing.

use std::path::Path;

use super::SettingsError;

/// Where Foreman keeps its database settings.
pub const FOREMAN_DATABASE_YML: &str = "/etc/foreman/database.yml";

/// Builds a libpq `key=value` connection string from the `production` section of Foreman's
/// database.yml. A key/value string (rather than a URL) needs no percent-encoding of passwords.
pub fn conninfo_from_foreman_yml(path: &Path) -> Result<String, SettingsError> {
    let problem = |problem: String| SettingsError::ForemanDatabaseYml {
        path: path.to_path_buf(),
        problem,
    };
    let text =
        std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read it ({e})")))?;
    let docs = yaml_rust2::YamlLoader::load_from_str(&text)
        .map_err(|e| problem(format!("it is not valid YAML ({e})")))?;
    let production = docs
        .first()
        .map(|doc| &doc["production"])
        .filter(|p| p.as_hash().is_some())
        .ok_or_else(|| problem("it has no production section".into()))?;
    let field = |key: &str| -> Option<String> {
        let value = &production[key];
        value
            .as_str()
            .map(str::to_string)
            .or_else(|| value.as_i64().map(|n| n.to_string()))
    };
    match field("adapter").as_deref() {
        Some("postgresql") | Some("postgres") | Some("postgis") => {}
        other => {
            return Err(problem(format!(
                "its adapter is {:?}; foreman-dlm needs PostgreSQL",
                other.unwrap_or("(missing)")
            )))
        }
    }
    let mut parts = Vec::new();
    for (yml_key, libpq_key) in [
        ("host", "host"),
        ("port", "port"),
        ("database", "dbname"),
        ("username", "user"),
        ("password", "password"),
        ("sslmode", "sslmode"),
        ("sslrootcert", "sslrootcert"),
        ("sslcert", "sslcert"),
        ("sslkey", "sslkey"),
    ] {
        if let Some(value) = field(yml_key) {
            parts.push(format!("{libpq_key}={}", quote_conninfo_value(&value)));
        }
    }
    if field("database").is_none() {
        return Err(problem("its production section names no database".into()));
    }
    Ok(parts.join(" "))
}

fn quote_conninfo_value(value: &str) -> String {
    let escaped = value.replace('\\', "\\\\").replace('\'', "\\'");
    format!("'{escaped}'")
}

/// What a masked secret prints as.
const MASK: &str = "********";

/// The connection string with every password replaced, for logs and `check-config`.
pub fn redact_database_url(url: &str) -> String {
    match url.find("://") {
        Some(scheme_end) => redact_uri(url, scheme_end + 3),
        None => redact_conninfo(url),
    }
}

/// `scheme://[user[:password]@]host…[?key=value&…]`. libpq percent-decodes every part, so a key
/// is decoded before it is compared, and every `password`/`sslpassword` is masked, however often
/// it appears. The user info ends at the last `@` before the first `/`: that covers every split
/// libpq could make of it.
fn redact_uri(url: &str, authority_start: usize) -> String {
    let rest = &url[authority_start..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let (mut out, after_user) = match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user_info = &rest[..at];
            let user = user_info.split(':').next().unwrap_or_default();
            let masked = if user_info.contains(':') {
                format!("{user}:{MASK}")
            } else {
                user.to_string()
            };
            (format!("{}{masked}", &url[..authority_start]), &rest[at..])
        }
        None => (url[..authority_start].to_string(), rest),
    };
    let Some(query_start) = after_user.find('?') else {
        out.push_str(after_user);
        return out;
    };
    out.push_str(&after_user[..=query_start]);
    let pairs: Vec<String> = after_user[query_start + 1..]
        .split('&')
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or_default();
            if is_password_key(&percent_encoding::percent_decode_str(key).decode_utf8_lossy()) {
                format!("{key}={MASK}")
            } else {
                pair.to_string()
            }
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out
}

/// libpq's keys that hold a secret: the password and the client key's passphrase.
fn is_password_key(key: &str) -> bool {
    let key = key.trim().to_ascii_lowercase();
    key == "password" || key == "sslpassword"
}

/// `key=value …`: values may be quoted and contain spaces; every password key is masked.
fn redact_conninfo(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find("password") {
        let after = rest[pos + "password".len()..].trim_start();
        if !after.starts_with('=') {
            out.push_str(&rest[..pos + "password".len()]);
            rest = &rest[pos + "password".len()..];
            continue;
        }
        out.push_str(&rest[..pos]);
        out.push_str("password=");
        out.push_str(MASK);
        let value = after[1..].trim_start();
        rest = skip_conninfo_value(value);
    }
    out.push_str(rest);
    out
}

fn skip_conninfo_value(value: &str) -> &str {
    if let Some(quoted) = value.strip_prefix('\'') {
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            match c {
                '\\' if !escaped => escaped = true,
                '\'' if !escaped => return &quoted[i + 1..],
                _ => escaped = false,
            }
        }
        ""
    } else {
        value
            .find(char::is_whitespace)
            .map_or("", |end| &value[end..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_passwords() {
        assert_eq!(
            redact_database_url("postgres://foreman:s3cret@db:5432/foreman"),
            "postgres://foreman:********@db:5432/foreman"
        );
        assert_eq!(
            redact_database_url("postgres://db/foreman?user=x&password=s3cret&sslmode=require"),
            "postgres://db/foreman?user=x&password=********&sslmode=require"
        );
        assert_eq!(
            redact_database_url("host='db' password='it\\'s secret' dbname='foreman'"),
            "host='db' password=******** dbname='foreman'"
        );
        assert_eq!(
            redact_database_url("host=db password=plain dbname=foreman"),
            "host=db password=******** dbname=foreman"
        );
        assert_eq!(
            redact_database_url("postgres://db/foreman"),
            "postgres://db/foreman"
        );
    }

    #[test]
    fn redacts_every_spelling_of_a_password() {
        for (url, secrets) in [
            ("postgres://db/f?pass%77ord=REALPW3", &["REALPW3"][..]),
            (
                "postgres://db/f?password=A1&user=x&password=B2",
                &["A1", "B2"],
            ),
            ("postgres://db/f?%50ASSWORD=C3", &["C3"]),
            ("postgres://db/f?sslpassword=D4&password", &["D4"]),
            ("postgres://u:E5@db?password=F6", &["E5", "F6"]),
            ("postgres://u:G7@H8@db/f", &["G7", "H8"]),
            ("postgresql://u:I9@[::1]:5432/f#x", &["I9"]),
            (
                "host=db password=J1 sslpassword='K 2' dbname=f",
                &["J1", "K 2"],
            ),
        ] {
            let shown = redact_database_url(url);
            for secret in secrets {
                assert!(!shown.contains(secret), "{url} → {shown}");
            }
            assert!(shown.contains(MASK), "{url} → {shown}");
        }
    }

    #[test]
    fn reads_foreman_database_yml() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("database.yml");
        std::fs::write(
            &path,
            "development:\n  adapter: sqlite3\nproduction:\n  adapter: postgresql\n  \
             host: localhost\n  port: 5432\n  database: foreman\n  username: foreman\n  \
             password: \"it's s3cret\"\n  pool: 5\n",
        )
        .expect("write");
        assert_eq!(
            conninfo_from_foreman_yml(&path).expect("conninfo"),
            "host='localhost' port='5432' dbname='foreman' user='foreman' password='it\\'s s3cret'"
        );
        std::fs::write(
            &path,
            "production:\n  adapter: mysql2\n  database: foreman\n",
        )
        .expect("write");
        let err = conninfo_from_foreman_yml(&path)
            .expect_err("mysql refused")
            .to_string();
        assert!(err.contains("needs PostgreSQL"), "{err}");
        let err = conninfo_from_foreman_yml(&dir.path().join("missing.yml"))
            .expect_err("missing file")
            .to_string();
        assert!(err.contains("cannot read it"), "{err}");
    }
}
