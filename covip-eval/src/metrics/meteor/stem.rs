//! The Snowball English stemmer as bundled in METEOR 1.5 (`org.tartarus.snowball.ext.englishStemmer`).
//!
//! Placeholder while the port is written: returns the word unchanged.

/// The stem of one lower-cased word.
pub fn stem(word: &str) -> String {
    word.to_string()
}
