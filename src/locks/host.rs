//! A host's own requests: show, acquire and release, one statement each (see
//! `storage::locks::host_requests`), and what their outcomes mean.

use super::gate::GateAnswer;
use super::model::{Lock, Refusal, RefusalDetails};
use super::{opt_out, LockError, LockManager, LockRef, OPT_OUT_PARAMETER};
use crate::clock;
use crate::identity::{CertificateKind, HostCertificate};
use crate::storage::catalog;
use crate::storage::locks::host_requests::{self, HostRequest, HostRequestRow};
use crate::storage::locks::statements::{HostLookup, HostOperation};
use crate::storage::Conn;

/// A host's request answered: who asked (as Foreman knows the host), what happened, and the
/// lock afterwards.
#[derive(Debug, Clone)]
pub struct HostAnswer {
    pub caller: Caller,
    pub outcome: HostOutcome,
    pub lock: Lock,
}

/// What a host's successful request did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostOutcome {
    Shown,
    /// The host became a holder.
    Granted,
    /// The host held a slot already; its lease starts again.
    Refreshed,
    Released,
    /// A release by a host that held nothing: nothing to give back.
    NotHeld,
}

/// The Foreman host a certificate identified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub id: i32,
    pub name: String,
}

impl LockManager {
    /// GET by a host: never creates a lock.
    pub async fn show_for_host(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.conn().await?;
        let (caller, row) = self
            .host_request(&mut conn, certificate, lock, HostOperation::Show, None)
            .await?;
        match row.lock()? {
            Some(found) => Ok(HostAnswer {
                caller,
                outcome: HostOutcome::Shown,
                lock: found,
            }),
            None => Err(LockError::NotFound(lock.as_str().to_string())),
        }
    }

    /// PUT by a host: take a slot (or refresh the one it has); the statement creates a missing
    /// lock, as the plugin does.
    pub async fn acquire(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.change_conn().await?;
        let mut verdict = None;
        let mut gate: Option<GateAnswer> = None;
        // A few passes at most: the first may leave an unusual opt-out value to us, a gated
        // lock's grant waits for the alert gate's answer, and an admin may change the lock's
        // expression in between (the database then asks again).
        for _ in 0..4 {
            let operation = HostOperation::Acquire {
                opt_out_verdict: verdict,
                gate_verdict: gate.as_ref().map(|g| g.pass),
            };
            let expression = gate.as_ref().map(|g| g.expression.as_str());
            let (caller, row) = self
                .host_request(&mut conn, certificate, lock, operation, expression)
                .await?;
            let Some(allowed) = row.allowed else {
                verdict = Some(opt_out::may_acquire(row.opt_out_value.as_deref()));
                continue;
            };
            if row.outcome.as_deref() == Some("ask_gate") {
                // Prometheus may take seconds: the connection goes back to the pool meanwhile.
                drop(conn);
                gate = Some(self.ask_alert_gate(&row).await?);
                conn = self.change_conn().await?;
                continue;
            }
            if !allowed {
                log::info!(
                    "host {} may not acquire update locks ({OPT_OUT_PARAMETER})",
                    caller.name
                );
            }
            let blocked_by = gate.map(|g| g.blocked_by).unwrap_or_default();
            return answer(caller, &row, blocked_by);
        }
        Err(LockError::Internal(format!(
            "acquiring {:?} did not settle",
            lock.as_str()
        )))
    }

    /// DELETE by a host: give its slot back. Releasing a lock one does not hold succeeds (with one
    /// holder allowed: when the lock is free); a missing lock is created free, as the plugin does.
    pub async fn release(
        &self,
        certificate: &HostCertificate,
        lock: &LockRef,
    ) -> Result<HostAnswer, LockError> {
        let mut conn = self.change_conn().await?;
        let (caller, row) = self
            .host_request(&mut conn, certificate, lock, HostOperation::Release, None)
            .await?;
        answer(caller, &row, Vec::new())
    }

    /// The host the certificate names, and what its request saw and did.
    async fn host_request(
        &self,
        conn: &mut Conn,
        certificate: &HostCertificate,
        lock: &LockRef,
        operation: HostOperation,
        gate_expression: Option<&str>,
    ) -> Result<(Caller, HostRequestRow), LockError> {
        let unknown = || LockError::UnknownHost {
            subject: certificate.subject.clone(),
        };
        let lookup = match certificate.kind {
            CertificateKind::Puppet => HostLookup::Certname,
            CertificateKind::Katello if self.has_katello_facets(conn).await? => {
                HostLookup::ConsumerUuid
            }
            CertificateKind::Katello => return Err(unknown()),
        };
        let request = HostRequest {
            lookup,
            subject: &certificate.subject,
            lock_id: lock.id(),
            lock_name: lock.as_str(),
            operation,
            clock: clock::test_now(),
            gate_expression,
        };
        let row = host_requests::run(conn, &self.statements, &request)
            .await?
            .ok_or_else(unknown)?;
        let caller = Caller {
            id: row.caller_id.ok_or_else(unknown)?,
            name: row.caller_name.clone().unwrap_or_default(),
        };
        Ok((caller, row))
    }

    async fn has_katello_facets(&self, conn: &mut Conn) -> Result<bool, LockError> {
        if let Some(present) = self.katello_facets.get() {
            return Ok(*present);
        }
        let present = catalog::table_exists(conn, "katello_subscription_facets").await?;
        Ok(*self.katello_facets.get_or_init(|| present))
    }
}

/// A decided acquire or release, as the domain answers it; `blocked_by`: what the alert gate
/// said, for a `blocked` refusal.
fn answer(
    caller: Caller,
    row: &HostRequestRow,
    blocked_by: Vec<String>,
) -> Result<HostAnswer, LockError> {
    match row.outcome.as_deref() {
        Some("too_many_created") => {
            log::warn!(
                "host {} may not create more locks this hour \
                 (limits.locks_created_per_host_per_hour)",
                caller.name
            );
            return Err(LockError::TooManyCreated {
                retry_at: row.retry_at,
            });
        }
        Some("too_many_held") => {
            log::info!(
                "host {} holds as many locks as it may (limits.locks_held_per_host)",
                caller.name
            );
            return Err(LockError::PreconditionFailed {
                lock_id: row.lock_id,
                refusal: Refusal::TooManyHeld,
            });
        }
        _ => {}
    }
    let lock_id = row
        .lock_id
        .ok_or_else(|| LockError::Internal("a host request found no lock".into()))?;
    let outcome = match row.outcome.as_deref() {
        Some("granted") => HostOutcome::Granted,
        Some("refreshed") => HostOutcome::Refreshed,
        Some("released") => HostOutcome::Released,
        Some("not_held") => HostOutcome::NotHeld,
        other => {
            let seen = RefusalDetails {
                next_window_at: row.next_window_at,
                retry_at: row.retry_at,
                halt_reason: row.lock()?.and_then(|l| l.halt).map(|h| h.reason),
                blocked_by,
            };
            let refusal = Refusal::from_outcome(other, seen).ok_or_else(|| {
                LockError::Internal(format!("unexpected outcome {other:?} for lock {lock_id}"))
            })?;
            return Err(LockError::PreconditionFailed {
                lock_id: Some(lock_id),
                refusal,
            });
        }
    };
    let lock = row
        .lock()?
        .ok_or_else(|| LockError::Internal(format!("lock {lock_id} missing after a change")))?;
    Ok(HostAnswer {
        caller,
        outcome,
        lock,
    })
}
