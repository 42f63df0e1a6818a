//! Errors found in a scenario file, located by file, line and column.
//!
//! Owns turning byte spans into `file:line:column` and the message format every
//! scenario error shares. It never decides what is valid; the parser and the
//! validator do.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a scenario file, with where it is and which field it concerns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScenarioError {
    /// The scenario file as the user named it.
    pub path: PathBuf,
    /// 1-based line, when the problem has a place in the file.
    pub line: Option<usize>,
    /// 1-based column (in characters), when the problem has a place in the file.
    pub column: Option<usize>,
    /// Dotted path of the field, e.g. `mix.get.weight` (empty for the whole file).
    pub field: String,
    /// What is wrong, in words the user can act on.
    pub message: String,
}

impl ScenarioError {
    /// An error at a byte span of `source`.
    pub fn at(
        path: &Path,
        source: &str,
        span: Option<Range<usize>>,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let (line, column) = match span {
            Some(span) => {
                let (l, c) = line_column(source, span.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        ScenarioError {
            path: path.to_path_buf(),
            line,
            column,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let (Some(line), Some(column)) = (self.line, self.column) {
            write!(f, ":{line}:{column}")?;
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": {}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for ScenarioError {}

/// 1-based line and column (counted in characters) of a byte offset.
pub fn line_column(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = &source[..floor_char_boundary(source, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_are_one_based() {
        let src = "a = 1\nbb = 2\n";
        assert_eq!(line_column(src, 0), (1, 1));
        assert_eq!(line_column(src, 6), (2, 1));
        assert_eq!(line_column(src, 9), (2, 4));
    }

    #[test]
    fn display_names_file_line_and_field() {
        let e = ScenarioError::at(
            Path::new("s.toml"),
            "x\ny = -1\n",
            Some(6..8),
            "mix.get",
            "weight must be >= 0",
        );
        assert_eq!(e.to_string(), "s.toml:2:5: mix.get: weight must be >= 0");
    }
}
