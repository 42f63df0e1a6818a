//! `gatebench report`: remakes the report of a results folder (rebuilding the summary of
//! a killed run first).

use std::path::Path;

use super::ExitStatus;
use crate::report;

/// Writes the charts, `report.html` and `summary.md` of `dir` and prints where they are.
pub fn report(dir: &Path) -> ExitStatus {
    let made = report::recover::rebuild_if_missing(dir)
        .and_then(|rebuilt| Ok((rebuilt, report::write_report(dir)?)));
    match made {
        Ok((rebuilt, files)) => {
            if let Some(summary) = rebuilt {
                println!("{}", report::verdict::incomplete(&summary));
                println!(
                    "summary rebuilt: {}",
                    dir.join(crate::results::SUMMARY).display()
                );
            }
            println!("report: {}", files.html.display());
            println!("summary: {}", files.markdown.display());
            ExitStatus::Success
        }
        Err(e) => ExitStatus::Failed.with_error(format!(
            "cannot make the report of {}: {e:#}",
            dir.display()
        )),
    }
}
