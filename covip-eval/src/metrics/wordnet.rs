//! The WordNet synonym dictionary that METEOR 1.5 (synonym module) and SPICE (concept matching)
//! read from METEOR's English resources: `english.synsets` (word, then its synset offsets),
//! `english.exceptions` (base form, then its irregular inflected forms) and
//! `english.relations` (not used by either scorer, so not loaded).
//!
//! A word's synsets are looked up as written; its *stem* synsets go through the irregular
//! forms first and otherwise through WordNet 3's suffix-stripping rules (`morph`), exactly as
//! METEOR's `SynonymDictionary` does, including its quirks:
//! - the suffix table is tried in order and the first rewrite that is a known word wins;
//! - a word ending in `ss`, or of at most two UTF-16 code units (Java's `String.length`), is
//!   its own base;
//! - the `-ful` handling of WordNet's original is dead code there (no suffix of the table ends
//!   in `l`), so a word ending in `ful` never gets a base;
//! - when no rule applies the base is the empty string, which has no synsets.

use std::collections::HashMap;
use std::path::Path;

use super::error::MetricsError;

/// WordNet 3 noun, verb and adjective suffixes and their replacements, in METEOR's order.
const SUFFIX_RULES: [(&str, &str); 20] = [
    // nouns
    ("s", ""),
    ("ses", "s"),
    ("xes", "x"),
    ("zes", "z"),
    ("ches", "ch"),
    ("shes", "sh"),
    ("men", "man"),
    ("ies", "y"),
    // verbs
    ("s", ""),
    ("ies", "y"),
    ("es", "e"),
    ("es", ""),
    ("ed", "e"),
    ("ed", ""),
    ("ing", "e"),
    ("ing", ""),
    // adjectives
    ("er", ""),
    ("est", ""),
    ("er", "e"),
    ("est", "e"),
];

/// Synsets of English words and the irregular forms that lead to base words.
#[derive(Debug, Clone, Default)]
pub struct SynonymDictionary {
    /// word → synset offsets (sorted, unique).
    word_to_synsets: HashMap<String, Vec<u32>>,
    /// inflected form → base forms, in file order.
    form_to_bases: HashMap<String, Vec<String>>,
}

fn read(path: &Path) -> Result<String, MetricsError> {
    std::fs::read_to_string(path).map_err(|source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn line_error(path: &Path, line: usize, message: impl Into<String>) -> MetricsError {
    MetricsError::Record {
        path: path.to_path_buf(),
        record: format!("line {line}"),
        field: "<line>".into(),
        message: message.into(),
    }
}

impl SynonymDictionary {
    /// Loads `english.synsets` and `english.exceptions` from METEOR's `synonym` folder.
    pub fn load(synonym_dir: &Path) -> Result<Self, MetricsError> {
        let syn_path = synonym_dir.join("english.synsets");
        let exc_path = synonym_dir.join("english.exceptions");
        let synsets = read(&syn_path)?;
        let exceptions = read(&exc_path)?;
        Self::parse(&synsets, &exceptions).map_err(|(which, line, message)| {
            let path = if which == 0 { &syn_path } else { &exc_path };
            line_error(path, line, message)
        })
    }

    /// Parses the two files' contents. Errors are (0 = synsets / 1 = exceptions, 1-based line,
    /// message).
    pub fn parse(synsets: &str, exceptions: &str) -> Result<Self, (u8, usize, String)> {
        let mut word_to_synsets: HashMap<String, Vec<u32>> = HashMap::new();
        let mut lines = synsets.lines().enumerate();
        while let Some((_, word)) = lines.next() {
            let Some((i, ids)) = lines.next() else {
                return Err((0, 0, format!("word {word:?} has no synset line")));
            };
            let mut set = Vec::new();
            for tok in ids.split_whitespace() {
                let id: u32 = tok
                    .parse()
                    .map_err(|_| (0, i + 1, format!("not a synset offset: {tok:?}")))?;
                set.push(id);
            }
            set.sort_unstable();
            set.dedup();
            // A later entry for the same word replaces the earlier one, as a Java Hashtable
            // put does.
            word_to_synsets.insert(word.to_string(), set);
        }
        let mut form_to_bases: HashMap<String, Vec<String>> = HashMap::new();
        let mut lines = exceptions.lines().enumerate();
        while let Some((_, base)) = lines.next() {
            let Some((_, forms)) = lines.next() else {
                return Err((1, 0, format!("base {base:?} has no forms line")));
            };
            for form in forms.split_whitespace() {
                form_to_bases
                    .entry(form.to_string())
                    .or_default()
                    .push(base.to_string());
            }
        }
        Ok(Self {
            word_to_synsets,
            form_to_bases,
        })
    }

    /// Number of words with synsets.
    pub fn len(&self) -> usize {
        self.word_to_synsets.len()
    }

    /// True when no word has synsets.
    pub fn is_empty(&self) -> bool {
        self.word_to_synsets.is_empty()
    }

    /// The synsets of `word` as written (empty when unknown); sorted.
    pub fn synsets(&self, word: &str) -> &[u32] {
        self.word_to_synsets
            .get(word)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// The synsets of `word`'s base forms: the union over its irregular bases when it has any,
    /// else the synsets of its `morph` base. Sorted and unique.
    pub fn stem_synsets(&self, word: &str) -> Vec<u32> {
        if let Some(bases) = self.form_to_bases.get(word) {
            let mut out: Vec<u32> = bases
                .iter()
                .flat_map(|b| self.synsets(b).iter().copied())
                .collect();
            out.sort_unstable();
            out.dedup();
            return out;
        }
        self.synsets(&self.morph(word)).to_vec()
    }

    /// WordNet's regular morphology as METEOR applies it: the base form of `word`, or `""`.
    pub fn morph(&self, word: &str) -> String {
        if word.ends_with("ss") || word.encode_utf16().nth(2).is_none() {
            return word.to_string();
        }
        for (suffix, replacement) in SUFFIX_RULES {
            if let Some(stem) = word.strip_suffix(suffix) {
                let candidate = format!("{stem}{replacement}");
                if self.word_to_synsets.contains_key(&candidate) {
                    return candidate;
                }
            }
        }
        String::new()
    }
}

/// True when two sorted synset lists intersect (METEOR's and SPICE's synonym test).
pub fn share_synset(a: &[u32], b: &[u32]) -> bool {
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        match a[i].cmp(&b[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dict() -> SynonymDictionary {
        let synsets = "dog\n2 1\ncat\n3\nbox\n5\nfly\n7\nrun\n9\nbake\n11\nhot\n13\nwoman\n15\n";
        let exceptions = "run\nran\ngo\nwent gone\nwoman\nwomen\n";
        SynonymDictionary::parse(synsets, exceptions).unwrap()
    }

    #[test]
    fn synsets_are_sorted_and_unknown_is_empty() {
        let d = dict();
        assert_eq!(d.synsets("dog"), &[1, 2]);
        assert!(d.synsets("dogs").is_empty());
        assert_eq!(d.len(), 8);
    }

    #[test]
    fn morph_follows_the_suffix_table_in_order() {
        let d = dict();
        assert_eq!(d.morph("dogs"), "dog");
        assert_eq!(d.morph("boxes"), "box");
        assert_eq!(d.morph("flies"), "fly");
        assert_eq!(d.morph("baked"), "bake");
        assert_eq!(d.morph("baking"), "bake");
        assert_eq!(d.morph("running"), "");
        assert_eq!(d.morph("hotter"), "");
        assert_eq!(d.morph("glass"), "glass");
        assert_eq!(d.morph("ox"), "ox");
        assert_eq!(d.morph("handful"), "");
        // Java counts UTF-16 units: one astral character is already two.
        assert_eq!(d.morph("😀"), "😀");
        assert_eq!(d.morph("é"), "é");
    }

    #[test]
    fn stem_synsets_prefer_irregular_forms() {
        let d = dict();
        assert_eq!(d.stem_synsets("ran"), vec![9]);
        assert_eq!(d.stem_synsets("women"), vec![15]);
        assert_eq!(d.stem_synsets("dogs"), vec![1, 2]);
        // An irregular form whose base has no synsets gets none, even if a rule would apply.
        assert!(d.stem_synsets("went").is_empty());
        assert!(d.stem_synsets("zzz").is_empty());
    }

    #[test]
    fn share_synset_is_a_sorted_intersection_test() {
        assert!(share_synset(&[1, 4, 9], &[2, 9]));
        assert!(!share_synset(&[1, 4], &[2, 3, 5]));
        assert!(!share_synset(&[], &[1]));
    }

    #[test]
    fn a_dangling_word_line_is_an_error() {
        assert!(SynonymDictionary::parse("dog\n1\ncat\n", "").is_err());
        assert!(SynonymDictionary::parse("dog\nx\n", "").is_err());
    }
}
