//! The scenarios: hosts taking their own locks, clusters taking turns, and idle polling.

use std::rc::Rc;
use std::time::{Duration, Instant};

use super::client::{HostRequests, HttpConnection};
use super::report::Figures;
use super::Args;

/// Runs every future as a task on the current (single-threaded) runtime and collects the figures.
pub(crate) async fn gather(
    tasks: impl IntoIterator<Item = impl std::future::Future<Output = Figures> + 'static>,
) -> Figures {
    let handles: Vec<_> = tasks.into_iter().map(actix_web::rt::spawn).collect();
    let mut total = Figures::default();
    for handle in handles {
        match handle.await {
            Ok(figures) => total.merge(figures),
            Err(_) => total.errors += 1,
        }
    }
    total
}

pub(crate) async fn uncontended(
    addr: std::net::SocketAddr,
    hosts: Rc<[HostRequests]>,
    concurrency: usize,
    seconds: u64,
) -> Figures {
    let until = Instant::now() + Duration::from_secs(seconds);
    let started = Instant::now();
    let stride = concurrency;
    let workers = (0..concurrency).map(|worker| {
        let hosts = hosts.clone();
        async move {
            let mut connection = HttpConnection::new(addr);
            let mut figures = Figures::default();
            let mut index = worker % hosts.len();
            while Instant::now() < until {
                let host = &hosts[index];
                let (acquired, t1) = connection.call(&host.acquire_own).await;
                let (released, t2) = connection.call(&host.release_own).await;
                figures.latencies.extend([t1, t2]);
                figures.errors += usize::from(acquired != 200) + usize::from(released != 200);
                figures.cycles += usize::from(acquired == 200 && released == 200);
                index = (index + stride) % hosts.len();
            }
            figures
        }
    });
    let mut total = gather(workers).await;
    total.elapsed = started.elapsed().as_secs_f64();
    total
}

/// Which shared lock a cluster takes turns on.
#[derive(Clone, Copy)]
pub(crate) enum Shared {
    /// `cluster-NNNN`: one holder at a time.
    Cluster,
    /// `sem-NNNN`: three holders at a time.
    Semaphore,
}

/// Hosts in clusters of 10 on a shared lock: acquire with retry on 412, hold briefly, release.
pub(crate) async fn take_turns(
    addr: std::net::SocketAddr,
    hosts: &[HostRequests],
    shared: Shared,
    args: &Args,
) -> Figures {
    let until = Instant::now() + Duration::from_secs(args.seconds);
    let started = Instant::now();
    let tasks = hosts
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, host)| async move {
            let (acquire, release) = match shared {
                Shared::Cluster => (&host.acquire_cluster, &host.release_cluster),
                Shared::Semaphore => (&host.acquire_semaphore, &host.release_semaphore),
            };
            let mut connection = HttpConnection::new(addr);
            let mut figures = Figures::default();
            let mut backoff = 5u64 + (i as u64 % 7);
            while Instant::now() < until {
                let (acquired, t) = connection.call(acquire).await;
                figures.latencies.push(t);
                match acquired {
                    200 => {
                        actix_web::rt::time::sleep(Duration::from_millis(2)).await;
                        let (released, t) = connection.call(release).await;
                        figures.latencies.push(t);
                        figures.errors += usize::from(released != 200);
                        figures.cycles += usize::from(released == 200);
                        backoff = 5 + (i as u64 % 7);
                        actix_web::rt::time::sleep(Duration::from_millis(backoff * 4)).await;
                    }
                    412 => {
                        actix_web::rt::time::sleep(Duration::from_millis(backoff)).await;
                        backoff = (backoff * 2).min(200);
                    }
                    _ => figures.errors += 1,
                }
            }
            // Leave no lock held.
            let _ = connection.call(release).await;
            figures
        });
    let mut total = gather(tasks).await;
    total.elapsed = started.elapsed().as_secs_f64();
    total
}

/// GET show at a fixed rate, as idle clients poll, spread over 64 connections. Latency counts from
/// the send: the timer wakes pollers up to a millisecond late, which is the generator's delay, not
/// the server's. A server that falls behind shows as a rate below the target instead.
pub(crate) async fn poll(
    addr: std::net::SocketAddr,
    hosts: Rc<[HostRequests]>,
    args: &Args,
) -> Figures {
    const POLLERS: u64 = 64;
    let interval = Duration::from_secs_f64(1.0 / args.poll_rate.max(1) as f64);
    let total_requests = args.poll_rate * args.seconds;
    let started = Instant::now();
    let pollers = (0..POLLERS).map(|poller| {
        let hosts = hosts.clone();
        async move {
            let mut connection = HttpConnection::new(addr);
            let mut figures = Figures::default();
            for n in (poller..total_requests).step_by(POLLERS as usize) {
                let due = started + interval.mul_f64(n as f64);
                if let Some(wait) = due.checked_duration_since(Instant::now()) {
                    actix_web::rt::time::sleep(wait).await;
                }
                let (status, t) = connection
                    .call(&hosts[n as usize % hosts.len()].show_cluster)
                    .await;
                figures.latencies.push(t);
                figures.errors += usize::from(status != 200);
            }
            figures
        }
    });
    let mut total = gather(pollers).await;
    total.elapsed = started.elapsed().as_secs_f64();
    total
}
