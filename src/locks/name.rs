//! Lock names and how a request addresses a lock: parsed once, where they enter, so that the rest
//! of the code holds only names that follow the rules.

use std::borrow::Cow;
use std::fmt;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// Lock names are stored as `character varying` without a limit; this bound keeps a hostile
/// 10,000-character name out of the database and the logs. Foreman's own string columns are 255.
pub const MAX_NAME_CHARS: usize = 255;

/// A name that can be stored, addressed in a URL, and displayed without lying about itself:
/// 1–255 characters, not blank, valid UTF-8, no `/`, not `.` or `..`, and no control, format
/// (bidi overrides, zero-width characters) or line/paragraph-separator characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LockName(String);

/// Why a text cannot be a lock name. The text is safe to show to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidLockName(pub String);

impl fmt::Display for InvalidLockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl LockName {
    pub fn parse(name: &str) -> Result<LockName, InvalidLockName> {
        let refuse = |text: &str| Err(InvalidLockName(text.to_string()));
        if name.trim().is_empty() {
            return refuse("Lock name can't be blank");
        }
        if name.contains('/') {
            return refuse("Lock name must not contain '/'");
        }
        if name == "." || name == ".." {
            return refuse("Lock name must not be '.' or '..'");
        }
        if name.chars().any(char::is_control) {
            return refuse("Lock name must not contain control characters");
        }
        if name.chars().any(is_invisible) {
            return refuse(
                "Lock name must not contain invisible formatting characters (such as bidi \
                 overrides or zero-width spaces)",
            );
        }
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(InvalidLockName(format!(
                "Lock name is too long (maximum is {MAX_NAME_CHARS} characters)"
            )));
        }
        Ok(LockName(name.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for LockName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Characters that change how the text around them is shown while showing nothing themselves.
fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// A name as it may be shown anywhere (a terminal, a page, a metric label): this service refuses
/// names with control or formatting characters, but the plugin's UI and plain SQL do not, and
/// host names come from Foreman. Each such character is shown as its escape, `\u{1b}`, so that
/// it can neither move a terminal's cursor, break a line of output, nor hide.
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() || is_invisible(c)) {
        return Cow::Borrowed(text);
    }
    let mut shown = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() || is_invisible(c) {
            shown.push_str(&c.escape_unicode().to_string());
        } else {
            shown.push(c);
        }
    }
    Cow::Owned(shown)
}

/// The decoded `:id` path segment of `/api/dlmlocks/:id/…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LockRef {
    /// All digits and within `integer` range: tried as an id first, then as a name.
    IdOrName(i32, LockName),
    Name(LockName),
}

impl LockRef {
    /// Parses the raw (still percent-encoded) path segment.
    ///
    /// Any character but `/` may appear in a name. Unlike the plugin, only an all-digit `:id` is
    /// treated as an id: Foreman's finder takes the leading integer of any string, so there
    /// `2024-patch` would silently address the lock with id 2024.
    pub fn parse(raw_segment: &str) -> Result<LockRef, InvalidLockName> {
        let bytes: Vec<u8> = percent_encoding::percent_decode_str(raw_segment).collect();
        let text = String::from_utf8(bytes)
            .map_err(|_| InvalidLockName("Lock name is not valid UTF-8".into()))?;
        let name = LockName::parse(&text)?;
        if text.bytes().all(|b| b.is_ascii_digit()) {
            if let Ok(id) = text.parse::<i32>() {
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

    /// The `:id` as the client sent it (decoded): the name to find or create.
    pub fn name(&self) -> &LockName {
        match self {
            LockRef::IdOrName(_, name) | LockRef::Name(name) => name,
        }
    }

    pub fn as_str(&self) -> &str {
        self.name().as_str()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> LockName {
        LockName::parse(text).expect("valid name")
    }

    #[test]
    fn printable_escapes_what_would_move_break_or_hide_output() {
        assert_eq!(printable("web-1 über"), "web-1 über");
        assert_eq!(printable("a\x1b[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(printable("x\ny\rz\u{202e}"), "x\\u{a}y\\u{d}z\\u{202e}");
    }

    #[test]
    fn digits_are_ids_first_and_other_names_are_names() {
        assert_eq!(LockRef::parse("42"), Ok(LockRef::IdOrName(42, name("42"))));
        assert_eq!(
            LockRef::parse("2024-patch"),
            Ok(LockRef::Name(name("2024-patch")))
        );
        assert_eq!(
            LockRef::parse("99999999999"),
            Ok(LockRef::Name(name("99999999999")))
        );
        assert_eq!(LockRef::parse("-1"), Ok(LockRef::Name(name("-1"))));
    }

    #[test]
    fn decodes_percent_escapes_and_keeps_plus() {
        assert_eq!(
            LockRef::parse("Test%20Lock"),
            Ok(LockRef::Name(name("Test Lock")))
        );
        assert_eq!(LockRef::parse("a+b"), Ok(LockRef::Name(name("a+b"))));
        assert_eq!(LockRef::parse("100%25"), Ok(LockRef::Name(name("100%"))));
        assert_eq!(
            LockRef::parse("%C3%A4rger"),
            Ok(LockRef::Name(name("\u{e4}rger")))
        );
        assert_eq!(
            LockRef::parse("db.example"),
            Ok(LockRef::Name(name("db.example")))
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

    #[test]
    fn refuses_names_that_display_as_something_else() {
        for bad in [
            " ",
            "  ",
            "\t",
            "web\u{202E}1",
            "\u{200B}web",
            "web\u{2066}x\u{2069}",
            "\u{FEFF}",
            "a\u{2028}b",
            "soft\u{AD}hyphen",
        ] {
            assert!(LockName::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(LockRef::parse("%E2%80%AEweb").is_err());
        assert!(LockName::parse("Wartungsfenster über Nacht").is_ok());
        assert!(LockName::parse("更新ロック").is_ok());
    }
}
