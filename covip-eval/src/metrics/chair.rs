//! CHAIR (Rohrbach et al. 2018) as the original `chair.py` computes it: object mentions are the
//! words of a caption that belong to the 80 COCO categories or their synonyms (the released
//! synonym table, read the way the script reads it), after lower-casing, tokenising,
//! singularising, merging COCO "double words" (`hot dog`, `baby bird` → `bird`, ...) and the
//! `toilet seat` rule. CHAIR_s = share of captions with at least one hallucinated object;
//! CHAIR_i = hallucinated mentions / all mentions.
//!
//! Differences from the script, by design: tokenisation is a word/punctuation split (not NLTK's
//! Punkt word tokenizer) and singularisation uses a rule set plus an irregular-plural table
//! (not `pattern.en`), applied only to words outside the synonym vocabulary. They only matter
//! for words that would map onto a COCO synonym.

use std::collections::{BTreeSet, HashMap, HashSet};

const SYNONYMS: &str = include_str!("chair_synonyms.txt");

const DOUBLE_WORDS: &[&str] = &[
    "motor bike",
    "motor cycle",
    "air plane",
    "traffic light",
    "street light",
    "traffic signal",
    "stop light",
    "fire hydrant",
    "stop sign",
    "parking meter",
    "suit case",
    "sports ball",
    "baseball bat",
    "baseball glove",
    "tennis racket",
    "wine glass",
    "hot dog",
    "cell phone",
    "mobile phone",
    "teddy bear",
    "hair drier",
    "potted plant",
    "bow tie",
    "laptop computer",
    "stove top oven",
    "hot dog",
    "teddy bear",
    "home plate",
];
const ANIMAL_WORDS: &[&str] = &[
    "bird", "cat", "dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe",
    "animal", "cub",
];
const VEHICLE_WORDS: &[&str] = &["jet", "train"];

/// Irregular plurals of words that can reach the synonym vocabulary.
const IRREGULAR: &[(&str, &str)] = &[
    ("men", "man"),
    ("women", "woman"),
    ("gentlemen", "gentleman"),
    ("policemen", "policeman"),
    ("servicemen", "serviceman"),
    ("grandchildren", "grandchild"),
    ("mice", "mouse"),
    ("geese", "goose"),
    ("knives", "knife"),
    ("pocketknives", "pocketknife"),
    ("wives", "wife"),
    ("calves", "calf"),
    ("thieves", "thief"),
    ("shelves", "shelf"),
    ("leaves", "leaf"),
    ("feet", "foot"),
    ("teeth", "tooth"),
    ("ladies", "lady"),
    ("puppies", "puppy"),
    ("buses", "bus"),
    ("passersby", "passerby"),
    ("oxen", "oxen"),
    ("sheep", "sheep"),
    ("cattle", "cattle"),
];

/// The CHAIR vocabulary and rules.
#[derive(Debug, Clone)]
pub struct Chair {
    /// Every synonym (as the script reads them) → its category's first name.
    inverse: HashMap<String, String>,
    double: HashMap<String, String>,
}

/// One caption's CHAIR analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct ChairCaption {
    /// Object mentions as (word, category) in caption order.
    pub mentions: Vec<(String, String)>,
    /// Mentions whose category is not among the ground-truth objects.
    pub hallucinated: Vec<(String, String)>,
}

/// Corpus CHAIR scores.
#[derive(Debug, Clone, PartialEq)]
pub struct ChairScores {
    /// Share of captions with at least one hallucinated object.
    pub chair_s: f64,
    /// Hallucinated mentions / all mentions (0 when there are no mentions).
    pub chair_i: f64,
    /// Per caption, in input order.
    pub per_caption: Vec<ChairCaption>,
}

impl Default for Chair {
    fn default() -> Self {
        Self::new()
    }
}

impl Chair {
    /// The released COCO synonym table and double-word rules.
    pub fn new() -> Self {
        let mut inverse = HashMap::new();
        for line in SYNONYMS.lines() {
            // As the script: strip the line, split on ", " (items keep any extra space).
            let items: Vec<&str> = line.trim().split(", ").collect();
            if items.is_empty() || items[0].is_empty() {
                continue;
            }
            for s in &items {
                inverse.insert((*s).to_string(), items[0].to_string());
            }
        }
        let mut double = HashMap::new();
        for d in DOUBLE_WORDS {
            double.insert(d.to_string(), d.to_string());
        }
        for a in ANIMAL_WORDS {
            double.insert(format!("baby {a}"), a.to_string());
            double.insert(format!("adult {a}"), a.to_string());
        }
        for v in VEHICLE_WORDS {
            double.insert(format!("passenger {v}"), v.to_string());
        }
        double.insert("bow tie".into(), "tie".into());
        double.insert("toilet seat".into(), "toilet".into());
        double.insert("wine glas".into(), "wine glass".into());
        Chair { inverse, double }
    }

    /// The category (first synonym) of `word`, if it is in the vocabulary.
    pub fn category(&self, word: &str) -> Option<&str> {
        self.inverse.get(word).map(String::as_str)
    }

    /// Number of categories (80 for COCO).
    pub fn n_categories(&self) -> usize {
        self.inverse.values().collect::<HashSet<_>>().len()
    }

    fn singularize(&self, w: &str) -> String {
        if self.inverse.contains_key(w) {
            return w.to_string();
        }
        if let Some((_, s)) = IRREGULAR.iter().find(|(p, _)| *p == w) {
            return (*s).to_string();
        }
        let n = w.len();
        if n > 3 && w.ends_with("ies") && !w[..n - 3].ends_with(['a', 'e', 'i', 'o', 'u']) {
            return format!("{}y", &w[..n - 3]);
        }
        for suf in ["ches", "shes", "sses", "xes", "zes", "oes"] {
            if n > suf.len() + 1 && w.ends_with(suf) {
                return w[..n - 2].to_string();
            }
        }
        if n > 2
            && w.ends_with('s')
            && !w.ends_with("ss")
            && !w.ends_with("us")
            && !w.ends_with("is")
        {
            return w[..n - 1].to_string();
        }
        w.to_string()
    }

    /// Object mentions of one caption as (word, category), in order.
    pub fn mentions(&self, caption: &str) -> Vec<(String, String)> {
        let lower = caption.to_lowercase();
        let words: Vec<String> = lower
            .split(|c: char| !(c.is_alphanumeric() || c == '-'))
            .map(|w| w.trim_matches('-'))
            .filter(|w| !w.is_empty())
            .map(|w| self.singularize(w))
            .collect();
        let mut merged = Vec::with_capacity(words.len());
        let mut i = 0;
        while i < words.len() {
            if i + 1 < words.len() {
                let pair = format!("{} {}", words[i], words[i + 1]);
                if let Some(m) = self.double.get(&pair) {
                    merged.push(m.clone());
                    i += 2;
                    continue;
                }
            }
            merged.push(words[i].clone());
            i += 1;
        }
        if merged.iter().any(|w| w == "toilet") && merged.iter().any(|w| w == "seat") {
            merged.retain(|w| w != "seat");
        }
        merged
            .into_iter()
            .filter_map(|w| self.inverse.get(&w).map(|c| (w.clone(), c.clone())))
            .collect()
    }

    /// Ground-truth categories from object names (COCO category names or any synonym, or
    /// free text whose mentions are taken). Unknown names are ignored.
    pub fn categories_of<'a>(
        &self,
        objects: impl IntoIterator<Item = &'a str>,
    ) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        for o in objects {
            match self.inverse.get(o) {
                Some(c) => {
                    out.insert(c.clone());
                }
                None => out.extend(self.mentions(o).into_iter().map(|(_, c)| c)),
            }
        }
        out
    }

    /// CHAIR over captions paired with their images' ground-truth categories.
    pub fn score(&self, captions: &[String], gt: &[BTreeSet<String>]) -> ChairScores {
        assert_eq!(captions.len(), gt.len(), "one ground-truth set per caption");
        let (mut n_hall_caps, mut n_hall, mut n_mentions) = (0usize, 0usize, 0usize);
        let mut per_caption = Vec::with_capacity(captions.len());
        for (cap, objs) in captions.iter().zip(gt) {
            let mentions = self.mentions(cap);
            let hallucinated: Vec<(String, String)> = mentions
                .iter()
                .filter(|(_, c)| !objs.contains(c))
                .cloned()
                .collect();
            n_mentions += mentions.len();
            n_hall += hallucinated.len();
            if !hallucinated.is_empty() {
                n_hall_caps += 1;
            }
            per_caption.push(ChairCaption {
                mentions,
                hallucinated,
            });
        }
        ChairScores {
            chair_s: if captions.is_empty() {
                0.0
            } else {
                n_hall_caps as f64 / captions.len() as f64
            },
            chair_i: if n_mentions == 0 {
                0.0
            } else {
                n_hall as f64 / n_mentions as f64
            },
            per_caption,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vocabulary_has_80_categories() {
        assert_eq!(Chair::new().n_categories(), 80);
    }

    #[test]
    fn mentions_follow_the_script_rules() {
        let c = Chair::new();
        let m = c.mentions("Two men eat hot dogs next to a baby bird and a toilet seat.");
        let cats: Vec<&str> = m.iter().map(|(_, c)| c.as_str()).collect();
        assert_eq!(cats, vec!["person", "hot dog", "bird", "toilet"]);
        // "motor bike" has a leading space in the released table, so it never matches.
        assert!(c.category(" motor bike").is_some() && c.category("motor bike").is_none());
        assert_eq!(c.mentions("a pair of scissors and skis")[0].1, "scissors");
    }

    #[test]
    fn chair_s_and_chair_i() {
        let c = Chair::new();
        let caps = vec![
            "a dog and a cat on a couch".to_string(),
            "a man".to_string(),
        ];
        let gt = vec![
            c.categories_of(["dog", "couch"]),
            c.categories_of(["person"]),
        ];
        let s = c.score(&caps, &gt);
        assert_eq!(s.chair_s, 0.5);
        assert!((s.chair_i - 1.0 / 4.0).abs() < 1e-12);
        assert_eq!(
            s.per_caption[0].hallucinated,
            vec![("cat".to_string(), "cat".to_string())]
        );
    }
}
