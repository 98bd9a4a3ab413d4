//! Errors and validation problems. Every message names the file, the record and the field.
use std::fmt;
use std::path::PathBuf;

/// Where a record sits in its file.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum RecordLoc {
    /// 1-based line of a JSONL file.
    Line(usize),
    /// 0-based index in a JSON array or a Parquet file.
    Index(usize),
    /// Key of a JSON object (`sample_12`).
    Key(String),
    /// The file as a whole.
    File,
}

impl fmt::Display for RecordLoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordLoc::Line(n) => write!(f, "line {n}"),
            RecordLoc::Index(i) => write!(f, "record {i}"),
            RecordLoc::Key(k) => write!(f, "record {k:?}"),
            RecordLoc::File => f.write_str("file"),
        }
    }
}

/// One thing wrong with one record: reported, never silently skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub file: PathBuf,
    pub record: RecordLoc,
    /// Dotted path of the field (`pos_qas[0][2].correct_answer`); empty for the whole record.
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn new(
        file: impl Into<PathBuf>,
        record: RecordLoc,
        field: impl Into<String>,
        message: impl Into<String>,
    ) -> Problem {
        Problem {
            file: file.into(),
            record,
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.file.display(), self.record)?;
        if !self.field.is_empty() {
            write!(f, ": {}", self.field)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// Errors of covip-data.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Problem),
    #[error("{} problem(s):\n{}", .0.len(), .0.iter().map(|p| format!("  {p}")).collect::<Vec<_>>().join("\n"))]
    Problems(Vec<Problem>),
    #[error("image {image}: does not decode: {message}")]
    Image { image: String, message: String },
    #[error("{path}: cannot tell the format: {reason}")]
    UnknownFormat { path: PathBuf, reason: String },
    #[error("{path}: parquet: {message}")]
    Parquet { path: PathBuf, message: String },
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl DataError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> DataError {
        DataError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Records read from a file, with the problems found on the way.
///
/// Readers keep going past a malformed record so that one run reports every problem;
/// `into_result` turns "any problem" into an error for callers that want all or nothing.
#[derive(Clone, Debug)]
pub struct Loaded<T> {
    /// Records that parsed, with their location.
    pub records: Vec<(RecordLoc, T)>,
    /// Everything that was wrong, in file order.
    pub problems: Vec<Problem>,
}

impl<T> Default for Loaded<T> {
    fn default() -> Self {
        Loaded {
            records: Vec::new(),
            problems: Vec::new(),
        }
    }
}

impl<T> Loaded<T> {
    /// The records alone, or every problem as one error.
    pub fn into_result(self) -> Result<Vec<T>, DataError> {
        if self.problems.is_empty() {
            Ok(self.records.into_iter().map(|(_, r)| r).collect())
        } else {
            Err(DataError::Problems(self.problems))
        }
    }

    /// The records without their locations (problems are dropped: look at them first).
    pub fn values(&self) -> impl Iterator<Item = &T> {
        self.records.iter().map(|(_, r)| r)
    }
}
