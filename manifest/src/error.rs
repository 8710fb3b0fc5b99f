use std::path::PathBuf;

/// Why a manifest could not be used. Every variant names the file, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file could not be read.
    #[error("{path}: cannot read the manifest: {error}")]
    Read {
        /// The manifest path.
        path: PathBuf,
        /// The I/O failure, shown in the message rather than chained as its source, so that
        /// an error printed with its causes does not say it twice.
        error: std::io::Error,
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

    #[test]
    fn a_missing_manifest_names_the_failure_once_with_its_causes() {
        // Beneath a file, so that it cannot exist.
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml/nimbus.toml");
        let Err(error) = crate::Manifest::load(&path) else {
            panic!("a manifest that does not exist loaded");
        };
        let mut with_causes = error.to_string();
        let mut cause = std::error::Error::source(&error);
        while let Some(inner) = cause {
            with_causes.push_str(&format!(": {inner}"));
            cause = inner.source();
        }
        assert_eq!(with_causes.matches("(os error").count(), 1, "{with_causes}");
        assert!(
            with_causes.contains("cannot read the manifest"),
            "{with_causes}"
        );
    }
}
