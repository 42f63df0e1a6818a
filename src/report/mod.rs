//! Presenting results to people: the console table for now.
//!
//! Reads only the summary; never the raw histograms or the engine.

pub mod console;
