//! Errors found while loading rule files, each tied to a place in a file.

use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};

/// One problem in a rule file, printed as `FILE:LINE:COLUMN: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct LoadError {
    /// The rule file.
    pub path: PathBuf,
    /// Where in the file, or `None` when the file itself could not be read.
    pub position: Option<Position>,
    /// What is wrong and, where possible, how to fix it.
    pub message: String,
}

/// A 1-based line and column; the column counts characters, not bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub line: usize,
    pub column: usize,
}

impl Position {
    /// Finds the line and column of a byte offset in `source`.
    pub fn of_offset(source: &str, offset: usize) -> Position {
        let offset = floor_char_boundary(source, offset.min(source.len()));
        let before = &source[..offset];
        let line_start = before.rfind('\n').map_or(0, |index| index + 1);
        Position {
            line: before.matches('\n').count() + 1,
            column: before[line_start..].chars().count() + 1,
        }
    }
}

fn floor_char_boundary(text: &str, mut index: usize) -> usize {
    while !text.is_char_boundary(index) {
        index -= 1;
    }
    index
}

impl LoadError {
    /// Creates an error at the start of a byte range of the file's source.
    pub fn at(path: &Path, source: &str, span: Range<usize>, message: impl Into<String>) -> Self {
        LoadError {
            path: path.to_path_buf(),
            position: Some(Position::of_offset(source, span.start)),
            message: message.into(),
        }
    }

    /// Creates an error about the file as a whole, such as one that cannot be read.
    pub fn whole_file(path: &Path, message: impl Into<String>) -> Self {
        LoadError {
            path: path.to_path_buf(),
            position: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for LoadError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.position {
            Some(Position { line, column }) => {
                write!(
                    formatter,
                    "{}:{line}:{column}: {}",
                    self.path.display(),
                    self.message
                )
            }
            None => write!(formatter, "{}: {}", self.path.display(), self.message),
        }
    }
}

/// All the problems found in one load, in file order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadErrors(pub Vec<LoadError>);

impl fmt::Display for LoadErrors {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (index, error) in self.0.iter().enumerate() {
            if index > 0 {
                writeln!(formatter)?;
            }
            write!(formatter, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadErrors {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn position_counts_lines_and_characters() {
        let source = "a = 1\nbé = 'x'\n";
        assert_eq!(
            Position::of_offset(source, 0),
            Position { line: 1, column: 1 }
        );
        assert_eq!(
            Position::of_offset(source, 6),
            Position { line: 2, column: 1 }
        );
        // "é" is two bytes but one column.
        assert_eq!(
            Position::of_offset(source, 9),
            Position { line: 2, column: 3 }
        );
    }

    #[test]
    fn display_has_file_line_column() {
        let error = LoadError::at(Path::new("r.toml"), "x\ny", 2..3, "bad");
        assert_eq!(error.to_string(), "r.toml:2:1: bad");
        let error = LoadError::whole_file(Path::new("r.toml"), "failed to read: denied");
        assert_eq!(error.to_string(), "r.toml: failed to read: denied");
    }
}
