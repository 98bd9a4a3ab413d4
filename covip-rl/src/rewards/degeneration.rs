//! The degeneration filter δ(y) (SPEC §4.2): repeated sentences, repeated 5-grams, repeated
//! chunks of 10/20/30 words, and a token-length limit.
//!
//! Text normalisation follows the released code exactly: the text is trimmed, lower-cased and
//! every run of white space (Python's definition, which adds U+001C–U+001F to Unicode's) becomes
//! one space. Sentences are the pieces between runs of `.`, `!`, `?`; words are the pieces
//! between spaces. A level is only evaluated when its minimum size is met; its ratio is then
//! compared with `>=` against its threshold.
//!
//! ```
//! use covip_rl::{DegenerationConfig, DegenerationFilter};
//! let filter = DegenerationFilter::new(DegenerationConfig::default());
//! let looped = "The dog sleeps. ".repeat(6);
//! let report = filter.report(&looped).unwrap();
//! assert!(report.degenerate);
//! assert_eq!(report.sentence_ratio, Some(5.0 / 6.0));
//! assert_eq!(report.ngram_ratio, None); // 18 words < 4 * 5
//! assert!(!filter.is_degenerate("A calm lake at dawn.").unwrap());
//! ```
use std::cell::RefCell;
use std::sync::Arc;

/// Counts tokens the way the policy model's tokenizer does; what the length limit needs.
pub trait TokenCounter {
    /// The number of tokens `text` encodes to.
    fn count_tokens(&self, text: &str) -> Result<usize, TokenCountError>;
}

/// A tokenizer failed to count a text's tokens.
#[derive(Debug, thiserror::Error)]
#[error("token counting failed: {0}")]
pub struct TokenCountError(pub String);

/// Uses `encode(text, add_special_tokens = true)`, as `tokenizer.encode(text)` does in
/// `transformers` (Qwen tokenizers add no special tokens to plain text).
impl TokenCounter for tokenizers::Tokenizer {
    fn count_tokens(&self, text: &str) -> Result<usize, TokenCountError> {
        self.encode(text, true)
            .map(|e| e.len())
            .map_err(|e| TokenCountError(e.to_string()))
    }
}

impl<T: TokenCounter + ?Sized> TokenCounter for Arc<T> {
    fn count_tokens(&self, text: &str) -> Result<usize, TokenCountError> {
        (**self).count_tokens(text)
    }
}

/// Thresholds and sizes of the filter; `Default` gives the SPEC/released values.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct DegenerationConfig {
    /// τ_s: degenerate when the duplicate-sentence ratio is `>=` this (0.3).
    pub sentence_threshold: f64,
    /// The sentence level is evaluated only with at least this many sentences (4).
    pub min_sentences: usize,
    /// n of the n-gram level (5).
    pub ngram_n: usize,
    /// τ_n (0.3).
    pub ngram_threshold: f64,
    /// The n-gram level needs at least `ngram_min_factor * n` words (4).
    pub ngram_min_factor: usize,
    /// Chunk sizes s (10, 20, 30).
    pub chunk_sizes: Vec<usize>,
    /// τ_c, shared by every chunk size (0.2).
    pub chunk_threshold: f64,
    /// A chunk size s needs at least `chunk_min_factor * s` words (2).
    pub chunk_min_factor: usize,
    /// l: degenerate when the text has more than this many tokens (511). Only applied when the
    /// filter has a [`TokenCounter`].
    pub max_tokens: usize,
}

impl Default for DegenerationConfig {
    fn default() -> Self {
        DegenerationConfig {
            sentence_threshold: 0.3,
            min_sentences: 4,
            ngram_n: 5,
            ngram_threshold: 0.3,
            ngram_min_factor: 4,
            chunk_sizes: vec![10, 20, 30],
            chunk_threshold: 0.2,
            chunk_min_factor: 2,
            max_tokens: 511,
        }
    }
}

/// Every level's ratio and the verdict for one text.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct DegenerationReport {
    /// (total − distinct) / total over sentences; `None` below `min_sentences`.
    pub sentence_ratio: Option<f64>,
    /// (total − distinct) / total over n-word windows; `None` below `ngram_min_factor * n` words.
    pub ngram_ratio: Option<f64>,
    /// (size, repeated / windows) per chunk size, in configuration order; `None` below
    /// `chunk_min_factor * size` words.
    pub chunk_ratios: Vec<(usize, Option<f64>)>,
    /// Tokens under the filter's tokenizer; `None` without one.
    pub token_count: Option<usize>,
    /// `token_count > max_tokens` (false without a tokenizer).
    pub too_long: bool,
    /// Whether any repetition level reached its threshold.
    pub repetitive: bool,
    /// δ(y): `repetitive || too_long`.
    pub degenerate: bool,
}

impl DegenerationReport {
    /// The ratio of chunk size `size`, if that size is configured and evaluated.
    pub fn chunk_ratio(&self, size: usize) -> Option<f64> {
        self.chunk_ratios
            .iter()
            .find(|(s, _)| *s == size)
            .and_then(|(_, r)| *r)
    }
}

/// The filter: a configuration and an optional tokenizer for the length limit.
#[derive(Clone, Default)]
pub struct DegenerationFilter {
    config: DegenerationConfig,
    counter: Option<Arc<dyn TokenCounter + Send + Sync>>,
}

impl std::fmt::Debug for DegenerationFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DegenerationFilter")
            .field("config", &self.config)
            .field("token_counter", &self.counter.is_some())
            .finish()
    }
}

impl DegenerationFilter {
    /// A filter without a tokenizer: the length limit is not applied.
    pub fn new(config: DegenerationConfig) -> Self {
        DegenerationFilter {
            config,
            counter: None,
        }
    }

    /// Applies the length limit with `counter`.
    pub fn with_token_counter(mut self, counter: Arc<dyn TokenCounter + Send + Sync>) -> Self {
        self.counter = Some(counter);
        self
    }

    /// Applies the length limit with the Hugging Face tokenizer in `path` (`tokenizer.json`).
    pub fn with_tokenizer_file(self, path: &std::path::Path) -> Result<Self, TokenCountError> {
        let tok = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| TokenCountError(format!("loading tokenizer {}: {e}", path.display())))?;
        Ok(self.with_token_counter(Arc::new(tok)))
    }

    pub fn config(&self) -> &DegenerationConfig {
        &self.config
    }

    pub fn has_token_counter(&self) -> bool {
        self.counter.is_some()
    }

    /// Every level's ratio, the token count and the verdict.
    pub fn report(&self, text: &str) -> Result<DegenerationReport, TokenCountError> {
        let mut report = repetition_report(text, &self.config);
        if let Some(counter) = &self.counter {
            let n = counter.count_tokens(text)?;
            report.token_count = Some(n);
            report.too_long = n > self.config.max_tokens;
            report.degenerate = report.repetitive || report.too_long;
        }
        Ok(report)
    }

    /// δ(y) only, stopping at the first level that fires (as the released code does); the
    /// tokenizer runs only when no repetition level fired.
    pub fn is_degenerate(&self, text: &str) -> Result<bool, TokenCountError> {
        if is_repetitive(text, &self.config) {
            return Ok(true);
        }
        match &self.counter {
            Some(c) => Ok(c.count_tokens(text)? > self.config.max_tokens),
            None => Ok(false),
        }
    }
}

/// The repetition levels of δ(y) with every ratio (no tokenizer: `token_count` is `None`).
pub fn repetition_report(text: &str, config: &DegenerationConfig) -> DegenerationReport {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        s.load(text);
        let sentence_ratio = s.sentence_ratio(config);
        let ngram_ratio = s.ngram_ratio(config);
        let chunk_ratios: Vec<(usize, Option<f64>)> = config
            .chunk_sizes
            .iter()
            .map(|&size| (size, s.chunk_ratio(size, config)))
            .collect();
        let repetitive = sentence_ratio.is_some_and(|r| r >= config.sentence_threshold)
            || ngram_ratio.is_some_and(|r| r >= config.ngram_threshold)
            || chunk_ratios
                .iter()
                .any(|(_, r)| r.is_some_and(|r| r >= config.chunk_threshold));
        DegenerationReport {
            sentence_ratio,
            ngram_ratio,
            chunk_ratios,
            token_count: None,
            too_long: false,
            repetitive,
            degenerate: repetitive,
        }
    })
}

/// Whether any repetition level fires, evaluating levels in SPEC order and stopping early.
pub fn is_repetitive(text: &str, config: &DegenerationConfig) -> bool {
    SCRATCH.with(|s| {
        let s = &mut *s.borrow_mut();
        s.load(text);
        if s.sentence_ratio(config)
            .is_some_and(|r| r >= config.sentence_threshold)
        {
            return true;
        }
        if s.ngram_ratio(config)
            .is_some_and(|r| r >= config.ngram_threshold)
        {
            return true;
        }
        config.chunk_sizes.iter().any(|&size| {
            s.chunk_ratio(size, config)
                .is_some_and(|r| r >= config.chunk_threshold)
        })
    })
}

/// Python's `str.isspace` (what `\s`, `strip()` and `split()` use in the released code).
fn is_py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

fn is_py_space_ascii(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f)
}

/// Trimmed, lower-cased, white space folded to single spaces.
#[cfg(test)]
fn clean_into(text: &str, out: &mut String) {
    out.clear();
    let mut pending = false;
    if text.is_ascii() {
        // SAFETY-free fast path: ASCII in, ASCII out.
        let mut bytes = std::mem::take(out).into_bytes();
        for &b in text.as_bytes() {
            if is_py_space_ascii(b) {
                pending = !bytes.is_empty();
            } else {
                if pending {
                    bytes.push(b' ');
                    pending = false;
                }
                bytes.push(b.to_ascii_lowercase());
            }
        }
        *out = String::from_utf8(bytes).expect("ASCII bytes are UTF-8");
        return;
    }
    // `str::to_lowercase` applies the final-sigma rule as Python's `lower()` does.
    for c in text.to_lowercase().chars() {
        if is_py_space(c) {
            pending = !out.is_empty();
        } else {
            if pending {
                out.push(' ');
                pending = false;
            }
            out.push(c);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Reusable buffers: the cleaned text, word ids, prefix hashes and an open-addressing table.
#[derive(Default)]
struct Scratch {
    clean: String,
    ids: Vec<u32>,
    prefix: Vec<u64>,
    powers: Vec<u64>,
    /// Per word of `clean`: (start, end) byte span and its hash.
    spans: Vec<(u32, u32)>,
    hashes: Vec<u64>,
    /// Word table: index into `spans` of the first occurrence, or `u32::MAX`.
    word_slots: Vec<u32>,
    table: Vec<Slot>,
}

#[derive(Clone, Copy)]
struct Slot {
    hash: u64,
    owner: u32,
    count: u32,
}

const EMPTY: Slot = Slot {
    hash: 0,
    owner: u32::MAX,
    count: 0,
};

const HASH_BASE: u64 = 0x100_0000_01b3_u64 | 1 << 40 | 0x5bd1e995;

/// A word's hash, eight bytes at a time.
#[inline]
fn word_hash(w: &[u8]) -> u64 {
    let mut h = w.len() as u64;
    let mut chunks = w.chunks_exact(8);
    for c in &mut chunks {
        let x = u64::from_le_bytes(c.try_into().expect("8 bytes"));
        h = (h.rotate_left(5) ^ x).wrapping_mul(FX_SEED);
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        let mut buf = [0u8; 8];
        buf[..rest.len()].copy_from_slice(rest);
        h = (h.rotate_left(5) ^ u64::from_le_bytes(buf)).wrapping_mul(FX_SEED);
    }
    h
}

/// Single pass over the text: the cleaned bytes, and each word's span and hash.
struct Cleaner<'a> {
    out: &'a mut Vec<u8>,
    spans: &'a mut Vec<(u32, u32)>,
    hashes: &'a mut Vec<u64>,
    pending_space: bool,
    word_start: usize,
    in_word: bool,
}

impl Cleaner<'_> {
    #[inline]
    fn space(&mut self) {
        if self.in_word {
            let w = &self.out[self.word_start..];
            self.hashes.push(word_hash(w));
            self.spans
                .push((self.word_start as u32, self.out.len() as u32));
            self.in_word = false;
        }
        self.pending_space = !self.out.is_empty();
    }

    #[inline]
    fn start_word(&mut self) {
        if !self.in_word {
            if self.pending_space {
                self.out.push(b' ');
                self.pending_space = false;
            }
            self.in_word = true;
            self.word_start = self.out.len();
        }
    }

    #[inline]
    fn byte(&mut self, b: u8) {
        self.start_word();
        self.out.push(b);
    }

    /// A run of ASCII bytes that are not white space.
    #[inline]
    fn ascii_run(&mut self, run: &[u8]) {
        self.start_word();
        self.out.extend(run.iter().map(u8::to_ascii_lowercase));
    }

    fn char(&mut self, c: char) {
        let mut buf = [0u8; 4];
        for &b in c.encode_utf8(&mut buf).as_bytes() {
            self.byte(b);
        }
    }
}

impl Scratch {
    fn load(&mut self, text: &str) {
        // Python lower-cases Σ by context (final sigma); `str::to_lowercase` does the same, and
        // character-wise lower-casing agrees with it everywhere else.
        if text.contains('Σ') {
            let lower = text.to_lowercase();
            self.load_from(&lower);
        } else {
            self.load_from(text);
        }
    }

    fn load_from(&mut self, text: &str) {
        let mut out = std::mem::take(&mut self.clean).into_bytes();
        out.clear();
        out.reserve(text.len() + 8);
        self.spans.clear();
        self.hashes.clear();
        {
            let mut c = Cleaner {
                out: &mut out,
                spans: &mut self.spans,
                hashes: &mut self.hashes,
                pending_space: false,
                word_start: 0,
                in_word: false,
            };
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                if b < 0x80 {
                    if is_py_space_ascii(b) {
                        c.space();
                        i += 1;
                    } else {
                        let mut j = i + 1;
                        while j < bytes.len() && bytes[j] < 0x80 && !is_py_space_ascii(bytes[j]) {
                            j += 1;
                        }
                        c.ascii_run(&bytes[i..j]);
                        i = j;
                    }
                } else {
                    let ch = text[i..].chars().next().expect("char boundary");
                    i += ch.len_utf8();
                    if is_py_space(ch) {
                        c.space();
                    } else {
                        for lc in ch.to_lowercase() {
                            c.char(lc);
                        }
                    }
                }
            }
            c.pending_space = false;
            c.space();
        }
        self.clean = String::from_utf8(out).expect("cleaning keeps UTF-8");
        // Intern words: equal words get equal ids (hashes pick the slot, bytes confirm).
        let n_words = self.spans.len();
        let cap = (n_words * 2).next_power_of_two().max(16);
        let mask = cap - 1;
        self.word_slots.clear();
        self.word_slots.resize(cap, u32::MAX);
        self.ids.clear();
        let bytes = self.clean.as_bytes();
        for w in 0..n_words {
            let (s, e) = self.spans[w];
            let word = &bytes[s as usize..e as usize];
            let mut slot = (fold(self.hashes[w]) as usize) & mask;
            let id = loop {
                let owner = self.word_slots[slot];
                if owner == u32::MAX {
                    self.word_slots[slot] = w as u32;
                    break w as u32;
                }
                let (os, oe) = self.spans[owner as usize];
                if self.hashes[owner as usize] == self.hashes[w]
                    && &bytes[os as usize..oe as usize] == word
                {
                    break owner;
                }
                slot = (slot + 1) & mask;
            };
            self.ids.push(id);
        }
        // Prefix hashes over mixed ids; a window's hash is pre[i + n] - pre[i] * B^n.
        self.prefix.clear();
        self.prefix.push(0);
        let mut h = 0u64;
        for &id in &self.ids {
            h = h.wrapping_mul(HASH_BASE).wrapping_add(mix(id as u64 + 1));
            self.prefix.push(h);
        }
    }

    fn sentence_ratio(&self, config: &DegenerationConfig) -> Option<f64> {
        let mut sentences: Vec<&[u8]> = self
            .clean
            .as_bytes()
            .split(|&b| matches!(b, b'.' | b'!' | b'?'))
            .map(|s| s.trim_ascii())
            .filter(|s| !s.is_empty())
            .collect();
        let total = sentences.len();
        if total < config.min_sentences || total == 0 {
            return None;
        }
        sentences.sort_unstable();
        sentences.dedup();
        Some((total - sentences.len()) as f64 / total as f64)
    }

    fn ngram_ratio(&mut self, config: &DegenerationConfig) -> Option<f64> {
        let n = config.ngram_n;
        let words = self.ids.len();
        if n == 0 || words < config.ngram_min_factor.saturating_mul(n) || words < n {
            return None;
        }
        let (total, distinct, _) = self.count_windows(n);
        Some((total - distinct) as f64 / total as f64)
    }

    fn chunk_ratio(&mut self, size: usize, config: &DegenerationConfig) -> Option<f64> {
        let words = self.ids.len();
        if size == 0 || words < config.chunk_min_factor.saturating_mul(size) || words < size {
            return None;
        }
        let (total, _, repeated) = self.count_windows(size);
        Some(repeated as f64 / total as f64)
    }

    /// (windows, distinct windows, sum of counts of windows seen more than once) for size n.
    /// Exact: hashes only pick the slot; equal hashes are confirmed by comparing the words.
    fn count_windows(&mut self, n: usize) -> (usize, usize, usize) {
        let total = self.ids.len() + 1 - n;
        while self.powers.len() <= n {
            let p = self.powers.last().map_or(1, |p| p.wrapping_mul(HASH_BASE));
            self.powers.push(p);
        }
        let pn = self.powers[n];
        let cap = (total * 2).next_power_of_two().max(16);
        let mask = cap - 1;
        self.table.clear();
        self.table.resize(cap, EMPTY);
        let ids = &self.ids;
        let table = &mut self.table;
        let mut distinct = 0usize;
        let mut repeated = 0usize;
        for i in 0..total {
            let h = self.prefix[i + n].wrapping_sub(self.prefix[i].wrapping_mul(pn));
            let mut slot = (fold(h) as usize) & mask;
            loop {
                let e = &mut table[slot];
                if e.owner == u32::MAX {
                    *e = Slot {
                        hash: h,
                        owner: i as u32,
                        count: 1,
                    };
                    distinct += 1;
                    break;
                }
                let o = e.owner as usize;
                if e.hash == h && ids[o..o + n] == ids[i..i + n] {
                    // A window seen a second time adds both occurrences, later ones one each.
                    e.count += 1;
                    repeated += if e.count == 2 { 2 } else { 1 };
                    break;
                }
                slot = (slot + 1) & mask;
            }
        }
        (total, distinct, repeated)
    }
}

fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn fold(h: u64) -> u64 {
    (h ^ (h >> 29)).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 17
}

const FX_SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> DegenerationConfig {
        DegenerationConfig::default()
    }

    /// A direct, slow transcription of the SPEC formulas, to check the fast path against.
    fn naive(text: &str, c: &DegenerationConfig) -> (Option<f64>, Option<f64>, Vec<Option<f64>>) {
        let lower = text.to_lowercase();
        let clean = lower
            .split(is_py_space)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(" ");
        let sents: Vec<&str> = clean
            .split(['.', '!', '?'])
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        let sr = (sents.len() >= c.min_sentences && !sents.is_empty()).then(|| {
            let d: std::collections::HashSet<&&str> = sents.iter().collect();
            (sents.len() - d.len()) as f64 / sents.len() as f64
        });
        let words: Vec<&str> = clean.split(' ').filter(|s| !s.is_empty()).collect();
        let windows = |n: usize| -> Vec<String> {
            (0..words.len() + 1 - n)
                .map(|i| words[i..i + n].join(" "))
                .collect()
        };
        let nr = (words.len() >= c.ngram_min_factor * c.ngram_n).then(|| {
            let w = windows(c.ngram_n);
            let d: std::collections::HashSet<&String> = w.iter().collect();
            (w.len() - d.len()) as f64 / w.len() as f64
        });
        let cr = c
            .chunk_sizes
            .iter()
            .map(|&s| {
                (words.len() >= c.chunk_min_factor * s).then(|| {
                    let w = windows(s);
                    let mut m = std::collections::HashMap::<&String, usize>::new();
                    for x in &w {
                        *m.entry(x).or_default() += 1;
                    }
                    let rep: usize = m.values().filter(|&&v| v > 1).sum();
                    rep as f64 / w.len() as f64
                })
            })
            .collect();
        (sr, nr, cr)
    }

    #[test]
    fn cleaning_matches_python() {
        let mut s = String::new();
        clean_into("  Hello\t\tWORLD \n x\u{1f}y  ", &mut s);
        assert_eq!(s, "hello world x y");
        clean_into("\u{a0}ΟΔΟΣ  Ünïcode\u{2003}end\u{3000}", &mut s);
        assert_eq!(s, "οδος ünïcode end");
        clean_into(" \n\t", &mut s);
        assert_eq!(s, "");
    }

    #[test]
    fn hand_worked_sentence_level() {
        // 5 sentences, 3 distinct -> 2/5 = 0.4 >= 0.3.
        let t = "A cat. A cat! The sun?? A CAT. Rain.";
        let r = repetition_report(t, &cfg());
        assert_eq!(r.sentence_ratio, Some(0.4));
        assert!(r.repetitive);
        // 3 sentences: level not evaluated even though all repeat.
        let r = repetition_report("Go. Go. Go.", &cfg());
        assert_eq!(r.sentence_ratio, None);
        assert!(!r.degenerate);
        // Exactly at the threshold counts (>=): 10 sentences, 7 distinct -> 0.3.
        let t = "a. b. c. d. e. f. g. a. b. c.";
        assert_eq!(repetition_report(t, &cfg()).sentence_ratio, Some(0.3));
        assert!(repetition_report(t, &cfg()).repetitive);
    }

    #[test]
    fn hand_worked_ngram_and_chunks() {
        // 20 words "w0 .. w9 w0 .. w9": 16 five-grams, 6 distinct... count: windows starting at
        // 0..=15; windows 10..=15 repeat windows 0..=5, so distinct = 10, ratio = 6/16.
        let words: Vec<String> = (0..10).map(|i| format!("w{i}")).collect();
        let t = format!("{} {}", words.join(" "), words.join(" "));
        let r = repetition_report(&t, &cfg());
        assert_eq!(r.ngram_ratio, Some(6.0 / 16.0));
        // chunk 10: 11 windows, window 0 == window 10 -> repeated = 2, ratio 2/11.
        assert_eq!(r.chunk_ratio(10), Some(2.0 / 11.0));
        assert_eq!(r.chunk_ratio(20), None);
        assert_eq!(r.chunk_ratio(30), None);
        assert!(r.repetitive); // 0.375 >= 0.3
        // 19 words: the n-gram level needs 20.
        let t19: Vec<String> = (0..19).map(|_| "same".to_string()).collect();
        let r = repetition_report(&t19.join(" "), &cfg());
        assert_eq!(r.ngram_ratio, None);
        assert!(!r.repetitive);
    }

    #[test]
    fn matches_naive_on_random_texts() {
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let vocab = [
            "the", "dog", "Dog", "ran", ".", "!", "park", "é", "ΣΑΣ", "a.b", "x?", "\t", "\n",
        ];
        let c = cfg();
        for _ in 0..400 {
            let n = (next() % 140) as usize;
            let mut t = String::new();
            for _ in 0..n {
                t.push_str(vocab[(next() % vocab.len() as u64) as usize]);
                t.push(if next() % 5 == 0 { '\u{2003}' } else { ' ' });
            }
            let r = repetition_report(&t, &c);
            let (sr, nr, cr) = naive(&t, &c);
            assert_eq!(r.sentence_ratio, sr, "{t:?}");
            assert_eq!(r.ngram_ratio, nr, "{t:?}");
            let got: Vec<Option<f64>> = r.chunk_ratios.iter().map(|x| x.1).collect();
            assert_eq!(got, cr, "{t:?}");
            assert_eq!(is_repetitive(&t, &c), r.repetitive);
        }
    }
}
