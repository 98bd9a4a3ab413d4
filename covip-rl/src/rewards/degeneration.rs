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

const fn is_py_space_ascii(b: u8) -> bool {
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

/// Reusable per-thread buffers, so that a caption allocates nothing once they have grown.
///
/// One pass over the text produces the cleaned bytes, each word's span and hash, and each
/// sentence's span. Words are then interned (hash picks the slot, bytes confirm), and every window
/// size becomes a *level*: per window, the index of the first window with the same words (its
/// class), and per class its count. The first level is built from word ids (rolling hash picks the
/// slot, ids confirm); larger sizes are pairs of smaller levels (a 20-window is its first 10-window
/// followed by the next 10-window), keyed exactly by the two class indices, so nothing relies on a
/// hash being collision-free. A window whose part is unique (count 1) is unique too and skips the
/// table.
#[derive(Default)]
struct Scratch {
    /// The cleaned text, followed by at least eight bytes of no meaning (spans index into it).
    clean: Vec<u8>,
    /// Per word of `clean`: (start, end) byte span and hash.
    spans: Vec<(u32, u32)>,
    hashes: Vec<u64>,
    /// Per sentence of `clean` (already trimmed, never empty): (start, end) byte span.
    sentences: Vec<(u32, u32)>,
    /// Whether `ids` and `word_counts` belong to the loaded text (filled on first use).
    interned: bool,
    /// Per word: the index of its first occurrence.
    ids: Vec<u32>,
    /// Per first occurrence of a word: its count.
    word_counts: Vec<u32>,
    prefix: Vec<u64>,
    powers: Vec<u64>,
    /// Levels computed for the loaded text: `levels[..n_levels]` (the rest are spare buffers).
    levels: Vec<Level>,
    n_levels: usize,
    table: Table,
}

#[derive(Default)]
struct Level {
    size: usize,
    /// Per window: the index of the first window with the same words.
    class: Vec<u32>,
    /// Per first window of a class: the class's count (0 elsewhere).
    count: Vec<u32>,
    distinct: usize,
    /// Sum of the counts of classes with count > 1.
    repeated: usize,
}

/// Open addressing without clearing: a slot belongs to the current use when its stamp matches.
#[derive(Default)]
struct Table {
    slots: Vec<Slot>,
    stamp: u32,
    mask: usize,
}

#[derive(Clone, Copy, Default)]
struct Slot {
    key: u64,
    value: u32,
    stamp: u32,
}

impl Table {
    /// Starts a new use for up to `n` entries.
    fn reset(&mut self, n: usize) {
        let cap = (n * 2).next_power_of_two().max(16);
        if cap > self.slots.len() {
            self.slots.clear();
            self.slots.resize(cap, Slot::default());
            self.stamp = 0;
        }
        self.stamp = self.stamp.wrapping_add(1);
        if self.stamp == 0 {
            self.slots.fill(Slot::default());
            self.stamp = 1;
        }
        self.mask = cap - 1;
    }

    /// The value stored under a key equal to `key` (as judged by `same`), or inserts `value`
    /// and returns `None`.
    #[inline]
    fn find_or_insert(&mut self, key: u64, value: u32, same: impl Fn(u32) -> bool) -> Option<u32> {
        let mut i = (fold(key) as usize) & self.mask;
        loop {
            let s = &mut self.slots[i];
            if s.stamp != self.stamp {
                *s = Slot {
                    key,
                    value,
                    stamp: self.stamp,
                };
                return None;
            }
            if s.key == key && same(s.value) {
                return Some(s.value);
            }
            i = (i + 1) & self.mask;
        }
    }
}

const HASH_BASE: u64 = 0x100_0000_01b3_u64 | 1 << 40 | 0x5bd1e995;

/// Eight bytes of `buf` from `at`, of which the first `len` (1..=8) are kept and the rest are 0.
/// `buf` must hold eight bytes from `at`.
#[inline]
fn load8(buf: &[u8], at: usize, len: usize) -> u64 {
    let x = u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"));
    if len >= 8 {
        x
    } else {
        x & ((1u64 << (8 * len)) - 1)
    }
}

/// The table key of the non-empty byte string `buf[s..e]` (`buf` holds eight bytes past `e`):
/// the bytes themselves with the length when it is shorter than eight bytes, so equal keys of
/// equal lengths below eight mean equal strings; a hash of the bytes otherwise.
#[inline]
fn bytes_key(buf: &[u8], s: usize, e: usize) -> u64 {
    let len = e - s;
    if len < 8 {
        return load8(buf, s, len) | (len as u64) << 56;
    }
    let mut h = len as u64;
    let mut i = s;
    while i + 8 <= e {
        h = (h.rotate_left(5) ^ load8(buf, i, 8)).wrapping_mul(FX_SEED);
        i += 8;
    }
    if i < e {
        h = (h.rotate_left(5) ^ load8(buf, i, e - i)).wrapping_mul(FX_SEED);
    }
    h
}

/// Whether `buf[a]` and `buf[b]`, whose keys are equal, are equal strings.
#[inline]
fn same_bytes(buf: &[u8], a: (u32, u32), b: (u32, u32)) -> bool {
    let (la, lb) = (a.1 - a.0, b.1 - b.0);
    la == lb && (la < 8 || buf[a.0 as usize..a.1 as usize] == buf[b.0 as usize..b.1 as usize])
}

/// Byte classes of the cleaning pass.
const WORD: u8 = 0;
const SPACE: u8 = 1;
const STOP: u8 = 2;
const NON_ASCII: u8 = 3;

const CLASSES: [u8; 256] = {
    let mut t = [WORD; 256];
    let mut b = 0;
    while b < 256 {
        if b >= 0x80 {
            t[b] = NON_ASCII;
        } else if is_py_space_ascii(b as u8) {
            t[b] = SPACE;
        } else if b as u8 == b'.' || b as u8 == b'!' || b as u8 == b'?' {
            t[b] = STOP;
        }
        b += 1;
    }
    t
};

/// The state of the single cleaning pass. `out` is written from the start up to `pos` and always
/// holds at least eight bytes more (of no meaning), so that keys can load eight bytes at a time.
struct Cleaner<'a> {
    out: &'a mut Vec<u8>,
    pos: usize,
    spans: &'a mut Vec<(u32, u32)>,
    hashes: &'a mut Vec<u64>,
    sentences: &'a mut Vec<(u32, u32)>,
    pending_space: bool,
    in_word: bool,
    word_start: usize,
    in_sentence: bool,
    sentence_start: usize,
    sentence_end: usize,
}

impl Cleaner<'_> {
    #[inline]
    fn push(&mut self, b: u8) {
        if self.pos + 8 >= self.out.len() {
            let n = self.out.len() * 2 + 64;
            self.out.resize(n, 0);
        }
        self.out[self.pos] = b;
        self.pos += 1;
    }

    #[inline]
    fn space(&mut self) {
        if self.in_word {
            self.hashes
                .push(bytes_key(self.out, self.word_start, self.pos));
            self.spans.push((self.word_start as u32, self.pos as u32));
            self.in_word = false;
        }
        self.pending_space = self.pos > 0;
    }

    /// Before a byte that is not white space.
    #[inline]
    fn start_word(&mut self) {
        if !self.in_word {
            if self.pending_space {
                self.push(b' ');
                self.pending_space = false;
            }
            self.in_word = true;
            self.word_start = self.pos;
        }
    }

    /// A byte of a sentence (not white space, not `.`, `!`, `?`).
    #[inline]
    fn sentence_byte(&mut self, b: u8) {
        self.start_word();
        if !self.in_sentence {
            self.in_sentence = true;
            self.sentence_start = self.pos;
        }
        self.push(b);
        self.sentence_end = self.pos;
    }

    /// The run of ASCII bytes that are neither white space nor `.`, `!`, `?` starting at
    /// `bytes[i]`, lower-cased while it is scanned; returns where the run ends.
    #[inline]
    fn sentence_run(&mut self, bytes: &[u8], mut i: usize) -> usize {
        self.start_word();
        if !self.in_sentence {
            self.in_sentence = true;
            self.sentence_start = self.pos;
        }
        // The run is at most the rest of the text.
        let need = self.pos + (bytes.len() - i) + 8;
        if need >= self.out.len() {
            let n = (self.out.len() * 2).max(need + 64);
            self.out.resize(n, 0);
        }
        let mut pos = self.pos;
        let out = &mut self.out[..];
        while i < bytes.len() {
            let b = bytes[i];
            if CLASSES[b as usize] != WORD {
                break;
            }
            out[pos] = b.to_ascii_lowercase();
            pos += 1;
            i += 1;
        }
        self.pos = pos;
        self.sentence_end = pos;
        i
    }

    /// `.`, `!` or `?`: part of a word, and ends the sentence.
    #[inline]
    fn stop(&mut self, b: u8) {
        self.start_word();
        self.end_sentence();
        self.push(b);
    }

    #[inline]
    fn end_sentence(&mut self) {
        if self.in_sentence {
            self.sentences
                .push((self.sentence_start as u32, self.sentence_end as u32));
            self.in_sentence = false;
        }
    }

    fn finish(&mut self) {
        self.space();
        self.end_sentence();
    }
}

impl Scratch {
    fn load(&mut self, text: &str) {
        // Python lower-cases Σ by context (final sigma); `str::to_lowercase` does the same, and
        // character-wise lower-casing agrees with it everywhere else.
        if !text.is_ascii() && text.contains('Σ') {
            let lower = text.to_lowercase();
            self.load_from(&lower);
        } else {
            self.load_from(text);
        }
    }

    fn load_from(&mut self, text: &str) {
        if self.clean.len() < text.len() + 16 {
            self.clean.resize(text.len() + 16, 0);
        }
        self.spans.clear();
        self.hashes.clear();
        self.sentences.clear();
        self.n_levels = 0;
        {
            let mut c = Cleaner {
                out: &mut self.clean,
                pos: 0,
                spans: &mut self.spans,
                hashes: &mut self.hashes,
                sentences: &mut self.sentences,
                pending_space: false,
                in_word: false,
                word_start: 0,
                in_sentence: false,
                sentence_start: 0,
                sentence_end: 0,
            };
            let bytes = text.as_bytes();
            let mut i = 0;
            while i < bytes.len() {
                let b = bytes[i];
                match CLASSES[b as usize] {
                    WORD => i = c.sentence_run(bytes, i),
                    SPACE => {
                        c.space();
                        i += 1;
                    }
                    STOP => {
                        c.stop(b);
                        i += 1;
                    }
                    _ => {
                        let ch = text[i..].chars().next().expect("char boundary");
                        i += ch.len_utf8();
                        if is_py_space(ch) {
                            c.space();
                        } else {
                            // Lower-casing never yields ASCII white space or `.`, `!`, `?`.
                            let mut buf = [0u8; 4];
                            for lc in ch.to_lowercase() {
                                for &b in lc.encode_utf8(&mut buf).as_bytes() {
                                    c.sentence_byte(b);
                                }
                            }
                        }
                    }
                }
            }
            c.finish();
        }
        self.interned = false;
    }

    /// Interns the words (once per text): equal words get equal ids (the key picks the slot,
    /// the bytes confirm).
    fn intern(&mut self) {
        if self.interned {
            return;
        }
        self.interned = true;
        let n_words = self.spans.len();
        self.table.reset(n_words);
        self.ids.clear();
        self.word_counts.clear();
        self.word_counts.resize(n_words, 0);
        let bytes = &self.clean[..];
        let spans = &self.spans[..];
        for (w, (&span, &h)) in spans.iter().zip(&self.hashes).enumerate() {
            let id = self
                .table
                .find_or_insert(h, w as u32, |o| same_bytes(bytes, spans[o as usize], span))
                .unwrap_or(w as u32);
            self.word_counts[id as usize] += 1;
            self.ids.push(id);
        }
    }

    fn sentence_ratio(&mut self, config: &DegenerationConfig) -> Option<f64> {
        let total = self.sentences.len();
        if total < config.min_sentences || total == 0 {
            return None;
        }
        self.table.reset(total);
        let bytes = &self.clean[..];
        let sentences = &self.sentences[..];
        let mut distinct = 0;
        for (k, &span) in sentences.iter().enumerate() {
            let key = bytes_key(bytes, span.0 as usize, span.1 as usize);
            let found = self.table.find_or_insert(key, k as u32, |o| {
                same_bytes(bytes, sentences[o as usize], span)
            });
            distinct += usize::from(found.is_none());
        }
        Some((total - distinct) as f64 / total as f64)
    }

    fn ngram_ratio(&mut self, config: &DegenerationConfig) -> Option<f64> {
        let n = config.ngram_n;
        let words = self.spans.len();
        if n == 0 || words < config.ngram_min_factor.saturating_mul(n) || words < n {
            return None;
        }
        let k = self.level(n);
        let l = &self.levels[k];
        let total = l.class.len();
        Some((total - l.distinct) as f64 / total as f64)
    }

    fn chunk_ratio(&mut self, size: usize, config: &DegenerationConfig) -> Option<f64> {
        let words = self.spans.len();
        if size == 0 || words < config.chunk_min_factor.saturating_mul(size) || words < size {
            return None;
        }
        let k = self.level(size);
        let l = &self.levels[k];
        Some(l.repeated as f64 / l.class.len() as f64)
    }

    /// The index in `levels` of window size `n` (1 ≤ n ≤ words), computing it if needed.
    fn level(&mut self, n: usize) -> usize {
        if let Some(k) = self.find_level(n) {
            return k;
        }
        self.intern();
        // Split into two computed sizes if possible, the larger first.
        let pair = (n.div_ceil(2)..n)
            .rev()
            .find_map(|a| Some((self.find_level(a)?, self.find_level(n - a)?)));
        let pair = match pair {
            Some(p) => Some(p),
            None if n >= 8 => {
                let a = self.level(n.div_ceil(2));
                let b = self.level(n / 2);
                Some((a, b))
            }
            None => None,
        };
        let k = self.n_levels;
        if k == self.levels.len() {
            self.levels.push(Level::default());
        }
        let mut out = std::mem::take(&mut self.levels[k]);
        out.size = n;
        match pair {
            Some((a, b)) => self.pair_level(a, b, &mut out),
            None => self.direct_level(n, &mut out),
        }
        self.levels[k] = out;
        self.n_levels += 1;
        k
    }

    fn find_level(&self, n: usize) -> Option<usize> {
        self.levels[..self.n_levels]
            .iter()
            .position(|l| l.size == n)
    }

    /// Windows of `n` words from the word ids: a rolling hash picks the slot, the ids confirm.
    /// A window holding a word that occurs once is unique and skips the table.
    fn direct_level(&mut self, n: usize, out: &mut Level) {
        let ids = &self.ids[..];
        let total = ids.len() + 1 - n;
        while self.powers.len() <= n {
            let p = self.powers.last().map_or(1, |p| p.wrapping_mul(HASH_BASE));
            self.powers.push(p);
        }
        let pn = self.powers[n];
        self.prefix.clear();
        self.prefix.push(0);
        let mut h = 0u64;
        for &id in ids {
            h = h.wrapping_mul(HASH_BASE).wrapping_add(id as u64 + 1);
            self.prefix.push(h);
        }
        out.class.clear();
        out.count.clear();
        out.count.resize(total, 0);
        self.table.reset(total);
        let (mut distinct, mut repeated) = (0usize, 0usize);
        // Index + 1 of the last word occurring once among the words seen so far (0: none).
        let mut last_single = 0usize;
        for (k, &id) in ids[..n - 1].iter().enumerate() {
            if self.word_counts[id as usize] == 1 {
                last_single = k + 1;
            }
        }
        for i in 0..total {
            let end = i + n - 1;
            if self.word_counts[ids[end] as usize] == 1 {
                last_single = end + 1;
            }
            let class = if last_single > i {
                None
            } else {
                let h = self.prefix[i + n].wrapping_sub(self.prefix[i].wrapping_mul(pn));
                self.table.find_or_insert(h, i as u32, |o| {
                    let o = o as usize;
                    ids[o..o + n] == ids[i..i + n]
                })
            };
            match class {
                None => {
                    out.class.push(i as u32);
                    out.count[i] = 1;
                    distinct += 1;
                }
                Some(o) => {
                    out.class.push(o);
                    let c = &mut out.count[o as usize];
                    *c += 1;
                    repeated += if *c == 2 { 2 } else { 1 };
                }
            }
        }
        out.distinct = distinct;
        out.repeated = repeated;
    }

    /// Windows of `a.size + b.size` words: window i is window i of `a` followed by window
    /// i + a.size of `b`, keyed exactly by their two classes.
    fn pair_level(&mut self, a: usize, b: usize, out: &mut Level) {
        let (la, lb) = (&self.levels[a], &self.levels[b]);
        let total = self.ids.len() + 1 - out.size;
        out.class.clear();
        out.count.clear();
        out.count.resize(total, 0);
        self.table.reset(total);
        let (mut distinct, mut repeated) = (0usize, 0usize);
        let tail = &lb.class[la.size..];
        for (i, (&ca, &cb)) in la.class[..total].iter().zip(&tail[..total]).enumerate() {
            let class = if la.count[ca as usize] == 1 || lb.count[cb as usize] == 1 {
                None
            } else {
                let key = (ca as u64) << 32 | cb as u64;
                self.table.find_or_insert(key, i as u32, |_| true)
            };
            match class {
                None => {
                    out.class.push(i as u32);
                    out.count[i] = 1;
                    distinct += 1;
                }
                Some(o) => {
                    out.class.push(o);
                    let c = &mut out.count[o as usize];
                    *c += 1;
                    repeated += if *c == 2 { 2 } else { 1 };
                }
            }
        }
        out.distinct = distinct;
        out.repeated = repeated;
    }
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

    /// Long texts of rare and common words with repeated segments of every length, so that
    /// chunk levels see repeated, overlapping and unique windows, and custom sizes that are not
    /// sums of one another.
    #[test]
    fn matches_naive_on_repeated_segments() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let custom = DegenerationConfig {
            ngram_n: 3,
            chunk_sizes: vec![7, 30, 10, 20, 1, 13],
            ngram_min_factor: 1,
            chunk_min_factor: 1,
            ..cfg()
        };
        for round in 0..300 {
            let mut words: Vec<String> = Vec::new();
            let target = 20 + (next() % 300) as usize;
            while words.len() < target {
                if !words.is_empty() && next() % 3 == 0 {
                    let len = 1 + (next() % 40) as usize;
                    let start = (next() as usize) % words.len();
                    let seg: Vec<String> = words[start..].iter().take(len).cloned().collect();
                    words.extend(seg);
                } else if next() % 4 == 0 {
                    words.push(format!("r{}", next() % 1000));
                } else {
                    let common = [
                        "the",
                        "Dog",
                        "sits.",
                        "on",
                        "a",
                        "mat!",
                        "abcdefgh",
                        "abcdefg",
                        "Ünïcode",
                        "extraordinarily",
                        "extraordinarilz",
                        "wonderfully?",
                        "ΣΑΣ",
                        "ab\u{2003}c",
                    ];
                    words.push(common[(next() % common.len() as u64) as usize].into());
                }
            }
            let t = words.join(if round % 2 == 0 { " " } else { " \n " });
            for c in [cfg(), custom.clone()] {
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
}
