//! The alert gate from the lock domain's side: a gated lock's grant waits for Prometheus's
//! answer, which the database cannot ask itself (see `foreman_dlm_host_request_v3`).

use super::{LockError, LockManager};
use crate::alerts::{AlertGate, Verdict};
use crate::storage::locks::host_requests::HostRequestRow;

/// Called with how each answer was reached (`cached`, `quiet`, `firing`, `error`), for
/// `foreman_dlm_alert_gate_queries_total`.
pub type GateObserver = Box<dyn Fn(&'static str) + Send + Sync>;

/// What the gate said for one acquire.
pub(super) struct GateAnswer {
    /// The expression answered: the database asks again if the lock's changed meanwhile.
    pub expression: String,
    pub pass: bool,
    /// Why not, for the refusal: the alerts, or why Prometheus could not be asked.
    pub blocked_by: Vec<String>,
}

impl LockManager {
    /// Asks `gate` for locks with `block_on_alerts`; without a gate, such locks take no new
    /// holder (the gate fails closed).
    pub fn with_alert_gate(mut self, gate: Option<AlertGate>, observe: GateObserver) -> Self {
        self.alert_gate = gate;
        self.gate_observer = Some(observe);
        self
    }

    pub(super) async fn ask_alert_gate(
        &self,
        row: &HostRequestRow,
    ) -> Result<GateAnswer, LockError> {
        let lock = row
            .lock()?
            .ok_or_else(|| LockError::Internal("the alert gate was asked without a lock".into()))?;
        let Some(expression) = lock.policy.block_on_alerts else {
            return Err(LockError::Internal(format!(
                "lock {} asked for its alert gate without an expression",
                lock.id
            )));
        };
        let (result, verdict) = match &self.alert_gate {
            None => (
                "error",
                Verdict::Blocked(vec![
                    "Prometheus could not be asked: the settings have no [prometheus] url".into(),
                ]),
            ),
            Some(gate) => {
                let answer = gate.check(&expression, &lock.name).await;
                (answer.result.label(), answer.verdict)
            }
        };
        if let Some(observe) = &self.gate_observer {
            observe(result);
        }
        Ok(match verdict {
            Verdict::Pass => GateAnswer {
                expression,
                pass: true,
                blocked_by: Vec::new(),
            },
            Verdict::Blocked(blocked_by) => GateAnswer {
                expression,
                pass: false,
                blocked_by,
            },
        })
    }
}
