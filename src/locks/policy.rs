//! Lock policies: how many hosts may hold a lock at once, how long a holder's lease lasts without
//! a refresh, and when new holders may start (maintenance windows).
//!
//! These types are parsed once, where values enter (settings, the admin API), so everything past
//! that point holds only valid policies. PostgreSQL evaluates them (see the `foreman_dlm_*`
//! functions in `storage/sql/functions`): the acquire statement decides inside its own transaction, and the
//! time zone rules are the database server's, the same for every instance of an HA pair.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A day a window may open on, as `days` names it.
pub const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// A maintenance window: new holders only while it is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "RawWindow")]
pub struct Window {
    /// Lowercase day names; empty = every day.
    pub days: Vec<String>,
    pub start: TimeOfDay,
    /// At or before `start`: the window runs past midnight into the next day.
    pub end: TimeOfDay,
    /// An IANA name. Its existence is checked against the database's zone list, which is the one
    /// that evaluates it.
    pub time_zone: String,
}

/// A window as it arrives, before its fields are checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWindow {
    #[serde(default)]
    days: Option<Vec<String>>,
    start: String,
    end: String,
    #[serde(default)]
    time_zone: Option<String>,
}

impl TryFrom<RawWindow> for Window {
    type Error = PolicyError;

    fn try_from(raw: RawWindow) -> Result<Window, PolicyError> {
        let mut days = Vec::new();
        for day in raw.days.unwrap_or_default() {
            let lower = day.to_ascii_lowercase();
            if !DAY_NAMES.contains(&lower.as_str()) {
                return Err(PolicyError(format!(
                    "unknown day {day:?}; use {}",
                    DAY_NAMES.join(", ")
                )));
            }
            if !days.contains(&lower) {
                days.push(lower);
            }
        }
        let time_zone = raw.time_zone.unwrap_or_else(|| "UTC".to_string());
        let plausible = !time_zone.is_empty()
            && time_zone.len() <= 64
            && time_zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c));
        if !plausible {
            return Err(PolicyError(format!(
                "time_zone {time_zone:?} is not an IANA time zone name such as Europe/Berlin"
            )));
        }
        Ok(Window {
            days,
            start: TimeOfDay::parse("start", &raw.start)?,
            end: TimeOfDay::parse("end", &raw.end)?,
            time_zone,
        })
    }
}

/// `HH:MM` on a 24-hour clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeOfDay {
    hour: u8,
    minute: u8,
}

impl TimeOfDay {
    fn parse(field: &str, text: &str) -> Result<TimeOfDay, PolicyError> {
        let invalid = || {
            PolicyError(format!(
                "{field} must be HH:MM (00:00 to 23:59), not {text:?}"
            ))
        };
        let (hour, minute) = text.split_once(':').ok_or_else(invalid)?;
        let two_digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !two_digits(hour) || !two_digits(minute) {
            return Err(invalid());
        }
        let hour: u8 = hour.parse().map_err(|_| invalid())?;
        let minute: u8 = minute.parse().map_err(|_| invalid())?;
        if hour > 23 || minute > 59 {
            return Err(invalid());
        }
        Ok(TimeOfDay { hour, minute })
    }
}

impl fmt::Display for TimeOfDay {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:02}:{:02}", self.hour, self.minute)
    }
}

impl Serialize for TimeOfDay {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for TimeOfDay {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<TimeOfDay, D::Error> {
        let text = String::deserialize(d)?;
        TimeOfDay::parse("time", &text).map_err(serde::de::Error::custom)
    }
}

/// Why a policy value is refused; the text is for the client or the operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError(pub String);

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The policy in force for a lock, whichever source each value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub max_holders: i32,
    /// `None`: holders keep their slot until they release it.
    pub lease_seconds: Option<i32>,
    /// Empty: always open.
    pub windows: Vec<Window>,
}

impl Default for Policy {
    /// The plugin's behaviour: one holder, no lease, no window.
    fn default() -> Policy {
        Policy {
            max_holders: 1,
            lease_seconds: None,
            windows: Vec::new(),
        }
    }
}

/// What an admin sets on one lock; `None` leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChanges {
    pub max_holders: Option<i32>,
    /// `Some(None)`: no lease, even where a settings pattern gives one.
    pub lease_seconds: Option<Option<i32>>,
    pub windows: Option<Vec<Window>>,
}

impl PolicyChanges {
    pub fn is_empty(&self) -> bool {
        self == &PolicyChanges::default()
    }

    /// The API's bounds: at least one holder, a lease of at least a second, at most
    /// `max_windows` windows (`limits.windows_per_lock`: more say nothing a site needs, and each
    /// costs the acquire statement time).
    pub fn check(&self, max_windows: usize) -> Vec<(&'static str, String)> {
        let mut errors = Vec::new();
        if self.max_holders.is_some_and(|n| n < 1) {
            errors.push(("max_holders", "must be greater than or equal to 1".into()));
        }
        if self.lease_seconds.flatten().is_some_and(|n| n < 1) {
            errors.push(("lease_seconds", "must be greater than or equal to 1".into()));
        }
        if self.windows.as_ref().is_some_and(|w| w.len() > max_windows) {
            errors.push((
                "windows",
                format!("has too many entries (maximum is {max_windows})"),
            ));
        }
        errors
    }

    /// The distinct time zones the windows name, for one check against the database.
    pub fn time_zones(&self) -> Vec<String> {
        distinct_zones(self.windows.iter().flatten())
    }
}

/// `[[locks.policies]]`: defaults for the locks whose names match `match`; the first entry that
/// matches wins, and a value set on a lock through the API wins over it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyPattern {
    #[serde(rename = "match")]
    pub pattern: NamePattern,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_holders: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub windows: Option<Vec<Window>>,
}

impl PolicyPattern {
    /// The bounds the API applies, for values from the settings file.
    pub fn check(&self, max_windows: usize) -> Result<(), PolicyError> {
        let out_of_range = |key: &str| {
            PolicyError(format!(
                "locks.policies (match = {:?}): {key} must be between 1 and {}",
                self.pattern.as_str(),
                i32::MAX
            ))
        };
        let in_range = |n: u32| n >= 1 && i32::try_from(n).is_ok();
        if self.max_holders.is_some_and(|n| !in_range(n)) {
            return Err(out_of_range("max_holders"));
        }
        if self.lease_seconds.is_some_and(|n| !in_range(n)) {
            return Err(out_of_range("lease_seconds"));
        }
        if self.windows.as_ref().is_some_and(|w| w.len() > max_windows) {
            return Err(PolicyError(format!(
                "locks.policies (match = {:?}): at most {max_windows} windows \
                 (limits.windows_per_lock)",
                self.pattern.as_str()
            )));
        }
        Ok(())
    }
}

/// The distinct time zones the patterns' windows name, for one check against the database.
pub fn pattern_time_zones(patterns: &[PolicyPattern]) -> Vec<String> {
    distinct_zones(patterns.iter().flat_map(|p| p.windows.iter().flatten()))
}

fn distinct_zones<'a>(windows: impl Iterator<Item = &'a Window>) -> Vec<String> {
    let mut zones: Vec<String> = windows.map(|w| w.time_zone.clone()).collect();
    zones.sort();
    zones.dedup();
    zones
}

/// In words, the first of `unknown` zones and the pattern that names it; `None` when none is.
pub fn unknown_pattern_time_zone(patterns: &[PolicyPattern], unknown: &[String]) -> Option<String> {
    let zone = unknown.first()?;
    let pattern = patterns
        .iter()
        .find(|p| p.windows.iter().flatten().any(|w| &w.time_zone == zone))
        .map_or("?", |p| p.pattern.as_str());
    Some(format!(
        "locks.policies (match = {pattern:?}): the database knows no time zone {zone:?}"
    ))
}

impl fmt::Display for PolicyPattern {
    /// In plain words, for `check-config`: "web-* → 3 holders at a time, …".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let holders = self.max_holders.unwrap_or(1);
        write!(
            f,
            "{} → {holders} holder{} at a time",
            self.pattern.as_str(),
            if holders == 1 { "" } else { "s" }
        )?;
        match self.lease_seconds {
            Some(seconds) => write!(f, ", a lease of {seconds}s")?,
            None => write!(f, ", no lease")?,
        }
        match self.windows.as_deref() {
            None | Some([]) => write!(f, ", any time"),
            Some(windows) => {
                let shown: Vec<String> = windows.iter().map(Window::to_string).collect();
                write!(f, ", new holders only {}", shown.join(" or "))
            }
        }
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = if self.days.is_empty() {
            "every day".to_string()
        } else {
            self.days.join(",")
        };
        write!(f, "{days} {}–{} {}", self.start, self.end, self.time_zone)
    }
}

/// A glob on lock names: `*` is any run of characters, `?` any one character, everything else
/// itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NamePattern(String);

impl NamePattern {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The same pattern for SQL's `LIKE … ESCAPE '\'`.
    pub fn to_like(&self) -> String {
        let mut like = String::with_capacity(self.0.len());
        for c in self.0.chars() {
            match c {
                '*' => like.push('%'),
                '?' => like.push('_'),
                '%' | '_' | '\\' => {
                    like.push('\\');
                    like.push(c);
                }
                other => like.push(other),
            }
        }
        like
    }
}

impl TryFrom<String> for NamePattern {
    type Error = PolicyError;

    fn try_from(text: String) -> Result<NamePattern, PolicyError> {
        if text.is_empty() || text.chars().any(char::is_control) {
            return Err(PolicyError(format!(
                "match = {text:?} must be a non-empty glob without control characters"
            )));
        }
        Ok(NamePattern(text))
    }
}

impl From<NamePattern> for String {
    fn from(p: NamePattern) -> String {
        p.0
    }
}

#[cfg(test)]
mod tests;
