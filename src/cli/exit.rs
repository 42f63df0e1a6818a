//! The exit statuses of every subcommand, their numbers and the meanings `--help`
//! prints: one table, so the help and the code cannot drift apart.

use std::fmt::Display;
use std::process::ExitCode;

/// How a `gatebench` command ended; the discriminant is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// The command did what was asked (a complete run, a valid scenario).
    Success = 0,
    /// The run or command failed (setup, an unreachable target, unreadable files).
    Failed = 1,
    /// An invalid scenario or command line; folders that cannot be compared.
    Invalid = 2,
    /// A threshold failed, or `compare --fail-on-regression` found a regression.
    ThresholdFailed = 3,
    /// Stopped by Ctrl-C or SIGTERM.
    Interrupted = 130,
}

/// Every status with the meaning `--help` gives it, in the order printed; a line break
/// in a meaning continues under the text.
const MEANINGS: [(ExitStatus, &str); 5] = [
    (
        ExitStatus::Success,
        "the run completed (or the scenario is valid)",
    ),
    (
        ExitStatus::Failed,
        "the run failed: setup error, unreachable target (results are still written)",
    ),
    (ExitStatus::Invalid, "invalid scenario or command line"),
    (
        ExitStatus::ThresholdFailed,
        "a threshold failed (run; results are still written), or a regression was\n\
         found (compare --fail-on-regression)",
    ),
    (
        ExitStatus::Interrupted,
        "interrupted by Ctrl-C/SIGTERM (results gathered so far are written)",
    ),
];

/// Width of the code column in the help text.
const CODE_COLUMN: usize = 5;

impl ExitStatus {
    /// Prints `error: MESSAGE` on stderr and returns this status.
    pub fn with_error(self, message: impl Display) -> Self {
        eprintln!("error: {message}");
        self
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

/// The "Exit codes:" block printed after `gatebench --help`.
pub fn help() -> String {
    let mut text = String::from("Exit codes:");
    for (status, meaning) in MEANINGS {
        let code = (status as u8).to_string();
        let indent = " ".repeat(2 + CODE_COLUMN);
        text.push_str(&format!(
            "\n  {code:<CODE_COLUMN$}{}",
            meaning.replace('\n', &format!("\n{indent}"))
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant; adding one breaks the match below until it is listed here too.
    fn every_status() -> Vec<ExitStatus> {
        let all = [
            ExitStatus::Success,
            ExitStatus::Failed,
            ExitStatus::Invalid,
            ExitStatus::ThresholdFailed,
            ExitStatus::Interrupted,
        ];
        for status in all {
            match status {
                ExitStatus::Success
                | ExitStatus::Failed
                | ExitStatus::Invalid
                | ExitStatus::ThresholdFailed
                | ExitStatus::Interrupted => {}
            }
        }
        all.to_vec()
    }

    #[test]
    fn help_lists_every_status_with_its_number_once() {
        let text = help();
        for status in every_status() {
            let code = status as u8;
            let lines: Vec<&str> = text
                .lines()
                .filter(|l| l.trim_start().split(' ').next() == Some(code.to_string().as_str()))
                .collect();
            assert_eq!(lines.len(), 1, "{status:?} ({code}) in:\n{text}");
            let meaning = MEANINGS.iter().find(|(s, _)| *s == status).unwrap().1;
            assert!(
                lines[0].ends_with(meaning.lines().next().unwrap()),
                "{status:?}: {}",
                lines[0]
            );
        }
        assert_eq!(MEANINGS.len(), every_status().len());
    }

    #[test]
    fn the_numbers_are_the_documented_ones() {
        let numbers: Vec<u8> = every_status().into_iter().map(|s| s as u8).collect();
        assert_eq!(numbers, [0, 1, 2, 3, 130]);
    }

    #[test]
    fn help_keeps_the_layout_of_the_readme_and_docs() {
        assert_eq!(
            help(),
            "Exit codes:\n  0    the run completed (or the scenario is valid)\n  1    the run \
             failed: setup error, unreachable target (results are still written)\n  2    \
             invalid scenario or command line\n  3    a threshold failed (run; results are \
             still written), or a regression was\n       found (compare \
             --fail-on-regression)\n  130  interrupted by Ctrl-C/SIGTERM (results gathered so \
             far are written)"
        );
    }
}
