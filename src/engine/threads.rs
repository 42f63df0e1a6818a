//! The generator's threads: each runs a single-threaded tokio runtime of its own with its
//! share of a run's workers, so the cores share no scheduler, timer wheel or I/O driver
//! and a worker and its connection never move between cores (`--threads`).
//!
//! What the workers still share is what the load must share: the seeded op sequence and
//! the recording lanes (one per worker, rarely contended).

use std::future::Future;
use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tokio::task::JoinSet;

/// How many generator threads a run uses when not told: one per core this process may
/// run on (its CPU affinity, e.g. under `taskset`).
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Runs `workers` workers, worker `id` being `make(id)`, on `threads` generator threads
/// (worker `id` on thread `id % threads`), or on the caller's runtime if `threads` is 0;
/// returns once every worker has ended.
///
/// A thread keeps its runtime up until all threads' workers are done: an HTTP/2
/// connection opened by one thread's worker may carry other threads' requests. Workers
/// of a thread that could not start run on the caller's runtime instead.
pub async fn run_workers<F, Fut>(threads: usize, workers: usize, make: F)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    if threads == 0 {
        let mut set = JoinSet::new();
        spawn_share(&mut set, &make, 0..workers);
        while set.join_next().await.is_some() {}
        return;
    }
    let threads = threads.min(workers.max(1));
    let make = Arc::new(make);
    let (release, released) = watch::channel(false);
    let mut threads_running = Vec::with_capacity(threads);
    for thread in 0..threads {
        let (started, started_rx) = oneshot::channel::<()>();
        let (done, finished_rx) = oneshot::channel::<()>();
        let (make, mut released) = (make.clone(), released.clone());
        let body = move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let Ok(runtime) = runtime else { return };
            let _ = started.send(());
            runtime.block_on(async move {
                let mut set = JoinSet::new();
                spawn_share(&mut set, &*make, (thread..workers).step_by(threads));
                while set.join_next().await.is_some() {}
                let _ = done.send(());
                let _ = released.wait_for(|r| *r).await;
            });
        };
        // A thread that cannot be spawned drops `started`, like one whose runtime failed.
        let _ = std::thread::Builder::new()
            .name(format!("gatebench-generator-{thread}"))
            .spawn(body);
        threads_running.push((started_rx, finished_rx));
    }
    drop(released);
    let mut fallback = JoinSet::new();
    let mut finished = Vec::with_capacity(threads);
    for (thread, (started_rx, finished_rx)) in threads_running.into_iter().enumerate() {
        match started_rx.await {
            Ok(()) => finished.push(finished_rx),
            Err(_) => spawn_share(&mut fallback, &*make, (thread..workers).step_by(threads)),
        }
    }
    for finished_rx in finished {
        let _ = finished_rx.await;
    }
    while fallback.join_next().await.is_some() {}
    let _ = release.send(true);
}

/// Spawns the workers `ids` (each `make(id)`) into `set`.
fn spawn_share<F, Fut>(set: &mut JoinSet<()>, make: &F, ids: impl Iterator<Item = usize>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    for id in ids {
        set.spawn(make(id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::sync::Mutex;

    #[tokio::test]
    async fn every_worker_runs_once_on_its_thread() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        run_workers(3, 8, move |id| {
            let record = record.clone();
            async move {
                let thread = std::thread::current().name().unwrap_or("").to_string();
                tokio::task::yield_now().await;
                record.lock().unwrap().push((id, thread));
            }
        })
        .await;
        let mut seen = seen.lock().unwrap().clone();
        seen.sort();
        let ids: Vec<usize> = seen.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, (0..8).collect::<Vec<_>>());
        for (id, thread) in &seen {
            assert_eq!(
                thread,
                &format!("gatebench-generator-{}", id % 3),
                "worker {id}"
            );
        }
        let threads: BTreeSet<&String> = seen.iter().map(|(_, t)| t).collect();
        assert_eq!(threads.len(), 3);
    }

    #[tokio::test]
    async fn no_threads_of_its_own_runs_the_workers_on_the_callers_runtime() {
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let record = seen.clone();
        run_workers(0, 4, move |id| {
            let record = record.clone();
            async move {
                let name = std::thread::current().name().unwrap_or("").to_string();
                record
                    .lock()
                    .unwrap()
                    .insert((id, name.starts_with("gatebench-generator")));
            }
        })
        .await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen, (0..4).map(|id| (id, false)).collect::<BTreeSet<_>>());
    }

    #[tokio::test]
    async fn fewer_workers_than_threads_use_as_many_threads_as_workers() {
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let record = seen.clone();
        run_workers(8, 2, move |_| {
            let record = record.clone();
            async move {
                let name = std::thread::current().name().unwrap_or("").to_string();
                record.lock().unwrap().insert(name);
            }
        })
        .await;
        assert_eq!(seen.lock().unwrap().len(), 2);
    }
}
