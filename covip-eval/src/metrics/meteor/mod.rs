//! METEOR 1.5 (Denkowski & Lavie 2014) as the jar that pycocoevalcap 1.2 runs computes it
//! (`-l en -norm`): normalisation, the exact / stem / synonym / paraphrase matchers, the
//! beam-search aligner, and segment and corpus scores from summed statistics.
pub mod normalize;
pub mod stem;
