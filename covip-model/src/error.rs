//! Errors of the model crate: every variant names the file or tensor it is about.
use thiserror::Error;

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, ModelError>;

#[derive(Debug, Error)]
pub enum ModelError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: bad configuration: {msg}")]
    Config { path: String, msg: String },
    #[error("{path}: bad safetensors file: {msg}")]
    Safetensors { path: String, msg: String },
    /// Missing, unexpected or wrongly shaped tensors, all listed at once.
    #[error("checkpoint {dir} does not match the model:\n{report}")]
    Checkpoint { dir: String, report: String },
    #[error("tokenizer {path}: {msg}")]
    Tokenizer { path: String, msg: String },
    #[error("chat template: {0}")]
    Template(String),
    #[error("invalid input: {0}")]
    Input(String),
}
