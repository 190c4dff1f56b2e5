//! Putting a lock's name into a PromQL expression.

use std::fmt::Write;

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};

/// The placeholder an expression names its lock with; it stands for a whole string literal,
/// quotes included: `ALERTS{alertstate="firing", lock={lock}}`.
pub const PLACEHOLDER: &str = "{lock}";

/// `text` as a PromQL double-quoted string literal (Go's rules). Lock names come from hosts, so
/// nothing in one may end the literal or start another token: `\` and `"` are escaped, and so
/// is every control or invisible character (a raw newline would end PromQL's string with an
/// error, and invisible ones would hide what the expression says when it is shown). Other
/// characters, non-ASCII included, stand for themselves, since PromQL strings are UTF-8.
pub fn promql_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '\\' => quoted.push_str("\\\\"),
            '"' => quoted.push_str("\\\""),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            // `\xHH` is a byte in Go's strings, so only ASCII may use it.
            c if c.is_ascii_control() => {
                let _ = write!(quoted, "\\x{:02x}", u32::from(c));
            }
            c if c.is_control() || is_invisible(c) => {
                let code = u32::from(c);
                if code <= 0xffff {
                    let _ = write!(quoted, "\\u{code:04x}");
                } else {
                    let _ = write!(quoted, "\\U{code:08x}");
                }
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

/// `expression` with every `{lock}` replaced by the lock's name as a string literal. One pass:
/// a name that itself contains `{lock}` is not expanded again.
pub fn expand(expression: &str, lock_name: &str) -> String {
    expression.replace(PLACEHOLDER, &promql_string(lock_name))
}

/// Characters that change how the text around them is shown while showing nothing themselves.
pub(super) fn is_invisible(c: char) -> bool {
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reads a literal back by Go's rules (the subset `promql_string` writes), and checks that
    /// the literal ends exactly at its closing quote.
    fn unquote(literal: &str) -> String {
        let inner = literal
            .strip_prefix('"')
            .and_then(|rest| rest.strip_suffix('"'))
            .expect("quoted");
        let mut text = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            assert_ne!(
                c, '"',
                "an unescaped quote ends the literal early: {literal}"
            );
            assert!(!c.is_control(), "a raw control character in {literal:?}");
            if c != '\\' {
                text.push(c);
                continue;
            }
            let hex = |chars: &mut std::str::Chars<'_>, n: usize| {
                let digits: String = chars.take(n).collect();
                char::from_u32(u32::from_str_radix(&digits, 16).expect("hex")).expect("char")
            };
            match chars.next().expect("escape") {
                '\\' => text.push('\\'),
                '"' => text.push('"'),
                'n' => text.push('\n'),
                'r' => text.push('\r'),
                't' => text.push('\t'),
                'x' => text.push(hex(&mut chars, 2)),
                'u' => text.push(hex(&mut chars, 4)),
                'U' => text.push(hex(&mut chars, 8)),
                other => panic!("unexpected escape \\{other}"),
            }
        }
        text
    }

    #[test]
    fn plain_names_are_quoted() {
        assert_eq!(promql_string("patching-web"), r#""patching-web""#);
        assert_eq!(promql_string(""), r#""""#);
    }

    #[test]
    fn a_name_cannot_leave_its_string() {
        let hostile = r#"x"} or vector(1) #"#;
        assert_eq!(promql_string(hostile), r#""x\"} or vector(1) #""#);
        assert_eq!(unquote(&promql_string(hostile)), hostile);
        assert_eq!(
            expand("ALERTS{lock={lock}}", hostile),
            r#"ALERTS{lock="x\"} or vector(1) #"}"#
        );
    }

    #[test]
    fn backslashes_and_controls_are_escaped() {
        assert_eq!(promql_string(r"a\b"), r#""a\\b""#);
        // A trailing backslash must not escape the closing quote.
        assert_eq!(promql_string(r"a\"), r#""a\\""#);
        assert_eq!(promql_string("a\nb\r\tc"), r#""a\nb\r\tc""#);
        assert_eq!(promql_string("\0\u{1b}\u{7f}"), r#""\x00\x1b\x7f""#);
        assert_eq!(promql_string("\u{85}\u{202e}"), r#""\u0085\u202e""#);
        assert_eq!(promql_string("\u{e0001}"), r#""\U000e0001""#);
    }

    #[test]
    fn non_ascii_stands_for_itself() {
        assert_eq!(promql_string("größe-東京-🔒"), "\"größe-東京-🔒\"");
    }

    #[test]
    fn every_name_reads_back_as_itself() {
        for name in [
            "plain",
            r#"x"} or vector(1) #"#,
            "a\\",
            "\\\"\\",
            "line\nbreak",
            "größe-東京-🔒",
            "\u{0}\u{1f}\u{7f}\u{80}\u{9f}\u{200b}\u{2028}\u{feff}\u{e007f}",
        ] {
            assert_eq!(unquote(&promql_string(name)), name, "{name:?}");
        }
    }

    #[test]
    fn every_placeholder_is_expanded_once() {
        assert_eq!(expand("a{lock} + b{lock}", "n"), r#"a"n" + b"n""#);
        assert_eq!(expand("count(ALERTS)", "n"), "count(ALERTS)");
        assert_eq!(expand("{lock}", "{lock}"), r#""{lock}""#);
        assert_eq!(
            expand("ALERTS{lock={lock}}", "a\nb"),
            r#"ALERTS{lock="a\nb"}"#
        );
    }
}
