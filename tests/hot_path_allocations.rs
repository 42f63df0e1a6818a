//! The generator's hot path allocates nothing per request but the header values it keeps
//! of the answer, here the server's request id (issue #17): a counting global allocator
//! counts the heap allocations made on the generator's threads while runs of two lengths
//! send signed, path-style GETs to an in-process server; what the longer run allocated
//! more, per request more, is the hot path's (choosing the key, signing, writing the
//! request, reading the answer, recording it). Setup, the report and the server run on
//! other threads and are not counted.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use common::servers::{Behaviour, TestServer, scenario};
use common::{ok_count, op, summary, tempdir, write_scenario};
use gatebench::run::RunOptions;

/// The system allocator, counting the allocations made on generator threads.
struct Counting;

/// Allocations (and reallocations) on threads named `gatebench-generator-N`.
static GENERATOR_ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

thread_local! {
    /// 0: not known yet; 1: not a generator thread (also while its name is read); 2: one.
    static GENERATOR_THREAD: Cell<u8> = const { Cell::new(0) };
}

/// Whether the current thread is one of the generator's, read once per thread.
fn on_generator_thread() -> bool {
    GENERATOR_THREAD
        .try_with(|kind| match kind.get() {
            0 => {
                // Reading the name may allocate: that allocation lands here as kind 1.
                kind.set(1);
                let generator = std::thread::current()
                    .name()
                    .is_some_and(|n| n.starts_with("gatebench-generator-"));
                kind.set(if generator { 2 } else { 1 });
                generator
            }
            k => k == 2,
        })
        .unwrap_or(false)
}

fn count() {
    if on_generator_thread() {
        GENERATOR_ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: every call is passed to `System` unchanged; counting allocates nothing.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Allocations per second a run may make on the generator's threads whatever its rate:
/// the recorder's per-second intervals and the progress ticks (about 40 measured).
const PER_SECOND_ALLOWANCE: f64 = 100.0;

/// Runs `ops` signed GETs (2 workers on one generator thread, keep-alive HTTP/1.1)
/// against `server`; returns the requests sent, the generator threads' allocations and
/// the run's length in seconds.
fn allocations_of_a_run(server: &TestServer, dir: &Path, ops: u64) -> (u64, u64, f64) {
    let name = format!("ops-{ops}");
    let text = scenario(
        &name,
        &server.endpoint(),
        &format!("ops = {ops}\nwarmup = \"0s\""),
        "executor = \"closed-loop\"\nconcurrency = 2",
    );
    let plan = gatebench::scenario::load(&write_scenario(dir, &format!("{name}.toml"), &text))
        .expect("the scenario is valid");
    let opts = RunOptions {
        results_base: dir.to_path_buf(),
        out: Some(dir.join(&name)),
        keep_data: true,
        quiet: true,
        distributed: None,
        trace: None,
        threads: Some(1),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let before = GENERATOR_ALLOCATIONS.load(Ordering::Relaxed);
    let started = Instant::now();
    let out = runtime
        .block_on(gatebench::run::run(plan, opts))
        .expect("the run completes");
    let seconds = started.elapsed().as_secs_f64();
    let allocations = GENERATOR_ALLOCATIONS.load(Ordering::Relaxed) - before;
    let summary = summary(&out.folder);
    let get = op(&summary, "server", "get");
    let requests = get["requests"].as_u64().expect("requests");
    assert_eq!(ok_count(get), requests, "every GET answered: {get:#}");
    (requests, allocations, seconds)
}

/// Allocations per request on the generator's threads against `server`: what a run of
/// 11000 requests allocated more than one of 1000, over the 10000 more; as measured, and
/// less the per-second allowance for the time the longer run took more.
fn allocations_per_request(server: &TestServer, dir: &Path) -> (f64, f64) {
    std::fs::create_dir_all(dir).unwrap();
    // A first run warms what is made once per process (TLS roots, lazy statics).
    allocations_of_a_run(server, dir, 200);
    let (short, short_allocations, short_seconds) = allocations_of_a_run(server, dir, 1_000);
    let (long, long_allocations, long_seconds) = allocations_of_a_run(server, dir, 11_000);
    assert_eq!((short, long), (1_000, 11_000), "the runs sent their ops");
    let more = long_allocations as f64 - short_allocations as f64;
    let allowed = PER_SECOND_ALLOWANCE * (long_seconds - short_seconds).max(0.0);
    let measured = more.max(0.0) / 10_000.0;
    let per_request = (more - allowed).max(0.0) / 10_000.0;
    eprintln!(
        "generator threads: {short_allocations} allocations in {short} requests \
         ({short_seconds:.2} s), {long_allocations} in {long} ({long_seconds:.2} s): \
         {measured:.3} per request, {per_request:.3} beyond {PER_SECOND_ALLOWANCE} a second"
    );
    (measured, per_request)
}

/// Choosing the key, signing, writing the request, reading and recording the answer
/// reuse the worker's buffers: per request nothing is allocated but the server's request
/// id, kept for the slowest-requests table (one header value). Before the buffers were
/// reused it was 6 (the path, the answer's header map, name and values, the id's copy).
/// The bounds leave 0.1 a request for the slowest-requests table, which copies the
/// details of a request slower than those it keeps (a few dozen times a run, fewer the
/// longer it runs); an allocation on every request adds 1.
#[test]
fn the_generator_allocates_nothing_per_request_but_the_servers_request_id() {
    let dir = tempdir();
    let silent = TestServer::start(Behaviour {
        no_request_id: true,
        ..Behaviour::default()
    });
    let (_, per_request) = allocations_per_request(&silent, &dir.path().join("silent"));
    assert!(
        per_request < 0.1,
        "{per_request:.3} allocations per request on the generator's threads, answers \
         without ids"
    );
    let with_ids = TestServer::start(Behaviour::default());
    let (measured, per_request) = allocations_per_request(&with_ids, &dir.path().join("ids"));
    assert!(
        measured >= 0.95 && per_request < 1.1,
        "{measured:.3} allocations per request on the generator's threads ({per_request:.3} \
         beyond the allowance), answers with an x-amz-request-id (its copy: 1)"
    );
}
