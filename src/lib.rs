//! gatebench: load tests and benchmarks for S3 object storage (Ceph RGW) behind an API
//! gateway (Azure API Management).
//!
//! Data flows one way: `scenario` (file → validated `plan::Plan`) → `engine` (sends the
//! seeded operation sequence through the `client`) → `record` (HDR histograms per target ×
//! op × outcome, per second) → `results` (the run folder) → `thresholds` → `report` (what
//! people read). `run` wires one `gatebench run` together; `cli` holds the command line.
//! The servers (`gateway`, `idp`) stand apart on `shared` and `tls`; imports run one way,
//! checked by tests/architecture.rs (docs/architecture.md).

pub mod cli;
pub mod client;
pub mod compare;
pub mod engine;
pub mod gateway;
pub mod idp;
pub mod merge;
pub mod plan;
pub mod probe;
pub mod progress;
pub mod record;
pub mod redact;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod shared;
pub mod thresholds;
pub mod tls;
