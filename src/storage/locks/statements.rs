//! The lock statements, assembled once at start-up from the `.sql` files and the settings.
//!
//! They depend on the settings twice: the `[[locks.policies]]` patterns become `CASE` expressions
//! on the lock name (so the database resolves a lock's policy where it decides), and the opt-out
//! parameter's known values become JSON arrays. Each statement is built once and prepared once per
//! connection; the statement cache keys prepared statements by this text.

use crate::locks::policy::{LeaseExpiry, PolicyPattern};
use crate::storage::sql::{compact, fill};

/// Transaction-scoped advisory lock key for the lease sweep ("fmdlswp" in ASCII).
const SWEEP_KEY: i64 = 0x0066_6d64_6c73_7770;

/// Which column a certificate's subject is looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostLookup {
    /// Puppet: `hosts.certname`, then `hosts.name`.
    Certname,
    /// Katello: `katello_subscription_facets.uuid`.
    ConsumerUuid,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOperation {
    Show,
    /// `opt_out_verdict`: the application's decision on a parameter value the statement returned
    /// unclassified; `gate_verdict`: the alert gate's answer for a lock that asked for it
    /// (`true`: no alerts). `None` on the first try.
    Acquire {
        opt_out_verdict: Option<bool>,
        gate_verdict: Option<bool>,
    },
    Release,
}

/// Where the opt-out parameter's values come from: its name, and the stored values (YAML, as
/// Foreman writes them) that the domain's cast rules classify, so that the statement decides the
/// common cases itself. Any other value comes back undecided.
pub struct OptOutRule<'a> {
    pub parameter: &'a str,
    pub allowed: &'a [String],
    pub denied: &'a [String],
}

/// What one host may do to the locks table (`limits.locks_*`); 0 = no limit.
pub struct HostLimits {
    pub created_per_hour: u32,
    pub held: u32,
}

/// Every statement whose text depends on the settings.
pub struct LockStatements {
    /// By operation (show, acquire, release), then lookup (certname, consumer uuid).
    host: [[&'static str; 2]; 3],
    /// A lock by id ($2) or name ($3) at clock $1.
    pub(super) find: &'static str,
    /// [`LOCK_COLUMNS`] with the policy filled in and `{now}` left to fill.
    lock_columns: String,
    policy: PolicyExpressions,
    pub(super) update: &'static str,
    pub(super) release_holder: &'static str,
    pub(super) sweep: &'static str,
    /// The metrics' summary of the locks table ($1 clock, $2 stale hours).
    pub(super) overview: &'static str,
}

/// `{now}` for a statement whose clock is `$n`: the test clock when one is set, else the
/// database's (one clock for every instance of an HA pair).
fn clock(n: usize) -> String {
    clock_of(&format!("${n}"))
}

pub(super) fn clock_of(placeholder: &str) -> String {
    format!("COALESCE({placeholder}::timestamp, now() AT TIME ZONE 'UTC')")
}

/// The columns every statement that returns a lock ends with (see `LockRow`), for a lock `l`.
const LOCK_COLUMNS: &str = "l.id, l.name, l.type AS lock_type, l.enabled, l.created_at, \
     l.updated_at, {max_holders} AS max_holders, {lease_seconds} AS lease_seconds, \
     ({windows})::text AS windows, \
     foreman_dlm_holders_json(l.id, l.host_id, l.updated_at, {lease_seconds}, {now}) AS holders, \
     {on_lease_expiry} AS on_lease_expiry, {cooldown_seconds} AS cooldown_seconds, \
     {block_on_alerts} AS block_on_alerts, foreman_dlm_halt_json(l.id) AS halt";

/// The FROM clause that [`LOCK_COLUMNS`] expects.
pub(super) const LOCKS_WITH_POLICIES: &str =
    "dlmlocks l LEFT JOIN foreman_dlm_lock_policies p ON p.dlmlock_id = l.id";

/// The name a host request's lock has (or gets, when the request creates it): the lock with id
/// $2 if there is one, else $3; the function below finds the lock the same way.
const HOST_REQUEST_LOCK_NAME: &str =
    "COALESCE((SELECT x.name FROM dlmlocks x WHERE x.id = $2), $3)";

impl LockStatements {
    pub fn new(
        opt_out: &OptOutRule<'_>,
        patterns: &[PolicyPattern],
        limits: &HostLimits,
    ) -> LockStatements {
        let policy = PolicyExpressions::new(patterns, "l.name");
        // Two passes: the fixed fragments first, then the clock and the policy expressions, which
        // carry text from the settings and so are never searched for placeholders again.
        let build = |template: &str, clock_at: usize| {
            let structure = fill(
                template,
                &[
                    ("find_lock", include_str!("sql/find_lock.sql").trim_end()),
                    ("lock_columns", LOCK_COLUMNS),
                    (
                        "holders_before",
                        include_str!("sql/holders_before.sql").trim_end(),
                    ),
                ],
            );
            leak(compact(&fill(
                &structure,
                &[
                    ("now", &clock(clock_at)),
                    ("sweep_key", &SWEEP_KEY.to_string()),
                    ("max_holders", &policy.max_holders),
                    ("lease_seconds", &policy.lease_seconds),
                    ("windows", &policy.windows),
                    ("on_lease_expiry", &policy.on_lease_expiry),
                    ("cooldown_seconds", &policy.cooldown_seconds),
                    ("block_on_alerts", &policy.block_on_alerts),
                ],
            )))
        };
        let host = host_statements(opt_out, patterns, limits);
        let find = format!(
            "SELECT {{lock_columns}} FROM {LOCKS_WITH_POLICIES} WHERE l.id = {{find_lock}}"
        );
        LockStatements {
            host,
            find: build(&find, 1),
            lock_columns: fill(
                LOCK_COLUMNS,
                &[
                    ("max_holders", &policy.max_holders),
                    ("lease_seconds", &policy.lease_seconds),
                    ("windows", &policy.windows),
                    ("on_lease_expiry", &policy.on_lease_expiry),
                    ("cooldown_seconds", &policy.cooldown_seconds),
                    ("block_on_alerts", &policy.block_on_alerts),
                ],
            ),
            update: build(include_str!("sql/update.sql"), 11),
            release_holder: build(include_str!("sql/release_holder.sql"), 4),
            sweep: build(include_str!("sql/sweep_leases.sql"), 1),
            overview: build(include_str!("sql/overview.sql"), 1),
            policy,
        }
    }

    /// The select list of a lock aliased `l` (with its policy row `p`) for a statement whose
    /// clock is `now` (a placeholder such as `$4`).
    pub(super) fn lock_columns(&self, now: &str) -> String {
        fill(&self.lock_columns, &[("now", &clock_of(now))])
    }

    /// A subquery of the live holders of the lock `l`, named `alias`, at clock `now`.
    pub(super) fn live_holders(&self, alias: &str, now: &str) -> String {
        format!(
            "(SELECT * FROM foreman_dlm_holders(l.id, l.host_id, l.updated_at, {}) x \
             WHERE x.expires_at IS NULL OR x.expires_at > {}) {alias}",
            self.policy.lease_seconds,
            clock_of(now)
        )
    }

    /// The lock `l`'s `max_holders`, as SQL over it and its policy row `p`.
    pub(super) fn max_holders(&self) -> &str {
        &self.policy.max_holders
    }

    /// "now" for a statement whose clock is the placeholder `now`.
    pub(super) fn clock_of(&self, now: &str) -> String {
        clock_of(now)
    }

    /// The statement text a host request runs; the benchmark's pgbench script uses the same.
    /// Its parameters: $1 the certificate's subject, $2 the lock id, $3 the lock name, $4 the
    /// opt-out verdict, $5 the test clock (NULL: the database's), $6 the alert gate's verdict
    /// (NULL: not asked) and $7 the expression it answers.
    pub fn host_request(&self, operation: HostOperation, lookup: HostLookup) -> &'static str {
        let by_operation = match operation {
            HostOperation::Show => &self.host[0],
            HostOperation::Acquire { .. } => &self.host[1],
            HostOperation::Release => &self.host[2],
        };
        match lookup {
            HostLookup::Certname => by_operation[0],
            HostLookup::ConsumerUuid => by_operation[1],
        }
    }
}

/// The host statements: one call of `foreman_dlm_host_request_v3` (`sql/functions/`), which does
/// all of a request's work, with the settings' part of the lock's policy, the opt-out rules and
/// the host limits as constants. With patterns, the policy is resolved from the name of the lock
/// the request is about; without, it is the default.
fn host_statements(
    opt_out: &OptOutRule<'_>,
    patterns: &[PolicyPattern],
    limits: &HostLimits,
) -> [[&'static str; 2]; 3] {
    let by_name = PolicyExpressions::new(patterns, "n.name");
    let json = |values: &[String]| {
        let array = serde_json::to_string(values).unwrap_or_else(|_| "[]".into());
        format!("{}::jsonb", quote(&array))
    };
    let (allowed, denied) = (json(opt_out.allowed), json(opt_out.denied));
    let parameter = quote(opt_out.parameter);
    let call = |operation: &str, lookup: &str| {
        let function = format!(
            "foreman_dlm_host_request_v3({}, {}, $1, $2, $3, $4, $5, {}, {}, {}, {parameter}, \
             {allowed}, {denied}, {}, {}, {}, {}, {}, $6, $7, true)",
            quote(operation),
            quote(lookup),
            by_name.pattern_max_holders,
            by_name.pattern_lease_seconds,
            by_name.pattern_windows,
            limits.created_per_hour,
            limits.held,
            by_name.pattern_on_lease_expiry,
            by_name.pattern_cooldown_seconds,
            by_name.pattern_block_on_alerts,
        );
        leak(if patterns.is_empty() {
            format!("SELECT r.* FROM {function} r")
        } else {
            format!(
                "SELECT r.* FROM (SELECT {HOST_REQUEST_LOCK_NAME} AS name) n \
                 CROSS JOIN LATERAL {function} r"
            )
        })
    };
    ["show", "acquire", "release"].map(|operation| {
        [
            call(operation, "certname"),
            call(operation, "consumer_uuid"),
        ]
    })
}

/// Built once per process (the service keeps one set), and borrowed by every request.
fn leak(text: String) -> &'static str {
    Box::leak(text.into_boxed_str())
}

/// A lock's policy as SQL over its name and its policy row `p`: the value set on the lock, else
/// the first matching pattern's, else the default.
struct PolicyExpressions {
    max_holders: String,
    lease_seconds: String,
    windows: String,
    on_lease_expiry: String,
    cooldown_seconds: String,
    block_on_alerts: String,
    /// The settings' part alone (no policy row): what a host request passes on.
    pattern_max_holders: String,
    pattern_lease_seconds: String,
    pattern_windows: String,
    pattern_on_lease_expiry: String,
    pattern_cooldown_seconds: String,
    pattern_block_on_alerts: String,
}

impl PolicyExpressions {
    /// `name`: the SQL expression of the lock's name (`l.name`).
    fn new(patterns: &[PolicyPattern], name: &str) -> PolicyExpressions {
        let by_pattern = |value: &dyn Fn(&PolicyPattern) -> String, default: &str| {
            if patterns.is_empty() {
                return default.to_string();
            }
            let arms: Vec<String> = patterns
                .iter()
                .map(|p| {
                    format!(
                        "WHEN {name} LIKE {} ESCAPE '\\' THEN {}",
                        quote(&p.pattern.to_like()),
                        value(p)
                    )
                })
                .collect();
            format!("CASE {} ELSE {default} END", arms.join(" "))
        };
        let max = by_pattern(&|p| p.max_holders.unwrap_or(1).to_string(), "1");
        let lease = by_pattern(&|p| p.lease_seconds.unwrap_or(0).to_string(), "0");
        let windows = by_pattern(
            &|p| {
                let json = serde_json::to_string(p.windows.as_deref().unwrap_or_default())
                    .unwrap_or_else(|_| "[]".into());
                format!("{}::jsonb", quote(&json))
            },
            "'[]'::jsonb",
        );
        let on_expiry = by_pattern(
            &|p| quote(p.on_lease_expiry.unwrap_or(LeaseExpiry::Halt).as_str()),
            "'halt'",
        );
        let cooldown = by_pattern(&|p| p.cooldown_seconds.unwrap_or(0).to_string(), "0");
        let gate = by_pattern(
            &|p| {
                p.block_on_alerts
                    .as_deref()
                    .map_or("NULL::text".into(), quote)
            },
            "NULL::text",
        );
        PolicyExpressions {
            max_holders: format!("COALESCE(p.max_holders, {max})"),
            // 0 stores "no lease" (set explicitly, or no pattern gives one).
            lease_seconds: format!("NULLIF(COALESCE(p.lease_seconds, {lease}), 0)"),
            windows: format!("COALESCE(p.windows, {windows})"),
            on_lease_expiry: format!("COALESCE(p.on_lease_expiry, {on_expiry})"),
            cooldown_seconds: format!("COALESCE(p.cooldown_seconds, {cooldown})"),
            // '' on the lock stores "no gate", even where a pattern gives one.
            block_on_alerts: format!("NULLIF(COALESCE(p.block_on_alerts, {gate}), '')"),
            pattern_max_holders: max,
            pattern_lease_seconds: lease,
            pattern_windows: windows,
            pattern_on_lease_expiry: on_expiry,
            pattern_cooldown_seconds: cooldown,
            pattern_block_on_alerts: gate,
        }
    }
}

/// A SQL string literal.
fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_become_case_expressions_in_order() {
        let patterns: Vec<PolicyPattern> = toml::from_str::<toml::Table>(
            r#"
            [[p]]
            match = "web-*"
            max_holders = 3
            lease_seconds = 7200
            [[p]]
            match = "it's_*"
            windows = [{ start = "22:00", end = "04:00" }]
            "#,
        )
        .ok()
        .and_then(|t| t.get("p").cloned())
        .and_then(|p| p.try_into().ok())
        .unwrap_or_default();
        assert_eq!(patterns.len(), 2);
        let e = PolicyExpressions::new(&patterns, "l.name");
        assert_eq!(
            e.max_holders,
            "COALESCE(p.max_holders, CASE WHEN l.name LIKE 'web-%' ESCAPE '\\' THEN 3 \
             WHEN l.name LIKE 'it''s\\_%' ESCAPE '\\' THEN 1 ELSE 1 END)"
        );
        assert!(e.lease_seconds.contains("THEN 7200 WHEN"));
        assert!(e.windows.contains(
            "'[{\"days\":[],\"start\":\"22:00\",\"end\":\"04:00\",\"time_zone\":\"UTC\"}]'::jsonb"
        ));
        let plain = PolicyExpressions::new(&[], "l.name");
        assert_eq!(plain.max_holders, "COALESCE(p.max_holders, 1)");
        assert_eq!(
            plain.lease_seconds,
            "NULLIF(COALESCE(p.lease_seconds, 0), 0)"
        );
    }
}
