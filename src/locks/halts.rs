//! Halting and resuming, by hand: one lock, or every lock at once. A halted lock keeps its
//! holders (they may refresh and release) and gives out no new slot until it is resumed. The
//! state lives in the database, so every instance of an HA pair honours it at once.

use super::model::{halt_reason_problem, Halt, Lock};
use super::{LockError, LockManager, LockRef};
use crate::clock;
use crate::storage::locks::halts as halt_store;

impl LockManager {
    /// Halts every lock, including those created later; `false`: the fleet was halted already
    /// (its first reason stays). `acting_user`: `None` from the command line.
    pub async fn halt_all(
        &self,
        reason: &str,
        acting_user: Option<i32>,
    ) -> Result<bool, LockError> {
        check_reason(reason)?;
        let mut conn = self.admin_change_conn().await?;
        Ok(halt_store::halt(&mut conn, None, reason, acting_user, clock::test_now()).await?)
    }

    /// Lifts the fleet-wide halt; `false` when there was none. Locks halted on their own stay
    /// halted (see `foreman_dlm_resume`).
    pub async fn resume_all(&self, acting_user: Option<i32>) -> Result<bool, LockError> {
        let mut conn = self.admin_change_conn().await?;
        let lifted = halt_store::resume(&mut conn, None, acting_user, clock::test_now()).await?;
        Ok(lifted > 0)
    }

    /// How many locks are halted on their own (not by the fleet-wide halt).
    pub async fn locks_halted_on_their_own(&self) -> Result<i64, LockError> {
        let mut conn = self.admin_conn().await?;
        Ok(halt_store::own_halts(&mut conn).await?)
    }

    /// The fleet-wide halt, if every lock is halted.
    pub async fn fleet_halt(&self) -> Result<Option<Halt>, LockError> {
        let mut conn = self.admin_conn().await?;
        Ok(halt_store::fleet(&mut conn).await?)
    }

    /// Halts one lock; the lock afterwards.
    pub async fn halt_lock(
        &self,
        lock: &LockRef,
        reason: &str,
        acting_user: Option<i32>,
    ) -> Result<Lock, LockError> {
        check_reason(reason)?;
        let mut conn = self.admin_change_conn().await?;
        let found = self.find_existing(&mut conn, lock).await?;
        halt_store::halt(
            &mut conn,
            Some(found.id),
            reason,
            acting_user,
            clock::test_now(),
        )
        .await?;
        self.find_by_id(&mut conn, found.id).await
    }

    /// Lifts one lock's own halt; the lock afterwards (still halted under a fleet-wide halt).
    pub async fn resume_lock(
        &self,
        lock: &LockRef,
        acting_user: Option<i32>,
    ) -> Result<Lock, LockError> {
        let mut conn = self.admin_change_conn().await?;
        let found = self.find_existing(&mut conn, lock).await?;
        halt_store::resume(&mut conn, Some(found.id), acting_user, clock::test_now()).await?;
        self.find_by_id(&mut conn, found.id).await
    }
}

pub(super) fn check_reason(reason: &str) -> Result<(), LockError> {
    match halt_reason_problem(reason) {
        Some(problem) => Err(LockError::Invalid {
            lock_id: None,
            errors: vec![("halt_reason", problem)],
        }),
        None => Ok(()),
    }
}
