//! Precision, recall and F of SPICE (`Evaluation`), per image and per tuple category
//! (`SpiceStats.score`), and the corpus score as pycocoevalcap's `spice.py` reports it.

use super::graph::SceneGraph;
use super::tuples::{TupleCategory, TupleSet, TupleSizeError};
use crate::metrics::ngram::np_mean;
use crate::metrics::wordnet::SynonymDictionary;

/// How candidate tuples meet reference tuples.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Matching {
    /// SPICE's default: elements match when they share a word or a WordNet synset
    /// (`match_similar`).
    #[default]
    Synonyms,
    /// `-noSynsets`: elements must be equal (`match_exact`); graphs are then built without
    /// merging.
    Exact,
}

/// One `Evaluation` of the jar: counts and P/R/F.
///
/// `tp` counts candidate tuples that found a match; `fp = |candidate| − tp`,
/// `fn = |reference| − tp` — negative when several candidate tuples match one merged
/// reference tuple (recall and F can then exceed 1, as in the jar).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Evaluation {
    /// F1.
    pub f: f64,
    /// Precision.
    pub pr: f64,
    /// Recall.
    pub re: f64,
    /// Matched candidate tuples.
    pub tp: i64,
    /// Unmatched candidate tuples.
    pub fp: i64,
    /// Reference tuples minus `tp`.
    pub fn_: i64,
    /// Images behind the numbers (1 per image; the macro average's count of images without
    /// NaN).
    pub num_images: u64,
}

impl Evaluation {
    /// `new Evaluation(candidates, references, allowNan, …)` from the match count and the two
    /// set sizes. With references, `re = tp/|ref|`, `pr = tp/|cand|` (0 without candidates)
    /// and `f = 2·pr·re/(pr+re)` when both are positive, else 0. Without references all three
    /// are 0, or NaN when `allow_nan` (the jar allows NaN for the category subsets, not for
    /// `All`).
    pub fn from_counts(tp: usize, candidates: usize, references: usize, allow_nan: bool) -> Self {
        let mut e = Evaluation {
            f: 0.0,
            pr: 0.0,
            re: 0.0,
            tp: tp as i64,
            fp: candidates as i64 - tp as i64,
            fn_: references as i64 - tp as i64,
            num_images: 1,
        };
        e.calc_f_score(allow_nan);
        e
    }

    /// `Evaluation.calcFScore`.
    fn calc_f_score(&mut self, allow_nan: bool) {
        let beta = 1.0f64;
        let ref_n = self.fn_ + self.tp;
        let test_n = self.fp + self.tp;
        if ref_n > 0 {
            self.re = self.tp as f64 / ref_n as f64;
            if test_n > 0 {
                self.pr = self.tp as f64 / test_n as f64;
            }
            if self.pr > 0.0 && self.re > 0.0 {
                self.f =
                    (1.0 + beta * beta) * (self.pr * self.re) / (beta * beta * self.pr + self.re);
            }
        }
        if allow_nan && ref_n == 0 {
            self.f = f64::NAN;
            self.pr = f64::NAN;
            self.re = f64::NAN;
        }
    }

    /// Same counts, and the same P/R/F within `tol` (NaN equals NaN).
    pub fn agrees_with(&self, other: &Evaluation, tol: f64) -> bool {
        let close = |a: f64, b: f64| (a.is_nan() && b.is_nan()) || (a - b).abs() <= tol;
        self.tp == other.tp
            && self.fp == other.fp
            && self.fn_ == other.fn_
            && close(self.f, other.f)
            && close(self.pr, other.pr)
            && close(self.re, other.re)
    }
}

/// The scores of one image: `All` and, when computed, the six category subsets.
#[derive(Clone, Debug, PartialEq)]
pub struct SpiceStats {
    /// (category, evaluation), `All` first, in [`TupleCategory::EVERY`] order.
    pub scores: Vec<(TupleCategory, Evaluation)>,
}

impl SpiceStats {
    /// The evaluation of a category, if present.
    pub fn get(&self, category: TupleCategory) -> Option<&Evaluation> {
        self.scores
            .iter()
            .find(|(c, _)| *c == category)
            .map(|(_, e)| e)
    }

    /// The `All` evaluation (always present in scores this module builds or parses).
    pub fn all(&self) -> &Evaluation {
        self.get(TupleCategory::All)
            .expect("SpiceStats always holds All")
    }

    /// The image's SPICE: `All.f`.
    pub fn spice(&self) -> f64 {
        self.all().f
    }

    /// Same categories and every evaluation agrees within `tol`.
    pub fn agrees_with(&self, other: &SpiceStats, tol: f64) -> bool {
        self.scores.len() == other.scores.len()
            && self
                .scores
                .iter()
                .all(|(c, e)| other.get(*c).is_some_and(|o| e.agrees_with(o, tol)))
    }
}

/// One image scored: its statistics and both tuple sets after matching (truth values set,
/// matched tuples first — what the jar's `-detailed` output lists).
#[derive(Clone, Debug)]
pub struct ImageScore {
    /// P/R/F per category.
    pub stats: SpiceStats,
    /// The candidate's tuples after matching.
    pub test_tuples: TupleSet,
    /// The references' tuples after matching.
    pub ref_tuples: TupleSet,
}

/// `SpiceStats.score` on two tuple sets: `All` (no NaN) and each category subset (NaN when
/// the references have no tuple of the category).
pub fn score_tuple_sets(test: &TupleSet, refs: &TupleSet, matching: Matching) -> ImageScore {
    let exact = matching == Matching::Exact;
    let mut test_tuples = TupleSet::new(test.tuples().to_vec());
    let mut ref_tuples = TupleSet::new(refs.tuples().to_vec());
    let n = test_tuples.match_against(&mut ref_tuples, exact);
    let mut scores = vec![(
        TupleCategory::All,
        Evaluation::from_counts(n, test_tuples.len(), ref_tuples.len(), false),
    )];
    for category in &TupleCategory::EVERY[1..] {
        let mut t = test.filtered(*category);
        let mut r = refs.filtered(*category);
        let n = t.match_against(&mut r, exact);
        scores.push((
            *category,
            Evaluation::from_counts(n, t.len(), r.len(), true),
        ));
    }
    ImageScore {
        stats: SpiceStats { scores },
        test_tuples,
        ref_tuples,
    }
}

/// `SpiceStats.score` on a candidate's scene graph and the image's reference scene graph.
pub fn score_graphs(test: &SceneGraph, refs: &SceneGraph, matching: Matching) -> ImageScore {
    score_tuple_sets(&test.tuple_set(), &refs.tuple_set(), matching)
}

/// Scores a candidate's parsed tuples against the parsed tuples of each reference caption:
/// builds the candidate graph and the merged reference graph with `dict` (merging similar
/// concepts), then scores them with synonym matching — SPICE's default pipeline after the
/// parser. Tuples are `[object]`, `[object, attribute]` or `[subject, relation, object]`.
pub fn score_tuples<T, S, C>(
    test: &[T],
    refs: &[C],
    dict: &SynonymDictionary,
) -> Result<ImageScore, TupleSizeError>
where
    T: AsRef<[S]>,
    S: AsRef<str>,
    C: AsRef<[T]>,
{
    let test = SceneGraph::from_tuples(test, dict, true)?;
    let refs = SceneGraph::from_captions(refs, dict, true)?;
    Ok(score_graphs(&test, &refs, Matching::Synonyms))
}

/// Per-image SPICE statistics of a corpus and its SPICE.
#[derive(Clone, Debug, PartialEq)]
pub struct SpiceCorpus {
    /// Image ids.
    pub image_ids: Vec<String>,
    /// Statistics per image, aligned with `image_ids`.
    pub per_image: Vec<SpiceStats>,
    /// pycocoevalcap's SPICE: `np.mean` of the images' `All.f`, in the order the jar listed
    /// the images (sorted ids, as `spice.py` writes them); NaN for no image or when an
    /// image's F is NaN (never for `All`).
    pub spice: f64,
}

impl SpiceCorpus {
    /// A corpus whose SPICE is the mean of the images' `All.f` in the given order.
    pub fn new(image_ids: Vec<String>, per_image: Vec<SpiceStats>) -> Self {
        let f: Vec<f64> = per_image.iter().map(SpiceStats::spice).collect();
        Self {
            spice: np_mean(&f),
            image_ids,
            per_image,
        }
    }

    /// The statistics of one image.
    pub fn image(&self, id: &str) -> Option<&SpiceStats> {
        self.image_ids
            .iter()
            .position(|i| i == id)
            .map(|k| &self.per_image[k])
    }

    /// The jar's console summary for a category (`SpiceStats.macroAverage`): summed tp, fp,
    /// fn; P, R and F averaged over the images where none of them is NaN (`num_images` of
    /// them); NaN when there is none. For `All` its F is SPICE up to summation order.
    pub fn macro_average(&self, category: TupleCategory) -> Evaluation {
        let mut r = Evaluation {
            f: 0.0,
            pr: 0.0,
            re: 0.0,
            tp: 0,
            fp: 0,
            fn_: 0,
            num_images: 0,
        };
        let mut count = 0u64;
        for s in self.per_image.iter().filter_map(|s| s.get(category)) {
            r.tp += s.tp;
            r.fp += s.fp;
            r.fn_ += s.fn_;
            if !s.f.is_nan() && !s.pr.is_nan() && !s.re.is_nan() {
                r.f += s.f;
                r.pr += s.pr;
                r.re += s.re;
                count += 1;
            }
        }
        if count > 0 {
            r.f /= count as f64;
            r.pr /= count as f64;
            r.re /= count as f64;
        } else {
            r.f = f64::NAN;
            r.pr = f64::NAN;
            r.re = f64::NAN;
        }
        r.num_images = count;
        r
    }
}
