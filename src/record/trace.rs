//! A per-request trace (`gatebench run --trace-requests FILE`, a hidden option): one CSV
//! line per request with what was sent, when it was due and how long it took, for tests
//! that check the load itself (e.g. that shards together send exactly one process's
//! load) and for debugging. It costs a lock and a formatted line per request, so it is
//! never on unless asked for.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::sync::Mutex;

use super::OutcomeClass;
use crate::plan::OpKind;

/// The CSV header of a trace file.
pub const HEADER: &str = "target,index,op,path,size,due_offset_us,latency_us,class";

/// One traced request.
#[derive(Debug)]
pub struct TraceLine<'a> {
    /// Index of the target in the plan.
    pub target: usize,
    /// Position of the operation in the run's sequence.
    pub index: u64,
    pub op: OpKind,
    /// `/bucket/key?query` as sent.
    pub path: &'a str,
    /// Body bytes (PUT).
    pub size: u64,
    /// Open loop: the planned due time from the start of the target's schedule, µs.
    pub due_offset_us: Option<u64>,
    /// From the due time to the end of the answer, µs.
    pub latency_us: u64,
    pub class: OutcomeClass,
}

/// A trace file being written.
#[derive(Debug)]
pub struct RequestTrace {
    out: Mutex<BufWriter<File>>,
}

impl RequestTrace {
    /// Creates `path` and writes the header.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = BufWriter::new(File::create(path)?);
        writeln!(out, "{HEADER}")?;
        Ok(RequestTrace {
            out: Mutex::new(out),
        })
    }

    /// Appends `line` (a write error leaves the trace short; the run goes on).
    pub fn write(&self, line: &TraceLine) {
        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
        let due = line
            .due_offset_us
            .map(|d| d.to_string())
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{},{},{},{},{},{due},{},{}",
            line.target,
            line.index,
            line.op.name(),
            line.path,
            line.size,
            line.latency_us,
            line.class.name()
        );
    }

    /// Writes out what is buffered.
    pub fn flush(&self) -> std::io::Result<()> {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}
