//! METEOR 1.5 (Denkowski & Lavie 2014) as the jar that pycocoevalcap 1.2 runs computes it
//! (`-l en -norm`): normalisation, the exact / stem / synonym / paraphrase matchers, the
//! beam-search aligner, and segment and corpus scores from summed statistics.
//!
//! The language resources (word lists, WordNet, the paraphrase table) are read from a
//! directory that `covip metrics setup-meteor` fills from the pycocoevalcap package
//! ([`resources`], [`setup`]). Load them once ([`Meteor::shared`]) and score with
//! [`Meteor::score_corpus`].
pub mod align;
pub mod archive;
pub mod java;
pub mod matchers;
pub mod normalize;
pub mod paraphrase;
pub mod pow;
mod pow_table;
pub mod resources;
pub mod scorer;
pub mod setup;
pub mod stats;
pub mod stem;

pub use resources::MeteorResources;
pub use scorer::{Meteor, MeteorCorpusScore};
pub use stats::{MeteorStats, Parameters};
