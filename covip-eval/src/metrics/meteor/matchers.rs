//! The four matching stages (exact, stem, synonym, paraphrase) that list every candidate match
//! between a test segment (line 1) and a reference (line 2) before the aligner picks among them.
//!
//! What decides the jar's final alignment, and is kept here:
//! - candidates are kept per reference position in the order the stages find them (stage by
//!   stage, reference position outer, test position inner), since the beam search breaks ties
//!   by that order;
//! - words are compared by Java string hash; stem and synonym matches need *different* word
//!   hashes, so they never duplicate an exact match;
//! - the paraphrase stage looks for the paraphrases of reference phrases in the test, then for
//!   the paraphrases of test phrases in the reference, and does not skip duplicates;
//! - every candidate increments the coverage count of each word it spans (a word covered once
//!   by a one-candidate position is fixed before the search).

use super::java;
use super::paraphrase::ParaphraseTable;
use crate::metrics::wordnet::SynonymDictionary;

/// METEOR's English modules in stage order; a match records its stage's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Module {
    /// Identical words.
    Exact = 0,
    /// Different words with the same Snowball stem.
    Stem = 1,
    /// Different words sharing a WordNet synset (directly or through a base form).
    Synonym = 2,
    /// Phrases listed as paraphrases of each other.
    Paraphrase = 3,
}

/// Number of modules (and of per-module statistics).
pub const MODULES: usize = 4;

/// A candidate match: `len` reference words from `start` against `test_len` test words from
/// `test_start`, found by stage `module`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// First reference word.
    pub start: u32,
    /// Reference words spanned.
    pub len: u32,
    /// First test word.
    pub test_start: u32,
    /// Test words spanned.
    pub test_len: u32,
    /// Stage index (see [`Module`]).
    pub module: u8,
}

impl Match {
    fn word(module: Module, test: usize, reference: usize) -> Self {
        Match {
            start: reference as u32,
            len: 1,
            test_start: test as u32,
            test_len: 1,
            module: module as u8,
        }
    }
}

/// All candidates of one segment pair.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stage {
    /// Candidates per reference position (by `Match::start`), in discovery order.
    pub by_start: Vec<Vec<Match>>,
    /// Candidates covering each test word.
    pub test_coverage: Vec<u32>,
    /// Candidates covering each reference word.
    pub ref_coverage: Vec<u32>,
}

impl Stage {
    fn new(test_len: usize, ref_len: usize) -> Self {
        Stage {
            by_start: vec![Vec::new(); ref_len],
            test_coverage: vec![0; test_len],
            ref_coverage: vec![0; ref_len],
        }
    }

    fn add(&mut self, m: Match) {
        self.by_start[m.start as usize].push(m);
        for k in m.test_start..m.test_start + m.test_len {
            self.test_coverage[k as usize] += 1;
        }
        for k in m.start..m.start + m.len {
            self.ref_coverage[k as usize] += 1;
        }
    }
}

/// What the stages need besides the words.
pub struct Matchers<'a> {
    /// The stemmer of the stem stage.
    pub stem: &'a (dyn Fn(&str) -> String + Sync),
    /// WordNet synsets for the synonym stage.
    pub synonyms: &'a SynonymDictionary,
    /// The paraphrase table.
    pub paraphrases: &'a ParaphraseTable,
}

/// A segment's words with what each stage compares, computed once per segment (a candidate
/// meets every reference of its image).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PreparedLine {
    /// Java hashes of the words.
    keys: Vec<i32>,
    /// Java hashes of their stems.
    stem_keys: Vec<i32>,
    /// Synsets of each word and of its base forms, sorted.
    synsets: Vec<Vec<u32>>,
    /// (synset, position) over the whole line, sorted: which words have a given synset.
    synset_positions: Vec<(u32, u32)>,
    /// Paraphrase-table word ids (`u32::MAX` for words not in the table).
    table_ids: Vec<u32>,
    /// (word id, position) of the table words of the line, sorted.
    positions: Vec<(u32, u32)>,
    /// A 4096-bit filter over the word ids present, to skip most paraphrases at once.
    filter: Vec<u64>,
    /// The reference phrases of the table in the line: (start, words, phrase id), by start,
    /// then length.
    ref_phrases: Vec<(u32, u32, u32)>,
}

fn filter_bit(word: u32) -> (usize, u64) {
    (((word >> 6) & 63) as usize, 1 << (word & 63))
}

impl PreparedLine {
    /// Prepares normalised words.
    pub fn new(words: &[&str], m: &Matchers) -> Self {
        PreparedLine {
            keys: words.iter().map(|w| java::string_hash(w)).collect(),
            stem_keys: words
                .iter()
                .map(|w| java::string_hash(&(m.stem)(w)))
                .collect(),
            synsets: words.iter().map(|w| synset_union(m.synonyms, w)).collect(),
            ..Self::default()
        }
        .with_synset_positions()
        .with_phrases(words, m.paraphrases)
    }

    fn with_synset_positions(mut self) -> Self {
        for (i, set) in self.synsets.iter().enumerate() {
            self.synset_positions
                .extend(set.iter().map(|&s| (s, i as u32)));
        }
        self.synset_positions.sort_unstable();
        self
    }

    /// Positions of the words that have synset `s`.
    fn having_synset(&self, s: u32) -> impl Iterator<Item = u32> + '_ {
        let from = self.synset_positions.partition_point(|&(t, _)| t < s);
        self.synset_positions[from..]
            .iter()
            .take_while(move |&&(t, _)| t == s)
            .map(|&(_, i)| i)
    }

    fn with_phrases(mut self, words: &[&str], t: &ParaphraseTable) -> Self {
        self.table_ids = words
            .iter()
            .map(|w| t.word_id(w).unwrap_or(u32::MAX))
            .collect();
        self.filter = vec![0; 64];
        for (i, &w) in self.table_ids.iter().enumerate() {
            if w != u32::MAX {
                self.positions.push((w, i as u32));
                let (k, bit) = filter_bit(w);
                self.filter[k] |= bit;
            }
        }
        self.positions.sort_unstable();
        let ids = &self.table_ids;
        for start in 0..ids.len() {
            let longest = t.max_phrase_len().min(ids.len() - start);
            for len in 1..=longest {
                let gram = &ids[start..start + len];
                if gram[len - 1] == u32::MAX {
                    break;
                }
                if let Some(p) = t.reference_id(gram) {
                    self.ref_phrases.push((start as u32, len as u32, p));
                }
            }
        }
        self
    }

    /// Where `phrase` (table word ids) occurs in the line, in increasing order.
    fn occurrences<'a>(&'a self, phrase: &'a [u32]) -> impl Iterator<Item = u32> + 'a {
        let first = phrase[0];
        let (k, bit) = filter_bit(first);
        let from = if self.filter[k] & bit == 0 {
            self.positions.len()
        } else {
            self.positions.partition_point(|&(w, _)| w < first)
        };
        self.positions[from..]
            .iter()
            .take_while(move |&&(w, _)| w == first)
            .map(|&(_, i)| i)
            .filter(move |&i| self.table_ids[i as usize..].starts_with(phrase))
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True for an empty line.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Runs the stages over `test` (line 1) and `reference` (line 2). When the two lines are the
/// same word for word (by hash) only the exact stage runs, as in the jar, so that the search
/// cannot stray from the identity alignment.
pub fn find_matches(test: &PreparedLine, reference: &PreparedLine, t: &ParaphraseTable) -> Stage {
    let mut stage = Stage::new(test.len(), reference.len());
    let (k1, k2) = (&test.keys, &reference.keys);
    word_stage(Module::Exact, test, reference, &mut stage, |i, j| {
        k1[i] == k2[j]
    });
    if k1 == k2 {
        return stage;
    }
    let (s1, s2) = (&test.stem_keys, &reference.stem_keys);
    word_stage(Module::Stem, test, reference, &mut stage, |i, j| {
        s1[i] == s2[j] && k1[i] != k2[j]
    });
    // Synonyms: the test words sharing a synset with reference word j, found through the
    // test's synset index rather than by intersecting every pair of synset lists.
    let mut shares = vec![false; test.len()];
    for (j, (sets, key)) in reference.synsets.iter().zip(k2).enumerate() {
        shares.fill(false);
        for &s in sets {
            for i in test.having_synset(s) {
                shares[i as usize] = true;
            }
        }
        for (i, &share) in shares.iter().enumerate() {
            if share && k1[i] != *key {
                stage.add(Match::word(Module::Synonym, i, j));
            }
        }
    }
    paraphrase(test, reference, t, &mut stage);
    stage
}

/// A one-word stage: every (reference word, test word) pair for which `matches` holds.
fn word_stage(
    module: Module,
    test: &PreparedLine,
    reference: &PreparedLine,
    stage: &mut Stage,
    matches: impl Fn(usize, usize) -> bool,
) {
    for j in 0..reference.len() {
        for i in 0..test.len() {
            if matches(i, j) {
                stage.add(Match::word(module, i, j));
            }
        }
    }
}

/// A word's synsets together with those of its base forms.
fn synset_union(d: &SynonymDictionary, word: &str) -> Vec<u32> {
    let mut set = d.synsets(word).to_vec();
    set.extend(d.stem_synsets(word));
    set.sort_unstable();
    set.dedup();
    set
}

/// The paraphrase stage: paraphrases of the reference's phrases found in the test, then
/// paraphrases of the test's phrases found in the reference. The jar walks a trie of reference
/// phrases at each position and scans the other line for each paraphrase; the same matches, in
/// the same order, come from the reference phrases each line was found to contain when it was
/// prepared and the positions of the other line's words.
fn paraphrase(
    test: &PreparedLine,
    reference: &PreparedLine,
    t: &ParaphraseTable,
    stage: &mut Stage,
) {
    let module = Module::Paraphrase as u8;
    for &(j, len, p) in &reference.ref_phrases {
        for para in t.paraphrases_of(p) {
            for i in test.occurrences(para) {
                stage.add(Match {
                    start: j,
                    len,
                    test_start: i,
                    test_len: para.len() as u32,
                    module,
                });
            }
        }
    }
    for &(i, len, p) in &test.ref_phrases {
        for para in t.paraphrases_of(p) {
            for j in reference.occurrences(para) {
                stage.add(Match {
                    start: j,
                    len: para.len() as u32,
                    test_start: i,
                    test_len: len,
                    module,
                });
            }
        }
    }
}

#[cfg(test)]
impl Match {
    /// A match for tests: `len` reference words from `start`, `test_len` test words from
    /// `test_start`, found by `module`.
    pub(crate) fn at(
        module: Module,
        start: u32,
        len: u32,
        test_start: u32,
        test_len: u32,
    ) -> Match {
        Match {
            start,
            len,
            test_start,
            test_len,
            module: module as u8,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> (SynonymDictionary, ParaphraseTable) {
        let syn = SynonymDictionary::parse("car\n1\nauto\n1\ndog\n2\n", "").unwrap();
        let para = ParaphraseTable::parse(
            "0.1\nlarge dog\nbig hound\n0.1\nbig hound\nlarge dog\n0.1\nsmall\ntiny\n",
        )
        .unwrap();
        (syn, para)
    }

    fn strip_s(w: &str) -> String {
        w.strip_suffix('s').unwrap_or(w).to_string()
    }

    fn stage(test: &str, reference: &str) -> Stage {
        let (syn, para) = resources();
        let t: Vec<&str> = test.split(' ').collect();
        let r: Vec<&str> = reference.split(' ').collect();
        let m = Matchers {
            stem: &strip_s,
            synonyms: &syn,
            paraphrases: &para,
        };
        find_matches(
            &PreparedLine::new(&t, &m),
            &PreparedLine::new(&r, &m),
            &para,
        )
    }

    #[test]
    fn each_stage_in_order() {
        // test: the cars near a large dog ; reference: the auto by the big hound
        let s = stage("the cars near a large dog", "the car by the big hound");
        assert_eq!(s.by_start[0], vec![Match::at(Module::Exact, 0, 1, 0, 1)]);
        // "car": a stem match with "cars", then a synonym match through the base form of "cars".
        assert_eq!(
            s.by_start[1],
            vec![
                Match::at(Module::Stem, 1, 1, 1, 1),
                Match::at(Module::Synonym, 1, 1, 1, 1)
            ]
        );
        assert_eq!(s.by_start[3], vec![Match::at(Module::Exact, 3, 1, 0, 1)]);
        // "big hound" is a paraphrase of "large dog" (from the reference side), and "large dog"
        // of "big hound" (from the test side): the same match, twice.
        let p = Match::at(Module::Paraphrase, 4, 2, 4, 2);
        assert_eq!(s.by_start[4], vec![p, p]);
        assert_eq!(s.test_coverage, vec![2, 2, 0, 0, 2, 2]);
        assert_eq!(s.ref_coverage, vec![1, 2, 0, 1, 2, 2]);
    }

    #[test]
    fn synonyms_need_different_words() {
        let s = stage("auto dog", "car dog");
        assert_eq!(s.by_start[0], vec![Match::at(Module::Synonym, 0, 1, 0, 1)]);
        assert_eq!(s.by_start[1], vec![Match::at(Module::Exact, 1, 1, 1, 1)]);
    }

    #[test]
    fn identical_lines_only_match_exactly() {
        let s = stage("dogs small", "dogs small");
        assert_eq!(s.by_start[0], vec![Match::at(Module::Exact, 0, 1, 0, 1)]);
        assert_eq!(s.by_start[1], vec![Match::at(Module::Exact, 1, 1, 1, 1)]);
        let s = stage("dogs small", "dog tiny");
        assert_eq!(
            s.by_start[0],
            vec![
                Match::at(Module::Stem, 0, 1, 0, 1),
                Match::at(Module::Synonym, 0, 1, 0, 1)
            ]
        );
        assert_eq!(
            s.by_start[1],
            vec![Match::at(Module::Paraphrase, 1, 1, 1, 1)]
        );
    }

    #[test]
    fn hash_collisions_are_exact_matches() {
        // "Aa" and "BB" share a Java hash: the jar takes them for the same word.
        let s = stage("Aa", "BB");
        assert_eq!(s.by_start[0], vec![Match::at(Module::Exact, 0, 1, 0, 1)]);
    }
}
