//! A deterministic corpus of realistic caption-reward records for the reward benchmarks: captions
//! of 50–600 words (a share of them degenerate: looping sentences or repeated chunks), the QAs of
//! 1–4 present concepts and twice as many absent ones, and judge outputs in the released style.
//! Used by `benches/rewards.rs` and `src/bin/reward_compare.rs`.
use serde_json::{Value, json};

struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() as f64 / (1u64 << 31) as f64) < p
    }
}

const COMMON: &[&str] = &[
    "the",
    "a",
    "in",
    "on",
    "of",
    "and",
    "with",
    "is",
    "near",
    "at",
    "her",
    "his",
    "their",
    "soft",
    "light",
    "afternoon",
    "kitchen",
    "window",
    "table",
    "smiles",
    "sits",
    "stands",
    "looks",
    "warm",
    "quiet",
    "morning",
    "park",
    "bench",
    "dog",
    "cat",
    "mug",
    "sofa",
    "garden",
    "again",
    "remember",
    "last",
    "time",
    "we",
    "talked",
    "about",
    "trip",
    "seems",
    "happy",
    "wearing",
    "jacket",
    "blue",
    "red",
    "green",
    "beside",
    "behind",
    "holding",
    "photo",
];
const NAMES: &[&str] = &[
    "Pino", "Mina", "Jun", "Ara", "Coco", "Haru", "Seo-yeon", "Bori", "Luca", "Inès", "Dae-ho",
];
const PLACES: &[&str] = &[
    "Busan Station",
    "Jeju",
    "Seoul Forest",
    "Gwangalli Beach",
    "the Han River",
    "Incheon",
];

fn word(rng: &mut Lcg) -> String {
    match rng.below(20) {
        0 => NAMES[rng.below(NAMES.len())].to_string(),
        1 => PLACES[rng.below(PLACES.len())].to_string(),
        2..=4 => {
            // Rare words: a large synthetic vocabulary.
            let len = 4 + rng.below(7);
            (0..len)
                .map(|_| (b'a' + rng.below(26) as u8) as char)
                .collect()
        }
        _ => COMMON[rng.below(COMMON.len())].to_string(),
    }
}

fn sentence(rng: &mut Lcg) -> String {
    let n = 8 + rng.below(13);
    let mut words: Vec<String> = (0..n).map(|_| word(rng)).collect();
    let first = &words[0];
    let cap = first[..1].to_uppercase() + &first[1..];
    words[0] = cap;
    let end = [".", ".", ".", "!", "?"][rng.below(5)];
    format!("{}{end}", words.join(" "))
}

fn words_of(s: &str) -> usize {
    s.split_whitespace().count()
}

/// One caption of about `target` words; `mode` 0 = natural, 1 = looping sentence,
/// 2 = repeated chunk in the middle.
fn caption(rng: &mut Lcg, target: usize, mode: usize) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut n = 0;
    match mode {
        1 => {
            let head = 1 + rng.below(3);
            for _ in 0..head {
                let s = sentence(rng);
                n += words_of(&s);
                parts.push(s);
            }
            let lp = sentence(rng);
            while n < target {
                n += words_of(&lp);
                parts.push(lp.clone());
            }
        }
        2 => {
            let chunk = sentence(rng) + " " + &sentence(rng);
            while n < target {
                let s = if rng.chance(0.55) {
                    chunk.clone()
                } else {
                    sentence(rng)
                };
                n += words_of(&s);
                parts.push(s);
            }
        }
        _ => {
            while n < target {
                let s = sentence(rng);
                n += words_of(&s);
                parts.push(s);
            }
        }
    }
    parts.join(if rng.chance(0.2) { "\n" } else { " " })
}

fn qa(rng: &mut Lcg, id: String) -> Value {
    let opts: Vec<String> = (0..3).map(|_| word(rng)).collect();
    let correct = ["A", "B", "C"][rng.below(3)];
    json!({
        "id": id,
        "question": format!("Where did {} go {}?", NAMES[rng.below(NAMES.len())], word(rng)),
        "options": {"A": opts[0], "B": opts[1], "C": opts[2], "D": "The answer cannot be determined"},
        "correct_answer": correct,
    })
}

fn judge_output(rng: &mut Lcg) -> String {
    let reasoning = "The description mentions the dog near the window but says nothing about \
                     where the trip took place, so only one option is supported.";
    match rng.below(10) {
        0 => "I cannot find the answer in the description.".to_string(),
        1 => format!("{reasoning}\nAnswer: \\boxed{{A or D}}"),
        2 => format!("{reasoning}\nAnswer: \\boxed{{\\text{{B}}}}"),
        _ => format!(
            "{reasoning}\nAnswer: \\boxed{{{}}}",
            ["A", "B", "C", "D", "D"][rng.below(5)]
        ),
    }
}

/// `n` records `{id, task: "caption", completion, pos_qas, neg_qas, judge_pos, judge_neg}`;
/// about `degenerate_share` of them repetitive.
pub fn records(n: usize, degenerate_share: f64, seed: u64) -> Vec<Value> {
    let mut rng = Lcg(seed);
    (0..n)
        .map(|i| {
            let target = 50 + rng.below(551);
            let mode = if rng.chance(degenerate_share) {
                1 + rng.below(2)
            } else {
                0
            };
            let completion = caption(&mut rng, target, mode);
            let present = 1 + rng.below(4);
            let pos: Vec<Vec<Value>> = (0..present)
                .map(|c| {
                    (0..3)
                        .map(|k| qa(&mut rng, format!("{i}-p{c}-{k}")))
                        .collect()
                })
                .collect();
            let neg: Vec<Value> = (0..present * 6)
                .map(|k| qa(&mut rng, format!("{i}-n{k}")))
                .collect();
            let judge_pos: Vec<String> = (0..present * 3).map(|_| judge_output(&mut rng)).collect();
            let judge_neg: Vec<String> = (0..neg.len()).map(|_| judge_output(&mut rng)).collect();
            json!({
                "id": i,
                "task": "caption",
                "completion": completion,
                "pos_qas": pos,
                "neg_qas": neg,
                "judge_pos": judge_pos,
                "judge_neg": judge_neg,
            })
        })
        .collect()
}

/// One corpus record, parsed for the Rust reward functions.
pub struct CaptionRecord {
    pub caption: String,
    /// Positive QAs, flattened in order.
    pub pos: Vec<covip_data::Qa>,
    pub neg: Vec<covip_data::Qa>,
    pub judge_pos: Vec<String>,
    pub judge_neg: Vec<String>,
}

impl CaptionRecord {
    /// Parses a record of [`records`] (the `covip reward` input shape).
    pub fn from_value(v: &Value) -> CaptionRecord {
        let field = |k: &str| v[k].clone();
        CaptionRecord {
            caption: v["completion"].as_str().expect("completion").to_string(),
            pos: serde_json::from_value::<Vec<Vec<covip_data::Qa>>>(field("pos_qas"))
                .expect("pos_qas")
                .into_iter()
                .flatten()
                .collect(),
            neg: serde_json::from_value(field("neg_qas")).expect("neg_qas"),
            judge_pos: serde_json::from_value(field("judge_pos")).expect("judge_pos"),
            judge_neg: serde_json::from_value(field("judge_neg")).expect("judge_neg"),
        }
    }
}
