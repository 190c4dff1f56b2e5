//! libpq connection strings, in both forms: `key=value` (values may be single-quoted, with `\'`
//! and `\\` escapes) and `postgres://` URLs. Only what `connect` needs: taking libpq's TLS
//! keywords out, so that the driver sees the rest.

/// The libpq keywords `connect` handles itself.
pub const TLS_KEYWORDS: [&str; 5] = ["sslmode", "sslrootcert", "sslcert", "sslkey", "sslcrl"];

/// A `(keyword, value)` pair taken out of a connection string.
pub type Pair = (String, String);

/// Takes the TLS keywords out of a URL's query string.
pub fn split_url(url: &str) -> Result<(String, Vec<Pair>), String> {
    let Some((base, query)) = url.split_once('?') else {
        return Ok((url.to_string(), Vec::new()));
    };
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = piece.split_once('=').unwrap_or((piece, ""));
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|t| t.into_owned())
                .map_err(|_| "the database URL has a parameter that is not UTF-8".to_string())
        };
        let key = decode(key)?;
        if TLS_KEYWORDS.contains(&key.as_str()) {
            tls.push((key, decode(value)?));
        } else {
            kept.push(piece);
        }
    }
    let rest = if kept.is_empty() {
        base.to_string()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((rest, tls))
}

/// Takes the TLS keywords out of a `key=value` string (values may be single-quoted, with `\'`
/// and `\\` escapes, as libpq reads them).
pub fn split_keywords(conninfo: &str) -> Result<(String, Vec<Pair>), String> {
    let mut kept = Vec::new();
    let mut tls = Vec::new();
    for (key, value) in parse_keywords(conninfo)? {
        if TLS_KEYWORDS.contains(&key.as_str()) {
            tls.push((key, value));
        } else {
            let quoted = value.replace('\\', "\\\\").replace('\'', "\\'");
            kept.push(format!("{key}='{quoted}'"));
        }
    }
    Ok((kept.join(" "), tls))
}

fn parse_keywords(conninfo: &str) -> Result<Vec<Pair>, String> {
    let mut pairs = Vec::new();
    let mut chars = conninfo.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Ok(pairs);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.next() != Some('=') {
            return Err(format!(
                "the database connection string is invalid: missing \"=\" after {key:?}"
            ));
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next() {
                    Some('\\') => value.extend(chars.next()),
                    Some('\'') => break,
                    Some(c) => value.push(c),
                    None => {
                        return Err(
                            "the database connection string has an unterminated quote".to_string()
                        )
                    }
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    value.extend(chars.next());
                } else {
                    value.push(c);
                }
            }
        }
        pairs.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keywords_are_read_like_libpq() {
        assert_eq!(
            parse_keywords(r"host='db' password='it\'s secret' port = 5432 dbname=foreman")
                .expect("parsed"),
            vec![
                ("host".to_string(), "db".to_string()),
                ("password".to_string(), "it's secret".to_string()),
                ("port".to_string(), "5432".to_string()),
                ("dbname".to_string(), "foreman".to_string()),
            ]
        );
        assert!(parse_keywords("host='db").is_err());
        assert!(parse_keywords("host").is_err());
    }
}
