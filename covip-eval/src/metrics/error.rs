//! Errors of the metrics module; each names the file, record and field at fault.

use std::path::PathBuf;

/// What can go wrong reading metric inputs or computing metrics.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A file could not be read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A file is not valid JSON / JSONL.
    #[error("{path}: invalid JSON{}: {message}", line.map(|l| format!(" at line {l}")).unwrap_or_default())]
    Json {
        /// The file.
        path: PathBuf,
        /// 1-based line for JSONL inputs.
        line: Option<usize>,
        /// Parser message.
        message: String,
    },
    /// A record has the wrong shape.
    #[error("{path}: record {record:?}, field {field:?}: {message}")]
    Record {
        /// The file.
        path: PathBuf,
        /// Image id, question id or line number.
        record: String,
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// References and candidates do not cover the same images.
    #[error("{message}")]
    Mismatch {
        /// Which ids are missing where.
        message: String,
    },
    /// A scorer's resource directory (METEOR's) is missing or incomplete.
    #[error("{path}: {message}")]
    Resources {
        /// The missing file or directory.
        path: PathBuf,
        /// What to do about it.
        message: String,
    },
    /// An archive (`setup-meteor --from`) is damaged, hostile or over a size limit.
    #[error("{archive}{}: {message}", member.as_ref().map(|m| format!(": member {m}")).unwrap_or_default())]
    Archive {
        /// The archive.
        archive: PathBuf,
        /// The member at fault, when one is.
        member: Option<String>,
        /// What is wrong.
        message: String,
    },
    /// Caller data that a metric cannot score (lengths that differ, an empty corpus).
    #[error("{0}")]
    Input(String),
    /// A metric name that is unknown or not available in this build.
    #[error("{0}")]
    Unsupported(String),
}
