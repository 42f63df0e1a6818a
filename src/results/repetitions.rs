//! `repetitions.json`: the index of a repeated run (`gatebench run --repeat N`).
//!
//! A repeated run's folder holds one full results folder per repetition (`rep-1/`,
//! `rep-2/`, …) and this index. Owns the file's name and schema only.

use serde::{Deserialize, Serialize};

use super::summary::RunStatus;

/// File name of the index of a repeated run.
pub const REPETITIONS: &str = "repetitions.json";

/// The schema identifier of `repetitions.json`.
pub const SCHEMA: &str = "gatebench.repetitions/1";

/// The whole `repetitions.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repetitions {
    pub schema: String,
    /// The scenario's `name`.
    pub scenario: String,
    /// Repetitions asked for; `repetitions` lists those that ran.
    pub requested: u32,
    pub repetitions: Vec<Repetition>,
}

/// One repetition of a repeated run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Repetition {
    /// 1-based.
    pub index: u32,
    /// Its results folder, relative to the repeated run's folder (`rep-1`).
    pub folder: String,
    pub status: RunStatus,
    /// Whether every threshold passed in this repetition (true without thresholds).
    pub thresholds_passed: bool,
}
