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
use std::path::Path;

use serde::Deserialize;
use serde_json::{Value, json};

use super::caption::read_ordered_object;
use super::error::MetricsError;

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

impl ChairCaption {
    /// CHAIR_s of this caption: whether it mentions a hallucinated object.
    pub fn is_hallucinated(&self) -> bool {
        !self.hallucinated.is_empty()
    }

    /// CHAIR_i of this caption ([`chair_i`] of its counts).
    pub fn chair_i(&self) -> f64 {
        chair_i(self.hallucinated.len(), self.mentions.len())
    }
}

/// CHAIR_i: hallucinated mentions / all mentions, 0 without mentions (the one formula, for a
/// caption and for a corpus).
pub fn chair_i(hallucinated: usize, mentions: usize) -> f64 {
    if mentions == 0 {
        0.0
    } else {
        hallucinated as f64 / mentions as f64
    }
}

/// Ground-truth categories per image id.
pub type GroundTruth = HashMap<String, BTreeSet<String>>;

/// COCO `instances_*.json`, the parts CHAIR reads.
#[derive(Deserialize)]
struct CocoInstances {
    categories: Vec<CocoCategory>,
    annotations: Vec<CocoInstance>,
}

#[derive(Deserialize)]
struct CocoCategory {
    id: Value,
    name: String,
}

#[derive(Deserialize)]
struct CocoInstance {
    image_id: Value,
    category_id: Value,
}

/// COCO `captions_*.json`, the parts CHAIR reads.
#[derive(Deserialize)]
struct CocoCaptions {
    annotations: Vec<CocoCaption>,
}

#[derive(Deserialize)]
struct CocoCaption {
    image_id: Value,
    caption: String,
}

/// An image id as the captions file keys it: a string as written, a number as JSON text.
fn id_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, MetricsError> {
    let text = std::fs::read_to_string(path).map_err(|source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| MetricsError::Json {
        path: path.to_path_buf(),
        line: None,
        message: e.to_string(),
    })
}

fn record_err(path: &Path, record: &str, field: &str, message: impl Into<String>) -> MetricsError {
    MetricsError::Record {
        path: path.to_path_buf(),
        record: record.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// Reads a captions file for CHAIR: a JSON object, image id → caption (a string or a
/// one-element list), in file order.
pub fn read_captions(path: &Path) -> Result<Vec<(String, String)>, MetricsError> {
    let caps = read_ordered_object(path)?;
    let mut out = Vec::with_capacity(caps.0.len());
    for (id, v) in caps.0 {
        let text = match v {
            Value::String(s) => s,
            Value::Array(mut a) if a.len() == 1 && a[0].is_string() => match a.pop() {
                Some(Value::String(s)) => s,
                _ => String::new(),
            },
            _ => {
                return Err(record_err(
                    path,
                    &id,
                    "<value>",
                    "expected a caption string or a one-element list",
                ));
            }
        };
        out.push((id, text));
    }
    if out.is_empty() {
        return Err(record_err(path, "<file>", "<root>", "no captions"));
    }
    Ok(out)
}

/// A CHAIR run over a captions file: image ids in file order and their scores.
#[derive(Debug, Clone, PartialEq)]
pub struct ChairReport {
    /// Image ids, in the captions file's order.
    pub ids: Vec<String>,
    /// The scores (per caption in the same order).
    pub scores: ChairScores,
}

impl ChairReport {
    /// The report as `covip metrics chair` prints it.
    pub fn to_json(&self) -> Value {
        let per: serde_json::Map<String, Value> = self
            .ids
            .iter()
            .zip(&self.scores.per_caption)
            .map(|(id, p)| {
                let pairs = |v: &[(String, String)]| {
                    v.iter().map(|(w, k)| json!([w, k])).collect::<Vec<_>>()
                };
                (
                    id.clone(),
                    json!({
                        "mentions": pairs(&p.mentions),
                        "hallucinated": pairs(&p.hallucinated),
                        "CHAIRs": u8::from(p.is_hallucinated()),
                        "CHAIRi": p.chair_i(),
                    }),
                )
            })
            .collect();
        json!({
            "CHAIRs": self.scores.chair_s,
            "CHAIRi": self.scores.chair_i,
            "n": self.ids.len(),
            "per_image": per,
        })
    }
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
        let lower = covip_data::pystr::lower(caption);
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

    /// Adds a ground-truth file: a JSON object, image id → list of object names (COCO
    /// names, synonyms or free text, see [`Self::categories_of`]).
    pub fn add_ground_truth_file(
        &self,
        gt: &mut GroundTruth,
        path: &Path,
    ) -> Result<(), MetricsError> {
        for (id, v) in read_ordered_object(path)?.0 {
            let Value::Array(list) = v else {
                return Err(record_err(
                    path,
                    &id,
                    "<value>",
                    "expected a list of object names",
                ));
            };
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            if names.len() != list.len() {
                return Err(record_err(
                    path,
                    &id,
                    "<value>",
                    "object names must be strings",
                ));
            }
            gt.entry(id).or_default().extend(self.categories_of(names));
        }
        Ok(())
    }

    /// Adds the categories of a COCO `instances_*.json`'s annotations.
    pub fn add_coco_instances(
        &self,
        gt: &mut GroundTruth,
        path: &Path,
    ) -> Result<(), MetricsError> {
        let coco: CocoInstances = read_json(path)?;
        let names: HashMap<String, &str> = coco
            .categories
            .iter()
            .map(|c| (c.id.to_string(), c.name.as_str()))
            .collect();
        for (i, ann) in coco.annotations.iter().enumerate() {
            let name = names.get(&ann.category_id.to_string()).ok_or_else(|| {
                record_err(
                    path,
                    &format!("annotations[{i}]"),
                    "category_id",
                    format!("unknown category_id {}", ann.category_id),
                )
            })?;
            gt.entry(id_string(&ann.image_id))
                .or_default()
                .extend(self.categories_of([*name]));
        }
        Ok(())
    }

    /// Adds the objects mentioned in a COCO `captions_*.json`'s human captions.
    pub fn add_coco_captions(&self, gt: &mut GroundTruth, path: &Path) -> Result<(), MetricsError> {
        let coco: CocoCaptions = read_json(path)?;
        for ann in &coco.annotations {
            gt.entry(id_string(&ann.image_id))
                .or_default()
                .extend(self.mentions(&ann.caption).into_iter().map(|(_, k)| k));
        }
        Ok(())
    }

    /// CHAIR of a captions file ([`read_captions`]) against `gt`; every image needs ground
    /// truth.
    pub fn score_file(
        &self,
        captions: &Path,
        gt: &GroundTruth,
    ) -> Result<ChairReport, MetricsError> {
        let caps = read_captions(captions)?;
        let mut truths = Vec::with_capacity(caps.len());
        for (id, _) in &caps {
            truths.push(gt.get(id).cloned().ok_or_else(|| MetricsError::Mismatch {
                message: format!(
                    "image {id:?} of {} has no ground-truth objects",
                    captions.display()
                ),
            })?);
        }
        let (ids, texts): (Vec<String>, Vec<String>) = caps.into_iter().unzip();
        let scores = self.score(&texts, &truths)?;
        Ok(ChairReport { ids, scores })
    }

    /// CHAIR over captions paired with their images' ground-truth categories; an error when
    /// the slices differ in length.
    pub fn score(
        &self,
        captions: &[String],
        gt: &[BTreeSet<String>],
    ) -> Result<ChairScores, MetricsError> {
        if captions.len() != gt.len() {
            return Err(MetricsError::Input(format!(
                "{} captions but {} ground-truth sets: one per caption",
                captions.len(),
                gt.len()
            )));
        }
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
        Ok(ChairScores {
            chair_s: if captions.is_empty() {
                0.0
            } else {
                n_hall_caps as f64 / captions.len() as f64
            },
            chair_i: chair_i(n_hall, n_mentions),
            per_caption,
        })
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
        let s = c.score(&caps, &gt).unwrap();
        assert!(c.score(&caps, &gt[..1]).is_err());
        assert!((s.per_caption[0].chair_i() - 1.0 / 3.0).abs() < 1e-12);
        assert!(s.per_caption[0].is_hallucinated() && !s.per_caption[1].is_hallucinated());
        assert_eq!(s.chair_s, 0.5);
        assert!((s.chair_i - 1.0 / 4.0).abs() < 1e-12);
        assert_eq!(
            s.per_caption[0].hallucinated,
            vec![("cat".to_string(), "cat".to_string())]
        );
    }

    #[test]
    fn coco_files_give_the_ground_truth() {
        let tmp = tempfile::tempdir().unwrap();
        let inst = tmp.path().join("instances.json");
        std::fs::write(
            &inst,
            r#"{"images":[],"categories":[{"id":18,"name":"dog"},{"id":63,"name":"couch"}],
                "annotations":[{"image_id":7,"category_id":18,"bbox":[1,2,3,4]},{"image_id":"8","category_id":63}]}"#,
        )
        .unwrap();
        let caps = tmp.path().join("captions.json");
        std::fs::write(
            &caps,
            r#"{"annotations":[{"image_id":7,"caption":"A cat on a bed."}]}"#,
        )
        .unwrap();
        let c = Chair::new();
        let mut gt = GroundTruth::new();
        c.add_coco_instances(&mut gt, &inst).unwrap();
        c.add_coco_captions(&mut gt, &caps).unwrap();
        let want: BTreeSet<String> = ["bed", "cat", "dog"].map(String::from).into();
        assert_eq!(gt["7"], want);
        assert_eq!(gt["8"], ["couch".to_string()].into());
        std::fs::write(
            &inst,
            r#"{"categories":[],"annotations":[{"image_id":7,"category_id":5}]}"#,
        )
        .unwrap();
        let e = c
            .add_coco_instances(&mut gt, &inst)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown category_id 5"), "{e}");
        let cands = tmp.path().join("c.json");
        std::fs::write(&cands, r#"{"7": ["A dog and a cat."], "9": "A car."}"#).unwrap();
        let e = c.score_file(&cands, &gt).unwrap_err().to_string();
        assert!(e.contains("\"9\"") && e.contains("no ground-truth"), "{e}");
        std::fs::write(&cands, r#"{"7": ["A dog and a cat."]}"#).unwrap();
        let r = c.score_file(&cands, &gt).unwrap();
        assert_eq!(r.ids, ["7"]);
        let j = r.to_json();
        assert_eq!(j["CHAIRs"], 0.0);
        assert_eq!(j["per_image"]["7"]["CHAIRi"], 0.0);
    }
}
