//! The alert gate: whether Prometheus's alerts let a lock take a new holder.
//!
//! A lock's `block_on_alerts` is a PromQL expression; while it returns any sample, the lock
//! takes no new holder (a rolling reboot stops while the fleet is unwell, as kured does). The
//! gate fails closed: a Prometheus that cannot be asked blocks too, since granting a lock is
//! the step that cannot be taken back.

mod answer;
mod cache;
mod promql;
mod request;
#[cfg(test)]
mod tests;

use std::time::Duration;

pub use answer::parse_answer;
pub use promql::{expand, promql_string, PLACEHOLDER};

use crate::settings::PrometheusSettings;

/// Whether a lock may take a new holder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Why not, in words for the host: the firing alerts' names (or series), or why Prometheus
    /// could not be asked. Never empty.
    Blocked(Vec<String>),
}

impl Verdict {
    pub fn is_blocked(&self) -> bool {
        matches!(self, Verdict::Blocked(_))
    }
}

/// How a verdict was reached: the `result` label of `foreman_dlm_alert_gate_queries_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QueryResult {
    /// From the cache, or from a query another request had already started.
    Cached,
    /// Asked; the vector was empty.
    Quiet,
    /// Asked; the vector had samples.
    Firing,
    /// Asked, and there was no usable answer.
    Error,
}

impl QueryResult {
    /// Every label, so that each series exists (at 0) before its first query.
    pub const ALL: [QueryResult; 4] = [
        QueryResult::Cached,
        QueryResult::Quiet,
        QueryResult::Firing,
        QueryResult::Error,
    ];

    pub fn label(&self) -> &'static str {
        match self {
            QueryResult::Cached => "cached",
            QueryResult::Quiet => "quiet",
            QueryResult::Firing => "firing",
            QueryResult::Error => "error",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub verdict: Verdict,
    pub result: QueryResult,
}

/// Shared by every HTTP worker (it is `Send + Sync`), so that the cache and the coalescing of
/// queries hold for the whole service. [`AlertGate::check`]'s future is not `Send` (awc's
/// client is not): await it on the worker that serves the request.
pub struct AlertGate {
    target: request::Target,
    /// None with `cache_seconds = 0`.
    cache: Option<cache::Cache<Answer>>,
}

impl AlertGate {
    /// Reads the CA file now, so that an unusable one stops the service from starting rather
    /// than blocking every gated lock. The bearer token is read at each query instead.
    pub fn new(settings: &PrometheusSettings) -> Result<AlertGate, String> {
        settings.check()?;
        let cache = (settings.cache_seconds > 0).then(|| {
            cache::Cache::new(Duration::from_secs(settings.cache_seconds), cache::CAPACITY)
        });
        Ok(AlertGate {
            target: request::Target::new(settings)?,
            cache,
        })
    }

    /// Whether `lock_name` may take a new holder under `expression` (its `block_on_alerts`).
    /// Call it only when a holder would otherwise be granted: each call may cost a query.
    pub async fn check(&self, expression: &str, lock_name: &str) -> Answer {
        let expanded = expand(expression, lock_name);
        let Some(cache) = &self.cache else {
            return self.ask(&expanded).await;
        };
        let (answer, asked) = cache.get_or_ask(&expanded, || self.ask(&expanded)).await;
        if asked {
            return answer;
        }
        Answer {
            verdict: answer.verdict,
            result: QueryResult::Cached,
        }
    }

    async fn ask(&self, expanded: &str) -> Answer {
        match self.target.ask(expanded).await {
            Ok(Verdict::Pass) => Answer {
                verdict: Verdict::Pass,
                result: QueryResult::Quiet,
            },
            Ok(verdict) => Answer {
                verdict,
                result: QueryResult::Firing,
            },
            Err(why) => {
                let why = answer::plain(&why, 300);
                log::warn!("alert gate: Prometheus could not be asked for {expanded:?}: {why}");
                Answer {
                    verdict: Verdict::Blocked(vec![format!(
                        "Prometheus could not be asked: {why}"
                    )]),
                    result: QueryResult::Error,
                }
            }
        }
    }
}
