//! Caption-quality and hallucination metrics, at parity with the community's reference scorers
//! (pycocoevalcap 1.2 for the caption metrics; the released POPE, CHAIR and MMHal-Bench scripts
//! for hallucination). Every metric is a pure function of text and sets.
#[cfg(feature = "bertscore")]
pub mod bert;
#[cfg(feature = "bertscore")]
pub mod bertscore;
pub mod bleu;
pub mod caption;
pub mod chair;
pub mod cider;
pub mod error;
pub mod meteor;
pub mod mmhal;
pub mod ngram;
pub mod pope;
pub mod ptb;
pub mod rouge;
pub mod spice;
pub mod wordnet;

pub use caption::{
    CaptionCorpus, CaptionMetric, CaptionOptions, CaptionReport, score_captions,
    score_captions_with,
};
pub use error::MetricsError;
