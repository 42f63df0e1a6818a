//! Long-running gatebench processes (idp, gateway) for end-to-end tests.

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdout, Stdio};

/// A child process killed when dropped.
pub struct Running(Child);

impl Running {
    /// Sends SIGTERM and waits (at most 10 s) for the process to end.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = libc::pid_t::try_from(self.0.id()).unwrap();
        // SAFETY: kill(2) on the pid of a child this process spawned and has not reaped.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if let Some(status) = self.0.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "still running 10 s after SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

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
