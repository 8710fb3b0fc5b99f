use std::path::PathBuf;

/// Why a manifest could not be used. Every variant names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: cannot read the manifest: {source}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// A problem found while parsing or validating, located in the file.
    #[error("{path}:{line}:{column}: {message}")]
    Invalid {
        /// The manifest path.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong and what would be valid.
        message: String,
    },
}

impl ManifestError {
    pub(crate) fn at(path: &std::path::Path, source: &str, offset: usize, message: String) -> Self {
        let (line, column) = line_and_column(source, offset);
        ManifestError::Invalid {
            path: path.to_path_buf(),
            line,
            column,
            message,
        }
    }
}

fn line_and_column(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::line_and_column;

    #[test]
    fn offsets_become_one_based_lines_and_columns() {
        let text = "a = 1\nbb = 2\n";
        assert_eq!(line_and_column(text, 0), (1, 1));
        assert_eq!(line_and_column(text, 6), (2, 1));
        assert_eq!(line_and_column(text, 9), (2, 4));
    }
}
