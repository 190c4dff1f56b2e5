//! The clock lock policies run on. In production it is the database's (`None` here): every
//! instance of an HA pair then agrees on when a lease ends and a window opens.
//!
//! Debug builds have one seam for tests: `FOREMAN_DLM_TEST_CLOCK_FILE` names a file holding an
//! RFC 3339 instant, read on every use, which then stands in for "now" in every lock statement.
//! Tests move through midnight and daylight-saving changes by rewriting the file instead of
//! sleeping for hours. Release builds compile this to `None` and read no variable.

use chrono::NaiveDateTime;

#[cfg(debug_assertions)]
pub fn test_now() -> Option<NaiveDateTime> {
    let path = std::env::var_os("FOREMAN_DLM_TEST_CLOCK_FILE")?;
    let text = std::fs::read_to_string(path).ok()?;
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .ok()
        .map(|at| at.naive_utc())
}

#[cfg(not(debug_assertions))]
pub fn test_now() -> Option<NaiveDateTime> {
    None
}
