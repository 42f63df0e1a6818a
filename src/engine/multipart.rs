//! Multipart uploads on the engine's request path: create, then the parts, up to
//! `parallel_parts` at once, each on its own extra connection of the worker, then
//! complete; any failure aborts the upload. One `multipart` sample covers the whole
//! upload (from its due time to complete's last byte, the worst outcome of its requests,
//! all parts' bytes), and every part gets a `part` sample timed from its own send.
//!
//! Owns the order of an upload's requests and its recording; request shapes and answer
//! parsing are `client::multipart`'s. An upload cut short by the stop flag is left
//! incomplete: the run's clean-up aborts it.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Instant;

use futures_util::future::join_all;
use http::HeaderValue;
use tokio::sync::watch;

use super::{Due, Exec, SampleTimes, stopped};
use crate::client::Connection;
use crate::client::multipart::{Upload, completed, etag, upload_id};
use crate::client::s3::Response;
use crate::plan::OpKind;
use crate::plan::sequence::PlannedOp;
use crate::record::trace::TraceLine;
use crate::record::{CacheClass, OutcomeClass, Sample, SeriesKey, TransportError, micros};

/// Each worker's extra connections for parts, kept between its uploads.
#[derive(Default)]
pub(super) struct PartConnections {
    by_worker: Mutex<HashMap<usize, Vec<Connection>>>,
}

impl PartConnections {
    /// `worker`'s `n` part connections (opened on first use by the client).
    fn take(&self, exec: &Exec, worker: usize, n: usize) -> Vec<Connection> {
        let mut kept = lock(&self.by_worker).remove(&worker).unwrap_or_default();
        kept.truncate(n);
        while kept.len() < n {
            kept.push(exec.client.connection(worker));
        }
        kept
    }

    /// Keeps `conns` for `worker`'s next upload.
    fn give_back(&self, worker: usize, conns: Vec<Connection>) {
        lock(&self.by_worker).insert(worker, conns);
    }
}

/// The worst answer of an upload so far (the first of equally bad ones).
#[derive(Default)]
struct Worst {
    class: Option<OutcomeClass>,
    status: Option<u16>,
    transport: Option<TransportError>,
    retry_after: Option<u32>,
}

impl Worst {
    /// Takes `resp` in as `class` (its own, or worse when its body says it failed).
    fn add(&mut self, resp: &Response, class: OutcomeClass) {
        if self.class.is_none_or(|worst| class > worst) {
            *self = Worst {
                class: Some(class),
                status: resp.status,
                transport: resp.transport,
                retry_after: resp.retry_after,
            };
        }
    }
}

impl Exec {
    /// Carries out the multipart upload `op` (due at `due`) on `conn` and the worker's
    /// part connections, and records it; false if `stop` cut it short.
    pub(super) async fn upload(
        &self,
        worker: usize,
        conn: &mut Connection,
        op: &PlannedOp,
        due: Due,
        stop: &mut watch::Receiver<bool>,
    ) -> bool {
        let Some(upload) = self.keys.upload(op) else {
            debug_assert!(false, "a multipart op without its mix entry's upload");
            return true;
        };
        let sent = Instant::now();
        let mut worst = Worst::default();
        let mut totals = (0u64, 0u64);
        let create = tokio::select! {
            r = self.client.send_control(conn, &upload.create, None) => r,
            _ = stopped(stop) => return false,
        };
        totals.1 += create.bytes_down;
        let opened = create.opened;
        let id = upload_id(&create);
        let class = match (&id, create.class) {
            (None, OutcomeClass::Ok) => OutcomeClass::ServerError,
            (_, class) => class,
        };
        worst.add(&create, class);
        let mut last = create;
        let mut to_abort = None;
        if let Some(id) = id {
            let mut conns = self.parts.take(self, worker, upload.parallel_parts);
            let parts = tokio::select! {
                p = self.send_parts(worker, &mut conns, &upload, &id, due) => p,
                _ = stopped(stop) => return false,
            };
            self.parts.give_back(worker, conns);
            totals.0 += parts.bytes_up;
            totals.1 += parts.bytes_down;
            if let Some((resp, class)) = &parts.failed {
                worst.add(resp, *class);
            }
            let finished = match (parts.failed, parts.etags) {
                (None, etags) => {
                    let (call, body) = upload.complete_call(&id, &etags);
                    let resp = tokio::select! {
                        r = self.client.send_control(conn, &call, Some(body)) => r,
                        _ = stopped(stop) => return false,
                    };
                    totals.1 += resp.bytes_down;
                    let class = match resp.class {
                        OutcomeClass::Ok if !completed(&resp) => OutcomeClass::ServerError,
                        class => class,
                    };
                    worst.add(&resp, class);
                    last = resp;
                    class == OutcomeClass::Ok
                }
                (Some((resp, _)), _) => {
                    last = resp;
                    false
                }
            };
            if !finished {
                to_abort = Some(id);
            }
        }
        let completed_at = Instant::now();
        let class = worst.class.unwrap_or(OutcomeClass::Ok);
        let key = SeriesKey {
            target: self.target,
            op: OpKind::Multipart,
            class,
            cache: CacheClass::None,
            phase: due.phase,
        };
        let sample = Sample {
            key,
            completed_at,
            latency: completed_at - due.at,
            service: completed_at - sent,
            expected_interval: self.expected_interval,
            ttfb: last.headers_at.map(|t| t.saturating_duration_since(due.at)),
            connect: opened.map(|o| o.connect),
            tls: opened.and_then(|o| o.tls),
            bytes_up: totals.0,
            bytes_down: totals.1,
            status: worst.status,
            transport: worst.transport,
            retry_after: worst.retry_after,
            server_timing: Default::default(),
            client: self.client_of(worker),
        };
        self.lanes.record(worker, &sample);
        self.lanes
            .keep_if_slow(worker, &key, due.at, sample.latency, || {
                super::slow_details(&self.client, &upload.create, &last)
            });
        if let Some(trace) = &self.trace {
            trace.write(&TraceLine {
                target: self.target,
                index: op.index,
                op: OpKind::Multipart,
                path: &upload.create.path_and_query,
                size: op.size,
                due_offset_us: due.offset.map(|s| (s * 1e6).round() as u64),
                latency_us: micros(sample.latency),
                class,
            });
        }
        if let Some(id) = to_abort {
            // Not recorded: the upload's own sample already says it failed.
            let abort = upload.abort_call(&id);
            // Recorded already: a stop only cuts the abort short (clean-up aborts it).
            tokio::select! {
                _ = self.client.send_control(conn, &abort, None) => {}
                _ = stopped(stop) => {}
            }
        }
        true
    }

    /// Sends every part of `upload`, `conns.len()` at once, each recorded as a `part`
    /// sample; stops handing out parts after the first failure.
    async fn send_parts(
        &self,
        worker: usize,
        conns: &mut [Connection],
        upload: &Upload,
        upload_id: &str,
        due: Due,
    ) -> PartsSent {
        // Shared by the lanes of this one task (a lock is never held across an await).
        let next = AtomicU32::new(1);
        let sent = Mutex::new(PartsSent::default());
        let lanes = conns.iter_mut().map(|conn| {
            let (next, sent) = (&next, &sent);
            async move {
                loop {
                    if lock(sent).failed.is_some() {
                        return;
                    }
                    let number = next.fetch_add(1, Ordering::Relaxed);
                    let Some(part) = upload.part(number) else {
                        return;
                    };
                    let call = upload.part_call(part, upload_id);
                    let started = Instant::now();
                    let resp = self.client.send_control(conn, &call, None).await;
                    let completed_at = Instant::now();
                    let tag = etag(&resp);
                    let class = match (resp.class, &tag) {
                        (OutcomeClass::Ok, None) => OutcomeClass::ServerError,
                        (class, _) => class,
                    };
                    self.record_part(worker, due, started, completed_at, &resp, class);
                    let mut sent = lock(sent);
                    sent.bytes_up += resp.bytes_up;
                    sent.bytes_down += resp.bytes_down;
                    match tag {
                        Some(tag) if class == OutcomeClass::Ok => sent.etags.push((number, tag)),
                        _ => {
                            sent.failed.get_or_insert((resp, class));
                        }
                    }
                }
            }
        });
        join_all(lanes).await;
        let mut sent = sent.into_inner().unwrap_or_else(|e| e.into_inner());
        sent.etags.sort_unstable_by_key(|(number, _)| *number);
        sent
    }

    /// Records one part, timed from its own send.
    fn record_part(
        &self,
        worker: usize,
        due: Due,
        started: Instant,
        completed_at: Instant,
        resp: &Response,
        class: OutcomeClass,
    ) {
        let key = SeriesKey {
            target: self.target,
            op: OpKind::Part,
            class,
            cache: resp.cache,
            phase: due.phase,
        };
        // A part is due when it is sent: its own service time, never corrected.
        let times = SampleTimes {
            due: started,
            sent: started,
            completed_at,
            expected_interval: None,
        };
        self.lanes
            .record(worker, &self.response_sample(worker, key, resp, times));
    }
}

/// What the parts of an upload came to.
#[derive(Default)]
struct PartsSent {
    /// `(part number, ETag)` of the parts stored, in part order.
    etags: Vec<(u32, HeaderValue)>,
    /// The first part that failed, and its class.
    failed: Option<(Response, OutcomeClass)>,
    bytes_up: u64,
    bytes_down: u64,
}

/// `m` locked, whether or not a holder panicked.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
