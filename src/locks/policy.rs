//! Lock policies: how many hosts may hold a lock at once, how long a holder's lease lasts without
//! a refresh, and when new holders may start (maintenance windows).
//!
//! These types are parsed once, where values enter (settings, the admin API), so everything past
//! that point holds only valid policies. PostgreSQL evaluates them (see the `foreman_dlm_*`
//! functions in `storage/sql/functions`): the acquire statement decides inside its own
//! transaction, and the time zone rules are the database server's, the same for every instance
//! of an HA pair.

use std::fmt;

use serde::{Deserialize, Serialize};

mod window;
pub use window::{TimeOfDay, Window, DAY_NAMES};

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
    pub on_lease_expiry: LeaseExpiry,
    /// A freed slot is given out again only this long after it was freed.
    pub cooldown_seconds: i32,
    /// A PromQL expression: while it returns any sample, no new holder.
    pub block_on_alerts: Option<String>,
}

impl Default for Policy {
    /// The plugin's behaviour (one holder, no lease, no window), and a lapsed lease halts.
    fn default() -> Policy {
        Policy {
            max_holders: 1,
            lease_seconds: None,
            windows: Vec::new(),
            on_lease_expiry: LeaseExpiry::Halt,
            cooldown_seconds: 0,
            block_on_alerts: None,
        }
    }
}

/// What a lapsed lease does besides freeing the slot. A host that stops refreshing may have
/// failed its update, so by default the lock halts: the next node must not start the same bad
/// update (kured's lock TTL walks a failure through a cluster exactly this way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaseExpiry {
    Halt,
    Release,
}

impl LeaseExpiry {
    pub fn as_str(self) -> &'static str {
        match self {
            LeaseExpiry::Halt => "halt",
            LeaseExpiry::Release => "release",
        }
    }

    pub fn parse(text: &str) -> Option<LeaseExpiry> {
        match text {
            "halt" => Some(LeaseExpiry::Halt),
            "release" => Some(LeaseExpiry::Release),
            _ => None,
        }
    }
}

/// The longest `block_on_alerts` accepted: an alert selector is a line, not a program.
pub const MAX_ALERT_EXPRESSION_CHARS: usize = 2000;

/// Why an alert expression is refused, if it is; a valid PromQL is Prometheus's to judge (its
/// parse error then blocks, and says why).
pub fn alert_expression_problem(expression: &str) -> Option<String> {
    if expression.trim().is_empty() {
        Some("must not be blank (use null for no gate)".into())
    } else if expression.chars().count() > MAX_ALERT_EXPRESSION_CHARS {
        Some(format!(
            "is too long (maximum is {MAX_ALERT_EXPRESSION_CHARS} characters)"
        ))
    } else if expression
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\t')
    {
        Some("must not contain control characters".into())
    } else {
        None
    }
}

/// What an admin sets on one lock; `None` leaves a value as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyChanges {
    pub max_holders: Option<i32>,
    /// `Some(None)`: no lease, even where a settings pattern gives one.
    pub lease_seconds: Option<Option<i32>>,
    pub windows: Option<Vec<Window>>,
    pub on_lease_expiry: Option<LeaseExpiry>,
    pub cooldown_seconds: Option<i32>,
    /// `Some(None)`: no gate, even where a settings pattern gives one.
    pub block_on_alerts: Option<Option<String>>,
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
        if self.cooldown_seconds.is_some_and(|n| n < 0) {
            errors.push((
                "cooldown_seconds",
                "must be greater than or equal to 0".into(),
            ));
        }
        if let Some(problem) = self
            .block_on_alerts
            .as_ref()
            .and_then(|e| e.as_deref().and_then(alert_expression_problem))
        {
            errors.push(("block_on_alerts", problem));
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_lease_expiry: Option<LeaseExpiry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cooldown_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_on_alerts: Option<String>,
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
        if self
            .cooldown_seconds
            .is_some_and(|n| i32::try_from(n).is_err())
        {
            return Err(PolicyError(format!(
                "locks.policies (match = {:?}): cooldown_seconds must be at most {}",
                self.pattern.as_str(),
                i32::MAX
            )));
        }
        if let Some(problem) = self
            .block_on_alerts
            .as_deref()
            .and_then(alert_expression_problem)
        {
            return Err(PolicyError(format!(
                "locks.policies (match = {:?}): block_on_alerts {problem}",
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
            None | Some([]) => write!(f, ", any time")?,
            Some(windows) => {
                let shown: Vec<String> = windows.iter().map(Window::to_string).collect();
                write!(f, ", new holders only {}", shown.join(" or "))?
            }
        }
        if self.lease_seconds.is_some() {
            match self.on_lease_expiry.unwrap_or(LeaseExpiry::Halt) {
                LeaseExpiry::Halt => write!(f, "; a lapsed lease halts the lock")?,
                LeaseExpiry::Release => write!(f, "; a lapsed lease only frees the slot")?,
            }
        }
        if let Some(seconds) = self.cooldown_seconds.filter(|s| *s > 0) {
            write!(
                f,
                "; {seconds}s between one holder leaving and the next starting"
            )?;
        }
        if let Some(expression) = &self.block_on_alerts {
            write!(
                f,
                "; no new holder while Prometheus returns samples for {expression}"
            )?;
        }
        Ok(())
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
