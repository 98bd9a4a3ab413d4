//! SPICE (Anderson et al. 2016) as SPICE 1.0 computes it — the jar pycocoevalcap 1.2 runs.
//!
//! SPICE parses every caption into a scene graph (objects, their attributes, relations
//! between objects) with Stanford CoreNLP and rules, turns each graph into semantic tuples
//! (`(object)`, `(object, attribute)`, `(subject, relation, object)`) and scores a candidate's
//! tuples against the merged tuples of the image's references by F1, counting a match when
//! every element shares a word or a WordNet synset (METEOR's English synonym files).
//!
//! - [`graph::SceneGraph`], [`tuples`], [`score`]: the scene-graph building with SPICE's
//!   merging of similar concepts, the tuple sets, the greedy matching and the P/R/F per image
//!   and per tuple category (`All`, `Object`, `Attribute`, `Relation`, `Cardinality`,
//!   `Color`, `Size`), and the corpus SPICE of pycocoevalcap (mean of the images' `All` F).
//!   This is everything after the parser, in Rust; it takes tuples (hand-built, or from the
//!   jar's `-detailed` output), not captions.
//! - [`runner`]: runs the official jar on captions, as `spice.py` does, and parses its output;
//!   [`runner::rescore_detailed`] recomputes a `-detailed` output's scores from its tuples with
//!   the Rust scorer.
//!
//! The caption parser itself (CoreNLP 3.6.0 with its models) is not reimplemented: scoring
//! captions needs the jar, Java and the CoreNLP jars (see [`runner`]).
//!
//! # Wiring into `covip metrics caption --metrics spice`
//!
//! Suggested options: `--spice-jar PATH` (required for `spice`; e.g.
//! `…/site-packages/pycocoevalcap/spice/spice-1.0.jar`), `--spice-cache DIR` (optional, the
//! jar's parse cache, maps to [`runner::SpiceJar::cache_dir`]), `--spice-java PATH` (default
//! `java`), `--spice-memory 8G`. Then, on the PTB-tokenised corpus (as `COCOEvalCap` scores
//! SPICE on tokenised captions):
//!
//! ```no_run
//! # use covip_eval::metrics::spice::SpiceJar;
//! # fn f(ids: Vec<String>, cands: Vec<String>, refs: Vec<Vec<String>>) -> Result<(), covip_eval::metrics::MetricsError> {
//! let mut jar = SpiceJar::new("/path/to/pycocoevalcap/spice/spice-1.0.jar");
//! jar.cache_dir = Some("/path/to/cache".into());
//! let run = jar.run(&ids, &cands, &refs)?; // SpiceError converts into MetricsError
//! let corpus_spice = run.corpus.spice; // report as "SPICE"
//! for (id, stats) in run.corpus.image_ids.iter().zip(&run.corpus.per_image) {
//!     let per_image_spice = stats.spice(); // per-image "SPICE" (All.f)
//!     # let _ = (id, per_image_spice);
//! }
//! # let _ = corpus_spice; Ok(()) }
//! ```
//!
//! pycocoevalcap reports SPICE after CIDEr (`Bleu, METEOR, ROUGE_L, CIDEr, SPICE`).

pub mod concept;
pub mod graph;
pub mod runner;
pub mod score;
pub mod tuples;

pub use concept::{SemanticConcept, concept_synsets};
pub use graph::SceneGraph;
pub use runner::{
    JarImage, PrintedTuple, Rescored, SpiceError, SpiceJar, SpiceRun, parse_output,
    rescore_detailed, rescore_detailed_with, write_input,
};
pub use score::{
    Evaluation, ImageScore, Matching, SpiceCorpus, SpiceStats, score_graphs, score_tuple_sets,
    score_tuples,
};
pub use tuples::{SemanticTuple, TupleCategory, TupleKind, TupleSet, TupleSizeError};
