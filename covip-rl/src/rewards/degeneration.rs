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
#[cfg(feature = "tokenizers")]
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
    #[cfg(feature = "tokenizers")]
    pub fn with_tokenizer_file(self, path: &std::path::Path) -> Result<Self, TokenCountError> {
        let err = |e: String| TokenCountError(format!("loading tokenizer {}: {e}", path.display()));
        // tokenizers 0.22 panics on some malformed `decoder` sections: an error here instead.
        let tok = std::panic::catch_unwind(|| tokenizers::Tokenizer::from_file(path))
            .map_err(|_| err("malformed file (the tokenizers crate panicked)".into()))?
            .map_err(|e| err(e.to_string()))?;
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

// Python's `str.isspace` (what `\s`, `strip()` and `split()` use in the released code) and
// `str.lower()`: the workspace's one copy, in covip-data.
use covip_data::pystr::{is_space as is_py_space, is_space_ascii as is_py_space_ascii};

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
    for c in covip_data::pystr::lower(text).chars() {
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
/// The text is cleaned into `clean` (eight bytes at a time where it is plain ASCII) in one pass
/// that also finds the spans of its words and sentences. Every window size then becomes a
/// *level*: the windows whose words occur elsewhere too, each with a class shared exactly by the
/// windows with the same words. The first level is built from the words (a rolling hash of their
/// keys picks the slot, the window's bytes confirm); larger sizes are pairs of smaller levels (a
/// 20-window is its first 10-window followed by the next 10-window), keyed exactly by the two
/// classes, so nothing relies on a hash being collision-free. A window with a unique part is
/// unique too, so a level only visits the repeated windows of the level it extends: on natural
/// text, almost none.
#[derive(Default)]
struct Scratch {
    /// The cleaned text, followed by at least eight bytes of no meaning (spans index into it).
    clean: Vec<u8>,
    /// Per word of `clean`: (start, end) byte span.
    spans: Vec<(u32, u32)>,
    /// Per sentence of `clean` (already trimmed, never empty): (start, end) byte span.
    sentences: Vec<(u32, u32)>,
    /// Per word: its key, mixed (see [`mix`]).
    word_hashes: Vec<u64>,
    /// HASH_BASE^k.
    powers: Vec<u64>,
    /// Per class of the level being built: its count so far.
    class_counts: Vec<u32>,
    /// The windows of the level being built that share their part(s) with another window.
    candidates: Vec<u32>,
    /// Levels computed for the loaded text: `levels[..n_levels]` (the rest are spare buffers).
    levels: Vec<Level>,
    n_levels: usize,
    table: Table,
}

/// The class of a window that no other window equals.
const UNIQUE: u32 = u32::MAX;

/// The windows of one size.
#[derive(Default)]
struct Level {
    size: usize,
    /// Per window: its class, or [`UNIQUE`]; windows of one class have the same words.
    class: Vec<u32>,
    /// The windows that are not unique, in increasing order.
    repeated: Vec<u32>,
    /// The number of distinct windows.
    distinct: usize,
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

/// Eight bytes of `buf` from `at`, little-endian. `buf` must hold eight bytes from `at`.
#[inline]
fn word8(buf: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(buf[at..at + 8].try_into().expect("8 bytes"))
}

/// Eight bytes of `buf` from `at`, of which the first `len` (1..=8) are kept and the rest are 0.
/// `buf` must hold eight bytes from `at`.
#[inline]
fn load8(buf: &[u8], at: usize, len: usize) -> u64 {
    let x = word8(buf, at);
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

/// Whether `buf[a]` and `buf[b]`, whose keys are equal, are equal strings (`buf` holds eight
/// bytes past each).
#[inline(always)]
fn same_bytes(buf: &[u8], a: (u32, u32), b: (u32, u32)) -> bool {
    let (la, lb) = ((a.1 - a.0) as usize, (b.1 - b.0) as usize);
    let (a, b) = (a.0 as usize, b.0 as usize);
    if la != lb {
        return false;
    }
    match la {
        // The key holds the bytes and the length.
        0..8 => true,
        8..=16 => {
            word8(buf, a) == word8(buf, b) && load8(buf, a + 8, la - 8) == load8(buf, b + 8, la - 8)
        }
        _ => same_long_bytes(buf, a, b, la),
    }
}

#[inline(never)]
fn same_long_bytes(buf: &[u8], a: usize, b: usize, len: usize) -> bool {
    buf[a..a + len] == buf[b..b + len]
}

const LOW7: u64 = 0x7f7f_7f7f_7f7f_7f7f;
const HIGH: u64 = 0x8080_8080_8080_8080;
const ONES: u64 = 0x0101_0101_0101_0101;

// Eight bytes at once (SWAR) in a `u64`, little-endian: a mask has the high bit of a byte set
// where the byte qualifies. Every formula is exact per byte (no carry crosses a byte).

/// Where the bytes of the ASCII `x` equal `c`.
#[inline]
fn ascii_eq(x: u64, c: u8) -> u64 {
    !((x ^ (c as u64 * ONES)) + LOW7) & HIGH
}

/// Where the bytes of the ASCII `x` lie in `lo..=hi`.
#[inline]
fn range_mask(x: u64, lo: u8, hi: u8) -> u64 {
    (x + (0x80 - lo as u64) * ONES) & !(x + (0x7f - hi as u64) * ONES) & HIGH
}

/// The ASCII `x` lower-cased.
#[inline]
fn ascii_lower8(x: u64) -> u64 {
    x | range_mask(x, b'A', b'Z') >> 2
}

/// Writes `bytes` at `out[*pos..]`, keeping room for `rest` more bytes and the slack.
#[inline]
fn put(out: &mut Vec<u8>, pos: &mut usize, bytes: &[u8], rest: usize) {
    let need = *pos + bytes.len() + rest + 16;
    if out.len() < need {
        out.resize(need.max(out.len() * 2), 0);
    }
    out[*pos..*pos + bytes.len()].copy_from_slice(bytes);
    *pos += bytes.len();
}

/// Where a cleaned text's words and sentences end, collected while it is written.
struct Splitter<'a> {
    spans: &'a mut Vec<(u32, u32)>,
    sentences: &'a mut Vec<(u32, u32)>,
    word_start: usize,
    sentence_start: usize,
}

impl Splitter<'_> {
    /// The space at `out[p]` ends a word (the cleaned text has no space at its start and no two
    /// in a row, so the word is not empty).
    #[inline]
    fn space(&mut self, p: usize) {
        self.spans.push((self.word_start as u32, p as u32));
        self.word_start = p + 1;
    }

    /// The `.`, `!` or `?` at `out[p]` ends a sentence: the piece since the last one, trimmed
    /// (of one space at most), unless empty.
    #[inline]
    fn stop(&mut self, out: &[u8], p: usize) {
        let (mut s, mut e) = (self.sentence_start, p);
        if s < e && out[s] == b' ' {
            s += 1;
        }
        if e > s && out[e - 1] == b' ' {
            e -= 1;
        }
        if s < e {
            self.sentences.push((s as u32, e as u32));
        }
        self.sentence_start = p + 1;
    }

    /// After the text's last byte `out[len - 1]`.
    fn finish(&mut self, out: &[u8], len: usize) {
        if len > self.word_start {
            self.spans.push((self.word_start as u32, len as u32));
        }
        self.stop(out, len);
    }
}

/// The released `re.sub(r"\s+", " ", text.strip().lower())` into `out[..len]`, returning `len`,
/// with the spans of its words (`split()`) and of its sentences (the pieces between runs of `.`,
/// `!`, `?`, trimmed, the empty ones dropped). `out` keeps at least eight bytes after `len` (of no
/// meaning), so that keys can load eight bytes at a time.
///
/// Eight ASCII bytes are done at once when none is a control byte other than white space and
/// no white space follows white space (natural text, nearly always): lower-cased, white space
/// becomes a space, and the output keeps the input's length. Anything else goes one character at
/// a time.
fn clean(
    text: &str,
    out: &mut Vec<u8>,
    spans: &mut Vec<(u32, u32)>,
    sentences: &mut Vec<(u32, u32)>,
) -> usize {
    spans.clear();
    sentences.clear();
    let mut split = Splitter {
        spans,
        sentences,
        word_start: 0,
        sentence_start: 0,
    };
    let bytes = text.as_bytes();
    let n = bytes.len();
    // Kept throughout: out.len() >= pos + (n - i) + 16, so that a block can be written at pos.
    if out.len() < n + 16 {
        out.resize(n + 16, 0);
    }
    let (mut i, mut pos) = (0usize, 0usize);
    // Whether the last byte out is a space, or nothing is out yet (leading white space is dropped).
    let mut after_space = true;
    while i < n {
        if i + 8 <= n {
            let x = word8(bytes, i);
            if x & HIGH == 0 {
                // Bytes up to 0x20 are white space or control bytes; usually only spaces.
                let low = !(x + (0x80 - 0x21) * ONES) & HIGH;
                let ws = if low & !ascii_eq(x, b' ') == 0 {
                    low
                } else {
                    range_mask(x, 0x09, 0x0d) | range_mask(x, 0x1c, 0x20)
                };
                let doubled = ws & (ws << 8 | (after_space as u64) << 7);
                if (low & !ws) | doubled == 0 {
                    let fill = (ws >> 7) * 0xff;
                    let y = (ascii_lower8(x) & !fill) | (fill & (b' ' as u64 * ONES));
                    out[pos..pos + 8].copy_from_slice(&y.to_le_bytes());
                    let mut m = ws;
                    while m != 0 {
                        split.space(pos + m.trailing_zeros() as usize / 8);
                        m &= m - 1;
                    }
                    // `!` (0x21), `.` (0x2e) and `?` (0x3f) lie among the rarer bytes 0x21..=0x3f.
                    let mut m = if range_mask(x, 0x21, 0x3f) == 0 {
                        0
                    } else {
                        ascii_eq(x, b'.') | ascii_eq(x, b'!') | ascii_eq(x, b'?')
                    };
                    while m != 0 {
                        split.stop(out, pos + m.trailing_zeros() as usize / 8);
                        m &= m - 1;
                    }
                    pos += 8;
                    i += 8;
                    after_space = ws >> 63 != 0;
                    continue;
                }
            }
        }
        // The block's bytes one character at a time (a character may end past the block).
        let block_end = (i + 8).min(n);
        while i < block_end {
            let b = bytes[i];
            if b < 0x80 {
                if is_py_space_ascii(b) {
                    if !after_space {
                        out[pos] = b' ';
                        split.space(pos);
                        pos += 1;
                        after_space = true;
                    }
                } else {
                    out[pos] = b.to_ascii_lowercase();
                    if matches!(b, b'.' | b'!' | b'?') {
                        split.stop(out, pos);
                    }
                    pos += 1;
                    after_space = false;
                }
                i += 1;
                continue;
            }
            let ch = text[i..].chars().next().expect("char boundary");
            let next = i + ch.len_utf8();
            if is_py_space(ch) {
                if !after_space {
                    out[pos] = b' ';
                    split.space(pos);
                    pos += 1;
                    after_space = true;
                }
                i = next;
            } else if ch == 'Σ' {
                // Python lower-cases Σ by context (final sigma), as `str::to_lowercase` does;
                // the context never crosses white space (neither cased nor case-ignorable), so
                // lower-casing this word alone is exact. Its bytes before `i` (no Σ among them)
                // are already out, lower-cased character by character, which agrees.
                let (start, end) = word_bounds(text, i);
                let lower = covip_data::pystr::lower(&text[start..end]);
                let done = pos - split.word_start;
                let from = pos;
                put(out, &mut pos, &lower.as_bytes()[done..], n - end);
                // Lower-casing keeps `.`, `!`, `?` and makes none.
                for p in from..pos {
                    if matches!(out[p], b'.' | b'!' | b'?') {
                        split.stop(out, p);
                    }
                }
                after_space = false;
                i = end;
            } else {
                // Lower-casing never yields white space or `.`, `!`, `?`.
                let mut buf = [0u8; 12];
                let mut k = 0;
                for lc in ch.to_lowercase() {
                    k += lc.encode_utf8(&mut buf[k..]).len();
                }
                put(out, &mut pos, &buf[..k], n - next);
                after_space = false;
                i = next;
            }
        }
    }
    if after_space && pos > 0 {
        // The trailing space ended the last word already.
        pos -= 1;
    }
    split.finish(out, pos);
    pos
}

/// The bounds of the run of non-white-space characters of `text` around byte `i`.
fn word_bounds(text: &str, i: usize) -> (usize, usize) {
    let start = text[..i]
        .char_indices()
        .rev()
        .find(|&(_, c)| is_py_space(c))
        .map_or(0, |(k, c)| k + c.len_utf8());
    let end = text[i..]
        .char_indices()
        .find(|&(_, c)| is_py_space(c))
        .map_or(text.len(), |(k, _)| i + k);
    (start, end)
}

impl Scratch {
    fn load(&mut self, text: &str) {
        clean(text, &mut self.clean, &mut self.spans, &mut self.sentences);
        self.n_levels = 0;
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
        Some(l.repeated.len() as f64 / l.class.len() as f64)
    }

    /// The index in `levels` of window size `n` (1 ≤ n ≤ words), computing it if needed.
    fn level(&mut self, n: usize) -> usize {
        if let Some(k) = self.find_level(n) {
            return k;
        }
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
        let total = self.spans.len() + 1 - n;
        out.class.clear();
        out.class.resize(total, UNIQUE);
        self.candidates.clear();
        self.class_counts.clear();
        match pair {
            Some((a, b)) => {
                self.pair_level(a, b, &mut out);
                self.finish_level(&mut out);
            }
            None => {
                self.direct_level(&mut out);
                self.finish_direct_level(&mut out);
            }
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

    /// Classes of the windows of `out.size` words, every window a candidate: a rolling hash of
    /// the word keys picks the slot, and the window's bytes confirm (words are one space apart
    /// in the cleaned text, so equal windows are equal byte strings).
    fn direct_level(&mut self, out: &mut Level) {
        let n = out.size;
        let total = out.class.len();
        while self.powers.len() <= n {
            let p = self.powers.last().map_or(1, |p| p.wrapping_mul(HASH_BASE));
            self.powers.push(p);
        }
        let pn = self.powers[n];
        let bytes = &self.clean[..];
        let spans = &self.spans[..];
        self.word_hashes.clear();
        self.word_hashes.extend(
            spans
                .iter()
                .map(|&(s, e)| mix(bytes_key(bytes, s as usize, e as usize))),
        );
        let hashes = &self.word_hashes[..];
        self.table.reset(total);
        // The hash of window i: sum of hashes[i + k] * HASH_BASE^(n - 1 - k) over k < n.
        let mut h = 0u64;
        for &w in &hashes[..n - 1] {
            h = h.wrapping_mul(HASH_BASE).wrapping_add(w);
        }
        for i in 0..total {
            h = h.wrapping_mul(HASH_BASE).wrapping_add(hashes[i + n - 1]);
            if i > 0 {
                h = h.wrapping_sub(hashes[i - 1].wrapping_mul(pn));
            }
            let (s, e) = (spans[i].0 as usize, spans[i + n - 1].1 as usize);
            let first = self.table.find_or_insert(h, i as u32, |o| {
                let o = o as usize;
                let (os, oe) = (spans[o].0 as usize, spans[o + n - 1].1 as usize);
                oe - os == e - s && bytes[os..oe] == bytes[s..e]
            });
            let class = match first {
                Some(o) => out.class[o as usize],
                None => {
                    self.class_counts.push(0);
                    (self.class_counts.len() - 1) as u32
                }
            };
            self.class_counts[class as usize] += 1;
            out.class[i] = class;
        }
    }

    /// Classes of the windows of `a.size + b.size` words: window i is window i of `a` followed
    /// by window i + a.size of `b`, keyed exactly by their two classes. Only the repeated
    /// windows of `a` can start a repeated window.
    fn pair_level(&mut self, a: usize, b: usize, out: &mut Level) {
        let (la, lb) = (&self.levels[a], &self.levels[b]);
        let total = out.class.len();
        self.table.reset(la.repeated.len());
        for &i in &la.repeated {
            let i = i as usize;
            if i >= total {
                break;
            }
            let cb = lb.class[i + la.size];
            if cb == UNIQUE {
                continue;
            }
            let key = (la.class[i] as u64) << 32 | cb as u64;
            let next = self.class_counts.len() as u32;
            let class = match self.table.find_or_insert(key, next, |_| true) {
                Some(c) => c,
                None => {
                    self.class_counts.push(0);
                    next
                }
            };
            self.class_counts[class as usize] += 1;
            out.class[i] = class;
            self.candidates.push(i as u32);
        }
    }

    /// Keeps the classes of the windows of a direct level that have company; the others are
    /// unique.
    fn finish_direct_level(&mut self, out: &mut Level) {
        out.repeated.clear();
        for (i, c) in out.class.iter_mut().enumerate() {
            if self.class_counts[*c as usize] > 1 {
                out.repeated.push(i as u32);
            } else {
                *c = UNIQUE;
            }
        }
        out.distinct = self.class_counts.len();
    }

    /// Keeps the classes of the candidate windows that have company; the others are unique.
    fn finish_level(&mut self, out: &mut Level) {
        out.repeated.clear();
        for &i in &self.candidates {
            let c = &mut out.class[i as usize];
            if self.class_counts[*c as usize] > 1 {
                out.repeated.push(i);
            } else {
                *c = UNIQUE;
            }
        }
        out.distinct = out.class.len() - self.candidates.len() + self.class_counts.len();
    }
}

/// Spreads a word key's bits (short words' keys are their bytes) before the rolling hash.
fn mix(key: u64) -> u64 {
    (key ^ (key >> 29)).wrapping_mul(0xbf58_476d_1ce4_e5b9) ^ (key >> 32)
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
        let lower = covip_data::pystr::lower(text);
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
        let mut rng = covip_data::rng::SeededRng::new(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next_u64();
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
        let mut rng = covip_data::rng::SeededRng::new(0x9e37_79b9_7f4a_7c15);
        let mut next = move || rng.next_u64();
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

    /// Random strings of the characters the cleaning pass treats specially (every white space
    /// byte, control bytes, `.`, `!`, `?`, upper case, Σ in every context, characters whose lower
    /// case is longer, case-ignorable marks), with repeated segments and runs of plain ASCII
    /// long enough for the eight-byte blocks: the cleaned text, words and sentences equal the
    /// released code's, as do all ratios.
    #[test]
    fn cleaning_pass_matches_naive_on_byte_soup() {
        let mut rng = covip_data::rng::SeededRng::new(0x0123_4567_89ab_cdef);
        let mut next = move || rng.next_u64();
        let alphabet = [
            "a",
            "B",
            "z",
            "Q",
            "7",
            " ",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\u{b}",
            "\u{c}",
            "\u{1c}",
            "\u{1f}",
            "\u{1}",
            "\u{7f}",
            ".",
            "!",
            "?",
            "...",
            "'",
            "Σ",
            "σ",
            "ς",
            "İ",
            "É",
            "ß",
            "ǅ",
            "\u{300}",
            "\u{2003}",
            "\u{85}",
            "\u{a0}",
            "부",
            "Ⱥ",
            "ΑΣ",
            "ΣΑ",
            "Σ.",
            "aΣ'",
            "The Quick Brown Fox",
            "jumps over. the lazy dog! ",
            "ABCDEFGHIJKLMNOP qrstuvwxyz ",
        ];
        let c = DegenerationConfig {
            min_sentences: 1,
            ngram_n: 2,
            ngram_min_factor: 1,
            chunk_sizes: vec![3, 10],
            chunk_min_factor: 1,
            ..cfg()
        };
        for _ in 0..3000 {
            let mut t = String::new();
            let n = (next() % 60) as usize;
            for _ in 0..n {
                if !t.is_empty() && next() % 6 == 0 {
                    let cut = t.char_indices().map(|(k, _)| k).collect::<Vec<_>>();
                    let from = cut[(next() as usize) % cut.len()];
                    let seg = t[from..]
                        .chars()
                        .take(1 + (next() % 30) as usize)
                        .collect::<String>();
                    t.push_str(&seg);
                } else {
                    t.push_str(alphabet[(next() % alphabet.len() as u64) as usize]);
                }
            }
            let mut want = String::new();
            clean_into(&t, &mut want);
            let (words, sentences) = SCRATCH.with(|s| {
                let s = &mut *s.borrow_mut();
                s.load(&t);
                let text = |&(a, b): &(u32, u32)| {
                    String::from_utf8(s.clean[a as usize..b as usize].to_vec()).unwrap()
                };
                let words: Vec<String> = s.spans.iter().map(text).collect();
                let sentences: Vec<String> = s.sentences.iter().map(text).collect();
                (words, sentences)
            });
            assert_eq!(words.join(" "), want, "{t:?}");
            assert_eq!(
                words,
                want.split(' ')
                    .filter(|w| !w.is_empty())
                    .collect::<Vec<_>>(),
                "{t:?}"
            );
            let want_sentences: Vec<&str> = want
                .split(['.', '!', '?'])
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            assert_eq!(sentences, want_sentences, "{t:?}");
            let r = repetition_report(&t, &c);
            let (sr, nr, cr) = naive(&t, &c);
            assert_eq!(r.sentence_ratio, sr, "{t:?}");
            assert_eq!(r.ngram_ratio, nr, "{t:?}");
            let got: Vec<Option<f64>> = r.chunk_ratios.iter().map(|x| x.1).collect();
            assert_eq!(got, cr, "{t:?}");
        }
    }
}
