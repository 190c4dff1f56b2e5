//! Maintenance windows: when new holders may start.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::PolicyError;

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
