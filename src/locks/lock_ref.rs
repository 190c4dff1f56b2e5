//! How a request names a lock: `:id` in `/api/dlmlocks/:id/lock`.

use std::fmt;

/// Lock names are stored as `character varying` without a limit; this bound keeps a hostile
/// 10,000-character name out of the database and the logs. Foreman's own string columns are 255.
pub const MAX_NAME_CHARS: usize = 255;

/// The decoded `:id` path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockRef {
    /// All digits and within `integer` range: tried as an id first, then as a name.
    IdOrName(i32, String),
    Name(String),
}

/// Why a path segment cannot name a lock. The text is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLockName(pub String);

impl fmt::Display for InvalidLockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl LockRef {
    /// Parses the raw (still percent-encoded) path segment.
    ///
    /// Any character but `/` may appear in a name. Unlike the plugin, only an all-digit `:id` is
    /// treated as an id: Foreman's finder takes the leading integer of any string, so there
    /// `2024-patch` would silently address the lock with id 2024.
    pub fn parse(raw_segment: &str) -> Result<LockRef, InvalidLockName> {
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw_segment).collect();
        let name = String::from_utf8(bytes)
            .map_err(|_| InvalidLockName("Lock name is not valid UTF-8".into()))?;
        validate_name(&name)?;
        if name.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(id) = name.parse::<i32>() {
                return Ok(LockRef::IdOrName(id, name));
            }
        }
        Ok(LockRef::Name(name))
    }

    /// The id to try first, for an all-digit `:id`.
    pub fn id(&self) -> Option<i32> {
        match self {
            LockRef::IdOrName(id, _) => Some(*id),
            LockRef::Name(_) => None,
        }
    }

    /// The `:id` as the client sent it (decoded), for messages and auto-created names.
    pub fn as_str(&self) -> &str {
        match self {
            LockRef::IdOrName(_, name) | LockRef::Name(name) => name,
        }
    }
}

/// The rules every lock name follows, whether it arrives in a path or a JSON body.
pub fn validate_name(name: &str) -> Result<(), InvalidLockName> {
    if name.is_empty() {
        return Err(InvalidLockName("Lock name can't be blank".into()));
    }
    if name.contains('/') {
        return Err(InvalidLockName("Lock name must not contain '/'".into()));
    }
    if name == "." || name == ".." {
        return Err(InvalidLockName("Lock name must not be '.' or '..'".into()));
    }
    if name.chars().any(char::is_control) {
        return Err(InvalidLockName(
            "Lock name must not contain control characters".into(),
        ));
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(InvalidLockName(format!(
            "Lock name is too long (maximum is {MAX_NAME_CHARS} characters)"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_are_ids_first_and_other_names_are_names() {
        assert_eq!(LockRef::parse("42"), Ok(LockRef::IdOrName(42, "42".into())));
        assert_eq!(
            LockRef::parse("2024-patch"),
            Ok(LockRef::Name("2024-patch".into()))
        );
        assert_eq!(
            LockRef::parse("99999999999"),
            Ok(LockRef::Name("99999999999".into()))
        );
        assert_eq!(LockRef::parse("-1"), Ok(LockRef::Name("-1".into())));
    }

    #[test]
    fn decodes_percent_escapes_and_keeps_plus() {
        assert_eq!(
            LockRef::parse("Test%20Lock"),
            Ok(LockRef::Name("Test Lock".into()))
        );
        assert_eq!(LockRef::parse("a+b"), Ok(LockRef::Name("a+b".into())));
        assert_eq!(LockRef::parse("100%25"), Ok(LockRef::Name("100%".into())));
        assert_eq!(
            LockRef::parse("%C3%A4rger"),
            Ok(LockRef::Name("\u{e4}rger".into()))
        );
        assert_eq!(
            LockRef::parse("db.example"),
            Ok(LockRef::Name("db.example".into()))
        );
    }

    #[test]
    fn refuses_names_that_cannot_be_stored_or_addressed() {
        for bad in ["", "a%2Fb", "..", ".", "%00", "a%0Ab", "%FF"] {
            assert!(LockRef::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(LockRef::parse(&"x".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(LockRef::parse(&"x".repeat(MAX_NAME_CHARS + 1)).is_err());
    }
}
