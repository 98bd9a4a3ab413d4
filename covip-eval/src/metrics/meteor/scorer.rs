//! METEOR as pycocoevalcap runs it: `java -jar meteor-1.5.jar - - -stdio -l en -norm`, one
//! `SCORE` line per image, then one `EVAL` line with every image's statistics.
//!
//! Per image: the candidate loses `|||` and its double spaces are halved (pycocoevalcap's
//! clean-up), the line `SCORE ||| ref 1 ||| ... ||| candidate` is split on `|||` as the jar
//! splits it (so a reference containing `|||` counts as two), each piece is trimmed,
//! normalised (`-norm`) and lower-cased; the candidate is aligned with each reference and the
//! statistics of the best-scoring reference (the first on ties) are kept. The image score is
//! the score of those statistics, the corpus score that of their sum.
//!
//! One input has no faithful counterpart: a caption holding a line break breaks pycocoevalcap's
//! line protocol (the jar reads the rest as a new command and the answers go out of step);
//! here it is white space like any other. PTB tokenisation removes line breaks anyway.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use super::align::{self, Alignment};
use super::java;
use super::matchers::{self, Matchers, PreparedLine};
use super::resources::MeteorResources;
use super::stats::{MeteorStats, Parameters};
use crate::metrics::error::MetricsError;

/// A stemmer for the stem module.
pub type Stemmer = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// A METEOR scorer: resources, parameters and the stemmer. Cloning shares the resources.
#[derive(Clone)]
pub struct Meteor {
    resources: Arc<MeteorResources>,
    params: Parameters,
    stemmer: Stemmer,
}

impl std::fmt::Debug for Meteor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Meteor")
            .field("params", &self.params)
            .field("paraphrases", &self.resources.paraphrases.len())
            .field("synonym_words", &self.resources.synonyms.len())
            .finish_non_exhaustive()
    }
}

/// Segment and corpus results.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeteorCorpusScore {
    /// Score of the summed statistics (pycocoevalcap's `METEOR`).
    pub corpus: f64,
    /// Score per image.
    pub per_image: Vec<f64>,
    /// Statistics per image (of its best reference).
    pub stats: Vec<MeteorStats>,
    /// Their sum.
    pub total: MeteorStats,
}

impl Meteor {
    /// A scorer with the English parameters and the bundled Snowball stemmer.
    pub fn new(resources: MeteorResources) -> Self {
        Meteor {
            resources: Arc::new(resources),
            params: Parameters::ENGLISH,
            stemmer: Arc::new(super::stem::stem),
        }
    }

    /// Loads the resources of `dir` (see [`super::resources`]).
    pub fn load(dir: &Path) -> Result<Self, MetricsError> {
        MeteorResources::load(dir).map(Self::new)
    }

    /// The scorer for `dir`, loaded on first use and then shared by the whole process.
    pub fn shared(dir: &Path) -> Result<Arc<Self>, MetricsError> {
        static LOADED: OnceLock<Mutex<HashMap<PathBuf, Arc<Meteor>>>> = OnceLock::new();
        let key = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        let mut map = LOADED
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(m) = map.get(&key) {
            return Ok(Arc::clone(m));
        }
        let m = Arc::new(Self::load(dir)?);
        map.insert(key, Arc::clone(&m));
        Ok(m)
    }

    /// Replaces the stemmer (e.g. by a table of the jar's stems, to test the aligner alone).
    pub fn with_stemmer(mut self, stemmer: Stemmer) -> Self {
        self.stemmer = stemmer;
        self
    }

    /// Replaces the parameters.
    pub fn with_parameters(mut self, params: Parameters) -> Self {
        self.params = params;
        self
    }

    /// The parameters.
    pub fn parameters(&self) -> &Parameters {
        &self.params
    }

    /// The loaded resources.
    pub fn resources(&self) -> &MeteorResources {
        &self.resources
    }

    /// A segment as `-norm` leaves it: normalised (punctuation kept), then lower-cased.
    pub fn normalize(&self, text: &str) -> String {
        self.resources.normalizer.normalize_line(text, true)
    }

    fn matchers(&self) -> Matchers<'_> {
        Matchers {
            stem: &*self.stemmer,
            synonyms: &self.resources.synonyms,
            paraphrases: &self.resources.paraphrases,
        }
    }

    fn is_function(&self, w: &str) -> bool {
        self.resources.function_words.contains(&w.to_lowercase())
    }

    /// Aligns normalised words and returns the alignment with its statistics.
    pub fn align(&self, test: &[&str], reference: &[&str]) -> (Alignment, MeteorStats) {
        let m = self.matchers();
        let t = PreparedLine::new(test, &m);
        let r = PreparedLine::new(reference, &m);
        self.align_prepared(test, &t, reference, &r)
    }

    fn align_prepared(
        &self,
        test: &[&str],
        t: &PreparedLine,
        reference: &[&str],
        r: &PreparedLine,
    ) -> (Alignment, MeteorStats) {
        let stage = matchers::find_matches(t, r, &self.resources.paraphrases);
        let a = align::align(&stage, test.len());
        let s = MeteorStats::from_alignment(test, reference, &a, |w| self.is_function(w));
        (a, s)
    }

    /// Statistics of the best reference for an already normalised test segment.
    pub fn segment_normalized(&self, test: &str, references: &[&str]) -> MeteorStats {
        let m = self.matchers();
        let test_words: Vec<&str> = java::tokens(test).collect();
        let t = PreparedLine::new(&test_words, &m);
        let mut best: Option<(f64, MeteorStats)> = None;
        for reference in references {
            let ref_words: Vec<&str> = java::tokens(reference).collect();
            let r = PreparedLine::new(&ref_words, &m);
            let (_, s) = self.align_prepared(&test_words, &t, &ref_words, &r);
            let score = s.score(&self.params).score;
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((score, s));
            }
        }
        best.map(|(_, s)| s).unwrap_or_default()
    }

    /// Statistics of one image as pycocoevalcap obtains them (see the module documentation).
    pub fn segment(&self, candidate: &str, references: &[String]) -> MeteorStats {
        let (test, refs) = stdio_pieces(candidate, references);
        let test = self.normalize(&test);
        let refs: Vec<String> = refs.iter().map(|r| self.normalize(r)).collect();
        let refs: Vec<&str> = refs.iter().map(String::as_str).collect();
        self.segment_normalized(&test, &refs)
    }

    /// Scores a corpus (`refs[i]` are the references of candidate `cands[i]`), spreading
    /// images over rayon's pool; the result does not depend on the number of threads. An
    /// error when the two differ in length.
    pub fn score_corpus(
        &self,
        refs: &[Vec<String>],
        cands: &[String],
    ) -> Result<MeteorCorpusScore, MetricsError> {
        check_lengths(refs.len(), cands.len())?;
        let stats = map_images(cands.len(), |i| self.segment(&cands[i], &refs[i]));
        Ok(self.summarise(stats))
    }

    /// Scores already normalised segments (see [`Meteor::segment_normalized`]); an error
    /// when `refs` and `tests` differ in length.
    pub fn score_corpus_normalized(
        &self,
        refs: &[Vec<String>],
        tests: &[String],
    ) -> Result<MeteorCorpusScore, MetricsError> {
        check_lengths(refs.len(), tests.len())?;
        let stats = map_images(tests.len(), |i| {
            let r: Vec<&str> = refs[i].iter().map(String::as_str).collect();
            self.segment_normalized(&tests[i], &r)
        });
        Ok(self.summarise(stats))
    }

    fn summarise(&self, stats: Vec<MeteorStats>) -> MeteorCorpusScore {
        let mut total = MeteorStats::default();
        for s in &stats {
            total.add(s);
        }
        MeteorCorpusScore {
            corpus: total.score(&self.params).score,
            per_image: stats.iter().map(|s| s.score(&self.params).score).collect(),
            stats,
            total,
        }
    }
}

fn check_lengths(refs: usize, cands: usize) -> Result<(), MetricsError> {
    if refs == cands {
        Ok(())
    } else {
        Err(MetricsError::Input(format!(
            "METEOR: {refs} reference lists but {cands} candidates: one candidate per image"
        )))
    }
}

/// Computes `f(i)` for every image on rayon's pool, in image order (each image on its own:
/// the statistics do not depend on the schedule).
fn map_images(n: usize, f: impl Fn(usize) -> MeteorStats + Sync + Send) -> Vec<MeteorStats> {
    use rayon::prelude::*;
    (0..n).into_par_iter().map(f).collect()
}

/// The test segment and references the jar reads from pycocoevalcap's `SCORE` line.
pub fn stdio_pieces(candidate: &str, references: &[String]) -> (String, Vec<String>) {
    let candidate = candidate.replace("|||", "").replace("  ", " ");
    let line = format!("SCORE ||| {} ||| {}", references.join(" ||| "), candidate);
    let parts = java::split_literal(&line, "|||");
    // The line has at least three pieces: "SCORE ", a reference, and a non-empty last piece
    // (the candidate after " ||| ").
    let test = java::trim(parts[parts.len() - 1]).to_string();
    let refs = parts[1..parts.len() - 1]
        .iter()
        .map(|p| java::trim(p).to_string())
        .collect();
    (test, refs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(xs: &[&str]) -> Vec<String> {
        xs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn stdio_line_as_the_jar_reads_it() {
        // "|||" goes first, then each pair of spaces becomes one (three spaces leave two).
        let (t, r) = stdio_pieces("a  dog |||  runs", &v(&["x", "y ||| z"]));
        assert_eq!(t, "a dog  runs");
        assert_eq!(r, v(&["x", "y", "z"]));
        let (t, r) = stdio_pieces("", &v(&["x"]));
        assert_eq!(t, "");
        assert_eq!(r, v(&["x"]));
        // A reference ending in "|||" with an empty candidate: the jar sees an empty reference.
        let (t, r) = stdio_pieces("", &v(&["x |||"]));
        assert_eq!(t, "");
        assert_eq!(r, v(&["x", ""]));
    }
}
