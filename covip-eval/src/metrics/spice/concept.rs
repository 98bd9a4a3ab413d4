//! SPICE's `SemanticConcept`: a small set of words or phrases (lemmas) with the union of their
//! WordNet synsets. Two concepts are *similar* when they share a word or a synset; they are
//! *equal* when both sets are equal.
//!
//! Java keeps both sets in `HashSet`s, and the order in which a `HashSet<String>` iterates
//! shows in SPICE's output (a merged concept prints as `"automobile/auto/car"`) and in the
//! order of sorted tuples. [`SemanticConcept::concepts`] reproduces that iteration order
//! (String hash codes, bucket index, insertion order within a bucket), so that tuples print and
//! sort as the jar prints and sorts them. Synsets are kept sorted; the jar compares them in
//! `HashSet<Integer>` order, which only decides the order of two tuples whose words are all
//! the same (it never changes a score).

use std::cmp::Ordering;

use crate::metrics::wordnet::{SynonymDictionary, share_synset};

/// `java.lang.String.hashCode()` (shared with METEOR, which compares words by it).
pub use crate::metrics::meteor::java::string_hash as java_string_hash;

/// The order in which a `java.util.HashSet` created empty (capacity 16, load factor 0.75) and
/// filled by `add` in the given order iterates its elements, from their hash codes: by bucket
/// (`(h ^ (h >>> 16)) & (capacity - 1)`), and in insertion order within a bucket (which Java
/// 8+ resizing preserves). Tree bins (8+ entries in one bucket of a 64+ table) are not
/// modelled; concept sets hold a handful of words.
pub(crate) fn java_hash_set_order(hashes: &[i32]) -> Vec<usize> {
    let mut capacity = 16usize;
    while hashes.len() > capacity / 4 * 3 {
        capacity *= 2;
    }
    let bucket = |h: i32| {
        let h = h as u32;
        ((h ^ (h >> 16)) as usize) & (capacity - 1)
    };
    let mut order: Vec<usize> = (0..hashes.len()).collect();
    order.sort_by_key(|&i| bucket(hashes[i]));
    order
}

/// Java's `String.trim()`: strips every leading and trailing char `<= ' '`.
fn java_trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// The synsets SPICE attaches to a word or phrase (`SceneGraph.getSynSets`): the phrase is
/// trimmed, lower-cased and its spaces become `_`; then its own synsets and its stem synsets
/// (METEOR's `getSynSets` ∪ `getStemSynSets`). Sorted and unique.
pub fn concept_synsets(word: &str, dict: &SynonymDictionary) -> Vec<u32> {
    let key = java_trim(word).to_lowercase().replace(' ', "_");
    let mut out: Vec<u32> = dict.synsets(&key).to_vec();
    out.extend(dict.stem_synsets(&key));
    out.sort_unstable();
    out.dedup();
    out
}

/// A set of words with their synsets (see the module documentation).
#[derive(Clone, Debug)]
pub struct SemanticConcept {
    /// Unique words in Java insertion order (iteration order is computed from it).
    words: Vec<String>,
    /// Sorted, unique synset offsets.
    synsets: Vec<u32>,
}

impl SemanticConcept {
    /// One word with the given synsets (stored as written; SPICE does not normalise the word
    /// itself, only the key it looks synsets up with).
    pub fn new(word: impl Into<String>, synsets: &[u32]) -> Self {
        let mut synsets = synsets.to_vec();
        synsets.sort_unstable();
        synsets.dedup();
        Self {
            words: vec![word.into()],
            synsets,
        }
    }

    /// One word with the synsets SPICE looks up for it ([`concept_synsets`]).
    pub fn from_word(word: &str, dict: &SynonymDictionary) -> Self {
        Self::new(word, &concept_synsets(word, dict))
    }

    /// The words in the order Java's `HashSet<String>` iterates them.
    pub fn concepts(&self) -> Vec<&str> {
        let hashes: Vec<i32> = self.words.iter().map(|w| java_string_hash(w)).collect();
        java_hash_set_order(&hashes)
            .into_iter()
            .map(|i| self.words[i].as_str())
            .collect()
    }

    /// The synset offsets, sorted.
    pub fn synsets(&self) -> &[u32] {
        &self.synsets
    }

    /// True when `word` is one of the words.
    pub fn contains(&self, word: &str) -> bool {
        self.words.iter().any(|w| w == word)
    }

    /// `SemanticConcept.merge`: adds the other's words (in its iteration order) and synsets;
    /// true when anything changed.
    pub fn merge(&mut self, other: &SemanticConcept) -> bool {
        let mut changed = false;
        for w in other.concepts() {
            if !self.contains(w) {
                self.words.push(w.to_string());
                changed = true;
            }
        }
        let before = self.synsets.len();
        self.synsets.extend_from_slice(&other.synsets);
        self.synsets.sort_unstable();
        self.synsets.dedup();
        changed || self.synsets.len() != before
    }

    /// `SemanticConcept.similarTo`: a shared synset or a shared word.
    pub fn similar_to(&self, other: &SemanticConcept) -> bool {
        share_synset(&self.synsets, &other.synsets) || self.words.iter().any(|w| other.contains(w))
    }

    /// `SemanticConcept.similarity` (a Java `float`): 1 with a shared word, else the Jaccard
    /// index of the synset sets (NaN when both are empty, which then never wins a `>`).
    pub fn similarity(&self, other: &SemanticConcept) -> f32 {
        if self.words.iter().any(|w| other.contains(w)) {
            return 1.0;
        }
        let (a, b) = (&self.synsets, &other.synsets);
        let (mut i, mut j, mut inter) = (0, 0, 0usize);
        while i < a.len() && j < b.len() {
            match a[i].cmp(&b[j]) {
                Ordering::Less => i += 1,
                Ordering::Greater => j += 1,
                Ordering::Equal => {
                    inter += 1;
                    i += 1;
                    j += 1;
                }
            }
        }
        let union = a.len() + b.len() - inter;
        inter as f32 / union as f32
    }

    /// `SemanticConcept.toString()`: the words joined with `/` in iteration order — how the
    /// jar prints a concept in its detailed output and what its tuple filters compare.
    pub fn java_string(&self) -> String {
        self.concepts().join("/")
    }

    /// `SemanticConcept.compareTo`: the words lexicographically in iteration order (Java
    /// `String.compareTo`, UTF-16 code units), then the synsets (here in sorted order).
    pub fn java_cmp(&self, other: &SemanticConcept) -> Ordering {
        let a = self.concepts();
        let b = other.concepts();
        for (x, y) in a.iter().zip(&b) {
            let o = x.encode_utf16().cmp(y.encode_utf16());
            if o != Ordering::Equal {
                return o;
            }
        }
        a.len()
            .cmp(&b.len())
            .then_with(|| self.synsets.cmp(&other.synsets))
    }
}

impl PartialEq for SemanticConcept {
    /// `SemanticConcept.equals`: equal word sets and equal synset sets.
    fn eq(&self, other: &Self) -> bool {
        self.words.len() == other.words.len()
            && self.words.iter().all(|w| other.contains(w))
            && self.synsets == other.synsets
    }
}

impl Eq for SemanticConcept {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_hash_matches_java() {
        // Values from java.lang.String.hashCode.
        assert_eq!(java_string_hash(""), 0);
        assert_eq!(java_string_hash("a"), 97);
        assert_eq!(java_string_hash("dog"), 99644);
        assert_eq!(java_string_hash("automobile"), 356_593_425);
        assert_eq!(java_string_hash("little"), -1_102_478_602);
    }

    #[test]
    fn hash_set_order_is_by_bucket_then_insertion() {
        // "car", "auto" and "automobile" fall in buckets 5, 2 and 0 of 16.
        let words = ["car", "auto", "automobile"];
        let hashes: Vec<i32> = words.iter().map(|w| java_string_hash(w)).collect();
        let order: Vec<&str> = java_hash_set_order(&hashes)
            .into_iter()
            .map(|i| words[i])
            .collect();
        assert_eq!(order, ["automobile", "auto", "car"]);
    }

    #[test]
    fn similarity_is_one_on_a_shared_word_else_jaccard() {
        let a = SemanticConcept::new("a", &[1, 2, 3]);
        let b = SemanticConcept::new("b", &[3, 4]);
        assert!((a.similarity(&b) - 0.25).abs() < 1e-7);
        assert!(a.similar_to(&b));
        let c = SemanticConcept::new("a", &[]);
        assert_eq!(a.similarity(&c), 1.0);
        let d = SemanticConcept::new("d", &[]);
        assert!(c.similarity(&d).is_nan());
        assert!(!c.similar_to(&d));
    }

    #[test]
    fn merge_unions_words_and_synsets() {
        let mut a = SemanticConcept::new("car", &[5, 1]);
        assert!(a.merge(&SemanticConcept::new("auto", &[5, 7])));
        assert!(!a.merge(&SemanticConcept::new("car", &[1])));
        assert_eq!(a.synsets(), &[1, 5, 7]);
        assert_eq!(a.java_string(), "auto/car");
        let mut b = SemanticConcept::new("auto", &[1, 5, 7]);
        b.merge(&SemanticConcept::new("car", &[]));
        assert_eq!(a, b);
    }
}
