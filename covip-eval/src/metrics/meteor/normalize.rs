//! METEOR 1.5's English normaliser (`Normalizer.normalizeLine`), used with `-norm`.
//!
//! Placeholder while the port is written: lower-cases and folds white space.

use std::collections::HashSet;

/// Normalises lines as METEOR's `-norm` does, with the non-breaking prefixes of a language.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    /// Non-breaking prefixes (`nonbreaking/english.prefixes`).
    pub prefixes: HashSet<String>,
}

impl Normalizer {
    /// Builds a normaliser from the text of a `*.prefixes` file.
    pub fn from_prefixes(text: &str) -> Self {
        let prefixes = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_string)
            .collect();
        Self { prefixes }
    }

    /// One normalised, tokenised, lower-cased line.
    pub fn normalize_line(&self, line: &str, keep_punctuation: bool) -> String {
        let _ = keep_punctuation;
        line.split_whitespace()
            .map(str::to_lowercase)
            .collect::<Vec<_>>()
            .join(" ")
    }
}
