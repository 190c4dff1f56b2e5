//! A bounded pool of threads of its own for password and token hashing.
//!
//! bcrypt and PBKDF2 are deliberately slow, and anyone who can reach the service can make it
//! hash: a flood of bogus logins must not slow a single lock request. Hashing therefore never
//! runs on an HTTP worker nor on the runtime's blocking threads, only here, and when the queue is
//! full a login is refused at once instead of waiting.

use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

type Job = Box<dyn FnOnce() + Send>;

pub struct HashingPool {
    jobs: SyncSender<Job>,
    threads: usize,
}

/// Every hashing thread is busy and the queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy;

impl HashingPool {
    /// `threads` = 0 means half the CPU cores, at least one.
    pub fn new(threads: usize, queue: usize) -> HashingPool {
        let threads = if threads > 0 {
            threads
        } else {
            (std::thread::available_parallelism().map_or(1, usize::from) / 2).max(1)
        };
        let (jobs, receiver) = sync_channel::<Job>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..threads {
            let receiver = receiver.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("hashing-{index}"))
                .spawn(move || work(&receiver));
            if let Err(e) = spawned {
                log::error!("cannot start a hashing thread: {e}");
            }
        }
        HashingPool { jobs, threads }
    }

    pub fn threads(&self) -> usize {
        self.threads
    }

    /// Runs `work` on a hashing thread and waits for its result without blocking the caller's
    /// thread.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (reply, result) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = reply.send(work());
        });
        match self.jobs.try_send(job) {
            Ok(()) => result.await.map_err(|_| Busy),
            Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => Err(Busy),
        }
    }
}

/// Hashing yields the CPU to everything else in the process: with fewer cores than busy threads,
/// a lock request then waits for no hash.
const HASHING_NICENESS: i32 = 10;

fn lower_priority() {
    // SAFETY: setpriority only reads its integer arguments; on Linux, PRIO_PROCESS with a thread
    // id sets that one thread's nice value. A failure just leaves the priority as it was.
    let outcome = unsafe {
        let thread = libc::gettid();
        libc::setpriority(libc::PRIO_PROCESS, thread as libc::id_t, HASHING_NICENESS)
    };
    if outcome != 0 {
        log::debug!("hashing threads keep the normal CPU priority");
    }
}

fn work(receiver: &Mutex<Receiver<Job>>) {
    lower_priority();
    loop {
        let job = match receiver.lock() {
            Ok(guard) => guard.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            // The pool is gone: the process is ending.
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[actix_web::test]
    async fn runs_work_and_refuses_beyond_its_queue() {
        let pool = HashingPool::new(1, 1);
        assert_eq!(pool.run(|| 2 + 2).await, Ok(4));
        let (started_tx, started) = std::sync::mpsc::channel::<()>();
        let (release, gate) = std::sync::mpsc::channel::<()>();
        let blocker = pool.run(move || {
            let _ = started_tx.send(());
            gate.recv().is_ok()
        });
        let mut blocker = Box::pin(blocker);
        // Poll once so that the job is queued, then wait until the thread runs it.
        assert!(futures_util::poll!(&mut blocker).is_pending());
        started.recv().expect("the blocking job started");
        let mut queued = Box::pin(pool.run(|| 1));
        assert!(futures_util::poll!(&mut queued).is_pending());
        assert_eq!(pool.run(|| 1).await, Err(Busy), "the queue of one is full");
        release.send(()).expect("release");
        assert_eq!(blocker.await, Ok(true));
        assert_eq!(queued.await, Ok(1));
    }
}
