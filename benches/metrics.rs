//! Caption metrics on a 5000-image corpus built here (seeded, no files, no Python): PTB
//! tokenisation (both streams, as `covip metrics caption` runs it), the shared n-gram counts,
//! BLEU-1..4, ROUGE-L, CIDEr-D and the three metrics together. Criterion reports elements/s =
//! images per second. The corpus follows `scripts/metrics_corpus.py` (plain captions salted
//! with contractions, brackets, quotes, URLs, numbers, abbreviations and non-ASCII text; a
//! candidate is a perturbed reference about half the time). The tokenizer is compiled once,
//! so these are steady-state figures; `scripts/metrics_bench_coco.py` times whole processes
//! against pycocoevalcap.
use std::hint::black_box;

use covip_data::rng::SeededRng;
use covip_eval::metrics::ngram::GramCorpus;
use covip_eval::metrics::{CaptionCorpus, CaptionMetric, bleu, cider, rouge, score_captions};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

const IMAGES: usize = 5000;

const NOUNS: &[&str] = &[
    "man",
    "woman",
    "dog",
    "cat",
    "child",
    "bicycle",
    "car",
    "street",
    "table",
    "kitchen",
    "pizza",
    "plate",
    "cup",
    "laptop",
    "phone",
    "train",
    "bus",
    "boat",
    "bird",
    "horse",
    "sheep",
    "cow",
    "elephant",
    "bear",
    "zebra",
    "giraffe",
    "umbrella",
    "bag",
    "tie",
    "suitcase",
    "frisbee",
    "skis",
    "snowboard",
    "kite",
    "bat",
    "glove",
    "skateboard",
    "surfboard",
    "racket",
    "bottle",
    "glass",
    "fork",
    "knife",
    "spoon",
    "bowl",
    "banana",
    "apple",
    "sandwich",
    "orange",
    "broccoli",
    "carrot",
    "hot",
    "dog",
    "donut",
    "cake",
    "chair",
    "couch",
    "plant",
    "bed",
    "toilet",
    "tv",
    "mouse",
    "remote",
    "keyboard",
    "microwave",
    "oven",
    "toaster",
    "sink",
    "refrigerator",
    "book",
    "clock",
    "vase",
    "scissors",
    "teddy",
    "bear",
    "hair",
    "drier",
    "toothbrush",
    "window",
    "door",
    "wall",
    "sky",
    "tree",
    "grass",
    "water",
    "beach",
    "mountain",
    "road",
    "building",
    "sign",
    "shirt",
    "hat",
    "jacket",
    "person",
    "people",
    "boy",
    "girl",
    "player",
    "team",
    "field",
    "court",
    "park",
    "city",
    "room",
];
const ADJS: &[&str] = &[
    "red",
    "blue",
    "green",
    "yellow",
    "white",
    "black",
    "small",
    "large",
    "old",
    "young",
    "wooden",
    "shiny",
    "wet",
    "dry",
    "tall",
    "short",
    "bright",
    "dark",
    "colorful",
    "colourful",
    "striped",
    "empty",
    "full",
    "busy",
    "quiet",
    "grey",
    "gray",
    "happy",
    "sleepy",
];
const VERBS: &[&str] = &[
    "sitting", "standing", "walking", "running", "riding", "holding", "eating", "playing",
    "looking", "lying", "parked", "flying", "jumping", "carrying", "wearing", "watching",
    "crossing", "waiting", "cutting", "throwing",
];
const PREPS: &[&str] = &[
    "on", "in", "near", "next", "to", "under", "behind", "beside", "with", "at", "by", "over",
    "across", "along",
];
const DETS: &[&str] = &[
    "a", "an", "the", "two", "three", "some", "A", "The", "Two", "several", "many",
];
const FRAGMENTS: &[&str] = &[
    "a man's hat",
    "the dogs' bowls",
    "it's raining",
    "they're here",
    "we've got it",
    "I'd say",
    "you'll see",
    "don't",
    "doesn't",
    "can't",
    "won't",
    "shouldn't",
    "isn't",
    "ain't",
    "y'all",
    "o'clock",
    "rock'n'roll",
    "'tis",
    "'twas",
    "cannot",
    "gonna",
    "wanna",
    "gotta",
    "lemme",
    "gimme",
    "(in the background)",
    "[blurry]",
    "{note}",
    "( spaced )",
    "\"quoted\"",
    "\" spaced quote \"",
    "'single'",
    "`backtick'",
    "``latex''",
    "\u{201c}smart\u{201d}",
    "\u{2018}curly\u{2019}",
    "\u{00ab}guillemets\u{00bb}",
    "state-of-the-art",
    "well-known",
    "x-ray",
    "co-op",
    "e-mail",
    "--",
    "---",
    "----",
    "-",
    " - ",
    "\u{2014}",
    "\u{2013}",
    "...",
    "\u{2026}",
    ". . .",
    "3.5",
    "1,000",
    "10:30",
    "12/25/2014",
    "1/2",
    "\u{00bd}",
    "\u{00bc}",
    "3 1/2",
    "$5",
    "US$10",
    "\u{00a3}3",
    "\u{20ac}20",
    "\u{00a2}",
    "\u{00a5}100",
    "50%",
    "#1",
    "#hashtag",
    "@user",
    "foo@bar.com",
    "http://www.example.com/a?b=1",
    "https://x.org/path.",
    "www.google.com",
    "example.com",
    "Example.com",
    "U.S.",
    "U.S.A.",
    "Mr. Smith",
    "Dr. Who",
    "Inc.",
    "etc.",
    "e.g.",
    "i.e.",
    "a.m.",
    "p.m.",
    "No. 5",
    "vs.",
    "Jan. 5",
    "St. Louis",
    "Calif.",
    "fig. 3",
    "ca. 1900",
    "Co. Ltd",
    "Jones'",
    "James's",
    "Caf\u{00e9}",
    "na\u{00ef}ve",
    "r\u{00e9}sum\u{00e9}",
    "Z\u{00fc}rich",
    "\u{0130}stanbul",
    "\u{03a3}\u{039f}\u{03a6}\u{0399}\u{0391}",
    "\u{0395}\u{03bb}\u{03bb}\u{03ac}\u{03b4}\u{03b1}",
    "\u{5317}\u{4eac}",
    "\u{6771}\u{4eac}\u{30bf}\u{30ef}\u{30fc}",
    "emoji \u{1f600} here",
    "a\u{00a0}b",
    "tab\there",
    "multi   space",
    "C++",
    "C#",
    "F#",
    "AT&T",
    "S&P",
    "&amp;",
    "&quot;",
    "<b>bold</b>",
    "<br/>",
    "a < b",
    "c > d",
    ":)",
    ";-)",
    ":(",
    "^_^",
    "2x4",
    "4x4",
    "5km",
    "100m",
    "3rd",
    "21st",
    "1990s",
    "'90s",
    "A+",
    "B-",
    "x^2",
    "a/b",
    "and/or",
    "50/50",
    "file.txt",
    "photo.jpg",
    "n't",
    "'s",
    "'m",
    "O'Neil",
    "d'Artagnan",
    "l'amour",
    "c'mon",
    "cont'd",
    "li'l",
    "ev'ry",
    "Let's",
    "let's",
    "what's",
    "who'd",
    "hmm...",
    "wow!!!",
    "what?!",
    "really??",
    "yes;",
    "no:",
    "a, b",
    "*",
    "***",
    "+",
    "=",
    "~",
    "|",
    "\\",
    "^",
    "_",
    "__",
    "@",
    "\u{00b0}",
    "\u{00d7}",
    "\u{00b1}",
    "\u{00a9}",
    "\u{00ae}",
    "\u{2122}",
    "\u{00a7}",
    "\u{00b6}",
    "\u{2022}",
    "\u{00b7}",
    "\u{00bf}qu\u{00e9}?",
    "\u{00a1}hola!",
    "2,5",
    "1.000.000",
    "-5",
    "+3",
    "555-1234",
    "(555) 123-4567",
    "isn't it?",
    "THE END.",
    "I.",
    "A. The",
    "U.S. The",
    "etc. The",
    "Inc. And",
    "end.",
];

/// The corpus generator: covip-data's seeded SplitMix64 with the draws this corpus was first
/// made with (`below` by modulo, not `SeededRng::below`), so the benchmarked corpus, and
/// the figures quoted for it, stay the same.
struct Rng(SeededRng);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        (self.0.next_u64() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        self.0.uniform()
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
}

fn caption(rng: &mut Rng) -> String {
    let mut parts = vec![rng.pick(DETS).to_string()];
    if rng.unit() < 0.6 {
        parts.push(rng.pick(ADJS).into());
    }
    parts.push(rng.pick(NOUNS).into());
    parts.push(rng.pick(&["is", "are", ""]).into());
    parts.push(rng.pick(VERBS).into());
    parts.push(rng.pick(PREPS).into());
    parts.push(rng.pick(DETS).to_lowercase());
    if rng.unit() < 0.5 {
        parts.push(rng.pick(ADJS).into());
    }
    parts.push(rng.pick(NOUNS).into());
    for _ in 0..[0, 0, 1, 1, 2, 3][rng.below(6)] {
        let at = rng.below(parts.len() + 1);
        parts.insert(at, rng.pick(FRAGMENTS).into());
    }
    let sep = rng.pick(&[" ", " ", " ", "  "]);
    let mut text = parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(sep);
    text.push_str(rng.pick(&[".", ".", "", "!", " .", "?", "...", " ,", ",", ";"]));
    if rng.unit() < 0.1 {
        text = text.to_uppercase();
    }
    if rng.unit() < 0.05 {
        text = format!("  {text}  ");
    }
    text
}

fn corpus() -> CaptionCorpus {
    let mut rng = Rng(SeededRng::new(5000));
    let mut c = CaptionCorpus::default();
    for i in 0..IMAGES {
        let refs: Vec<String> = (0..1 + rng.below(6)).map(|_| caption(&mut rng)).collect();
        let r = rng.unit();
        let cand = if r < 0.45 {
            let mut words: Vec<String> = refs[rng.below(refs.len())]
                .split_whitespace()
                .map(str::to_string)
                .collect();
            if words.len() > 3 && rng.unit() < 0.7 {
                words.remove(rng.below(words.len()));
            }
            if rng.unit() < 0.5 {
                let at = rng.below(words.len() + 1);
                words.insert(at, rng.pick(NOUNS).into());
            }
            words.join(" ")
        } else if r < 0.95 {
            caption(&mut rng)
        } else if r < 0.97 {
            String::new()
        } else {
            rng.pick(&["a", "dog", "...", "the the the the", "A"])
                .into()
        };
        c.ids.push(format!("img{i:05}"));
        c.refs.push(refs);
        c.cands.push(cand);
    }
    c
}

fn metrics(c: &mut Criterion) {
    let raw = corpus();
    let tok = raw.tokenized();
    let all = CaptionMetric::parse_list("bleu,rouge,cider").unwrap();
    let mut g = c.benchmark_group("caption_metrics_5000");
    g.throughput(Throughput::Elements(IMAGES as u64));
    g.sample_size(20);
    g.bench_function("tokenize", |b| {
        b.iter(|| black_box(black_box(&raw).tokenized()))
    });
    g.bench_function("ngram_counts", |b| {
        b.iter(|| black_box(GramCorpus::build(black_box(&tok.refs), &tok.cands)))
    });
    g.bench_function("bleu", |b| {
        b.iter(|| black_box(bleu::bleu(black_box(&tok.refs), &tok.cands)))
    });
    g.bench_function("rouge", |b| {
        b.iter(|| black_box(rouge::rouge_l(black_box(&tok.refs), &tok.cands)))
    });
    g.bench_function("cider", |b| {
        b.iter(|| black_box(cider::cider_d(black_box(&tok.refs), &tok.cands)))
    });
    g.bench_function("bleu_rouge_cider", |b| {
        b.iter(|| black_box(score_captions(black_box(&tok), &all).unwrap()))
    });
    g.finish();
}

criterion_group!(benches, metrics);
criterion_main!(benches);
