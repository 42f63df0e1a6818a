//! Long-running gatebench processes (idp, gateway) for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};

/// A child process killed when dropped.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts gatebench with `args` and returns it with the value of the stdout line that
/// starts with `label`.
pub fn start(args: &[&str], label: &str) -> (Running, String) {
    start_with(super::gatebench(), args, label)
}

/// `start` with a prepared command (e.g. with environment variables set).
pub fn start_with(command: std::process::Command, args: &[&str], label: &str) -> (Running, String) {
    let (running, mut values) = start_reading(command, args, &[label]);
    (running, values.remove(0))
}

/// Starts gatebench with `args` and returns it with the values of the stdout lines that
/// start with each of `labels` (in the order printed, the last label last).
pub fn start_reading(
    mut command: std::process::Command,
    args: &[&str],
    labels: &[&str],
) -> (Running, Vec<String>) {
    let mut child = command
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("gatebench starts");
    let stdout: ChildStdout = child.stdout.take().unwrap();
    let running = Running(child);
    let mut lines = BufReader::new(stdout).lines();
    let mut values = Vec::new();
    for label in labels {
        let value = loop {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("{args:?} ended before printing {label}"))
                .unwrap();
            if let Some(v) = line.trim_start().strip_prefix(label) {
                break v.trim().to_string();
            }
        };
        values.push(value);
    }
    // Keep reading, so later prints never meet a closed pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (running, values)
}
