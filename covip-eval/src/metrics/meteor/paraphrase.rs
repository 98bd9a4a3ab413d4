//! METEOR's English paraphrase table (`paraphrase-en.gz`: 5.3 million entries of three lines, a
//! probability that METEOR ignores, a reference phrase and its paraphrase).
//!
//! The jar keeps a trie of reference phrases whose nodes list, in file order, the paraphrases
//! reachable there. The same answers come from a flatter layout that loads faster and takes a
//! fraction of the memory: the 430 thousand distinct reference phrases are stored once as word
//! ids and found through an open-addressing index, and the paraphrases of each reference phrase
//! are one contiguous run of word-id sequences, in file order. Looking up every prefix length
//! (instead of walking the trie until it has no child) finds the same phrases, since a missing
//! prefix means no longer phrase either.
//!
//! Loading is bound by memory latency, so the parser touches only small structures per line (the
//! 43 thousand word vocabulary stays in cache) and appends paraphrases sequentially; one thread
//! decompresses (under a second) while another parses (about two seconds for the English table
//! on a busy two-core machine, a sixth of the jar's start-up). The table (about 90 MB) is
//! immutable afterwards and shared by all scoring threads.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::io::Read;
use std::path::Path;

use super::java;
use crate::metrics::error::MetricsError;

/// A small multiplicative hasher for the vocabulary (short keys, no adversary).
#[derive(Default, Clone, Copy)]
struct WordHasher(u64);

impl Hasher for WordHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            h = mix(h, u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            h = mix(h, u64::from_le_bytes(buf) ^ ((rest.len() as u64) << 59));
        }
        self.0 = h;
    }
    fn write_u8(&mut self, i: u8) {
        self.0 = mix(self.0, u64::from(i));
    }
    fn finish(&self) -> u64 {
        finish(self.0)
    }
}

fn mix(h: u64, v: u64) -> u64 {
    (h.rotate_left(5) ^ v).wrapping_mul(0x517c_c1b7_2722_0a95)
}

/// MurmurHash3's 64-bit finaliser: every input bit reaches the low bits (slot) and the high
/// bits (tag).
fn finish(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

fn hash_ids(ids: &[u32]) -> u64 {
    let mut h = ids.len() as u64;
    for pair in ids.chunks(2) {
        let v = u64::from(pair[0]) | pair.get(1).map_or(0, |&b| u64::from(b) << 32);
        h = mix(h, v);
    }
    finish(h)
}

type Vocab = HashMap<Box<str>, u32, BuildHasherDefault<WordHasher>>;

/// Open addressing over ids whose keys live elsewhere: each slot holds the id + 1 in its low
/// half and the high half of the key's hash as a tag, so that most non-matching slots are
/// passed over without touching the keys.
#[derive(Debug)]
struct Index {
    slots: Vec<u64>,
    len: usize,
}

impl Index {
    fn new() -> Self {
        Index {
            slots: vec![0; 1 << 16],
            len: 0,
        }
    }

    /// The id whose key `is_key` accepts, or the free slot where it would go.
    fn probe(&self, hash: u64, is_key: impl Fn(u32) -> bool) -> Result<u32, usize> {
        let mask = self.slots.len() - 1;
        let tag = hash >> 32;
        let mut i = hash as usize & mask;
        loop {
            let s = self.slots[i];
            if s == 0 {
                return Err(i);
            }
            if s >> 32 == tag && is_key((s as u32) - 1) {
                return Ok((s as u32) - 1);
            }
            i = (i + 1) & mask;
        }
    }

    /// Fills the free slot `slot` (from [`Index::probe`]); `hash_of` re-hashes ids on growth.
    fn insert(&mut self, slot: usize, hash: u64, id: u32, hash_of: impl Fn(u32) -> u64) {
        self.slots[slot] = (hash >> 32) << 32 | u64::from(id + 1);
        self.len += 1;
        if 2 * self.len > self.slots.len() {
            let mut slots = vec![0u64; self.slots.len() * 2];
            let mask = slots.len() - 1;
            for &s in self.slots.iter().filter(|&&s| s != 0) {
                let mut i = hash_of((s as u32) - 1) as usize & mask;
                while slots[i] != 0 {
                    i = (i + 1) & mask;
                }
                slots[i] = s;
            }
            self.slots = slots;
        }
    }
}

/// Distinct phrases (as word ids) in one arena, with an index over them.
#[derive(Debug)]
struct Phrases {
    words: Vec<u32>,
    /// Phrase `p` is `words[start[p]..start[p + 1]]`.
    start: Vec<u32>,
    index: Index,
}

impl Default for Phrases {
    fn default() -> Self {
        Self::new()
    }
}

impl Phrases {
    fn new() -> Self {
        Self {
            words: Vec::new(),
            start: vec![0],
            index: Index::new(),
        }
    }

    fn len(&self) -> usize {
        self.start.len() - 1
    }

    fn get(&self, p: u32) -> &[u32] {
        let p = p as usize;
        &self.words[self.start[p] as usize..self.start[p + 1] as usize]
    }

    fn find(&self, ids: &[u32]) -> Option<u32> {
        self.index.probe(hash_ids(ids), |p| self.get(p) == ids).ok()
    }

    fn intern(&mut self, ids: &[u32]) -> u32 {
        let h = hash_ids(ids);
        match self.index.probe(h, |p| self.get(p) == ids) {
            Ok(p) => p,
            Err(slot) => {
                let p = self.len() as u32;
                self.words.extend_from_slice(ids);
                self.start.push(self.words.len() as u32);
                let (words, start) = (&self.words, &self.start);
                self.index.insert(slot, h, p, |q| {
                    let q = q as usize;
                    hash_ids(&words[start[q] as usize..start[q + 1] as usize])
                });
                p
            }
        }
    }
}

/// The paraphrase table, ready for lookups.
#[derive(Debug, Default)]
pub struct ParaphraseTable {
    vocab: Vocab,
    refs: Phrases,
    /// Entries of reference phrase `p`: `entry_start[p]..entry_start[p + 1]`, their words
    /// starting at `word_start[p]` in `para_words`.
    entry_start: Vec<u32>,
    word_start: Vec<u64>,
    /// Words of each entry's paraphrase.
    para_len: Vec<u8>,
    para_words: Vec<u32>,
    max_ref_len: usize,
}

/// Incremental parser state.
struct Builder {
    vocab: Vocab,
    refs: Phrases,
    /// Per entry, in file order: its reference phrase, the length of its paraphrase.
    entry_ref: Vec<u32>,
    para_len: Vec<u8>,
    para_words: Vec<u32>,
    /// Which of the three lines of an entry comes next.
    line_in_entry: u8,
    pending_ref: u32,
    last_ref_line: Vec<u8>,
    last_ref: Option<u32>,
    ids: Vec<u32>,
    max_ref_len: usize,
    lines: usize,
    /// First malformed line (1-based) and what is wrong with it.
    error: Option<(usize, &'static str)>,
}

impl Builder {
    fn new() -> Self {
        Self {
            vocab: Vocab::default(),
            refs: Phrases::new(),
            entry_ref: Vec::new(),
            para_len: Vec::new(),
            para_words: Vec::new(),
            line_in_entry: 0,
            pending_ref: 0,
            last_ref_line: Vec::new(),
            last_ref: None,
            ids: Vec::new(),
            max_ref_len: 0,
            lines: 0,
            error: None,
        }
    }

    fn fail(&mut self, message: &'static str) {
        if self.error.is_none() {
            self.error = Some((self.lines, message));
        }
    }

    /// Word ids of a line into `self.ids`.
    fn tokenize(&mut self, line: &str) {
        self.ids.clear();
        for tok in java::tokens(line) {
            let next = self.vocab.len() as u32;
            let id = match self.vocab.get(tok) {
                Some(&id) => id,
                None => {
                    self.vocab.insert(tok.into(), next);
                    next
                }
            };
            self.ids.push(id);
        }
        if self.ids.is_empty() {
            // The jar would make empty matches of it; no METEOR table has one.
            self.fail("a phrase without words");
        }
    }

    fn line(&mut self, line: &str) {
        self.lines += 1;
        match self.line_in_entry {
            0 => {}
            1 => {
                // Entries come grouped by reference phrase: reuse the previous lookup.
                if self.last_ref.is_none() || self.last_ref_line != line.as_bytes() {
                    self.tokenize(line);
                    let p = self.refs.intern(&self.ids);
                    self.max_ref_len = self.max_ref_len.max(self.ids.len());
                    self.last_ref_line.clear();
                    self.last_ref_line.extend_from_slice(line.as_bytes());
                    self.last_ref = Some(p);
                }
                self.pending_ref = self.last_ref.expect("set above");
            }
            _ => {
                self.tokenize(line);
                let Ok(len) = u8::try_from(self.ids.len()) else {
                    self.fail("a paraphrase of more than 255 words");
                    return;
                };
                self.entry_ref.push(self.pending_ref);
                self.para_len.push(len);
                self.para_words.extend_from_slice(&self.ids);
            }
        }
        self.line_in_entry = (self.line_in_entry + 1) % 3;
    }

    /// Feeds whole lines (`\n`, `\r\n` or `\r` terminated, as `BufferedReader.readLine`
    /// splits them, malformed UTF-8 replaced as its UTF-8 decoder does); the last line of the
    /// file may lack its terminator.
    fn block(&mut self, block: &[u8]) {
        let text = String::from_utf8_lossy(block);
        let mut rest: &str = &text;
        while !rest.is_empty() {
            match memchr::memchr2(b'\n', b'\r', rest.as_bytes()) {
                Some(i) => {
                    self.line(&rest[..i]);
                    let crlf =
                        rest.as_bytes()[i] == b'\r' && rest.as_bytes().get(i + 1) == Some(&b'\n');
                    rest = &rest[i + if crlf { 2 } else { 1 }..];
                }
                None => {
                    self.line(rest);
                    rest = "";
                }
            }
        }
    }

    fn finish(mut self, path: &Path) -> Result<ParaphraseTable, MetricsError> {
        let record = |line: usize, message: &str| MetricsError::Record {
            path: path.to_path_buf(),
            record: format!("line {line}"),
            field: "<phrase>".into(),
            message: message.into(),
        };
        if let Some((line, message)) = self.error {
            return Err(record(line, message));
        }
        if self.line_in_entry != 0 {
            return Err(record(
                self.lines,
                "the file ends inside an entry (probability, phrase, paraphrase)",
            ));
        }
        // Reference ids are given in order of first appearance, so a table whose entries are
        // grouped by reference phrase (the English one) is already sorted; otherwise regroup,
        // keeping file order within each group.
        if !self.entry_ref.is_sorted() {
            let mut word_at = Vec::with_capacity(self.para_len.len());
            let mut w = 0u64;
            for &l in &self.para_len {
                word_at.push(w);
                w += u64::from(l);
            }
            let mut order: Vec<u32> = (0..self.entry_ref.len() as u32).collect();
            order.sort_by_key(|&e| self.entry_ref[e as usize]);
            let mut words = Vec::with_capacity(self.para_words.len());
            let mut lens = Vec::with_capacity(self.para_len.len());
            let mut refs = Vec::with_capacity(self.entry_ref.len());
            for &e in &order {
                let (e, at) = (e as usize, word_at[e as usize] as usize);
                words.extend_from_slice(&self.para_words[at..at + self.para_len[e] as usize]);
                lens.push(self.para_len[e]);
                refs.push(self.entry_ref[e]);
            }
            (self.para_words, self.para_len, self.entry_ref) = (words, lens, refs);
        }
        let n = self.refs.len();
        let mut entry_start = vec![0u32; n + 1];
        let mut word_start = vec![0u64; n + 1];
        for (&r, &l) in self.entry_ref.iter().zip(&self.para_len) {
            entry_start[r as usize + 1] += 1;
            word_start[r as usize + 1] += u64::from(l);
        }
        for i in 0..n {
            entry_start[i + 1] += entry_start[i];
            word_start[i + 1] += word_start[i];
        }
        Ok(ParaphraseTable {
            vocab: self.vocab,
            refs: self.refs,
            entry_start,
            word_start,
            para_len: self.para_len,
            para_words: self.para_words,
            max_ref_len: self.max_ref_len,
        })
    }
}

/// Splits a byte stream into blocks that end at a line break.
fn read_blocks(mut src: impl Read, mut send: impl FnMut(Vec<u8>) -> bool) -> std::io::Result<()> {
    const BLOCK: usize = 1 << 20;
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let mut buf = std::mem::take(&mut carry);
        let old = buf.len();
        buf.resize(old + BLOCK, 0);
        let mut filled = old;
        while filled < buf.len() {
            match src.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(k) => filled += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        if filled == old {
            if !buf.is_empty() {
                send(buf);
            }
            return Ok(());
        }
        // Keep any partial last line for the next block; a '\r' at the very end could be the
        // first half of "\r\n", so it waits too.
        let cut = match buf.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => {
                carry = buf;
                continue;
            }
        };
        carry = buf[cut..].to_vec();
        buf.truncate(cut);
        if !send(buf) {
            return Ok(());
        }
    }
}

/// First bytes of covip's binary form of a parsed table (bump the digit when the layout changes).
const CACHE_MAGIC: &[u8; 8] = b"COVIPPT1";

/// The length and modification time of the text table a cache was made from: a cache made
/// from another file (or an older copy) is not used.
fn source_stamp(path: &Path) -> Option<[u64; 3]> {
    let meta = std::fs::metadata(path).ok()?;
    let t = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some([meta.len(), t.as_secs(), u64::from(t.subsec_nanos())])
}

/// Little-endian writer and reader of the binary form's sections.
fn put_u64s(out: &mut Vec<u8>, v: impl ExactSizeIterator<Item = u64>) {
    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}
fn put_u32s(out: &mut Vec<u8>, v: &[u32]) {
    out.extend_from_slice(&(v.len() as u64).to_le_bytes());
    for x in v {
        out.extend_from_slice(&x.to_le_bytes());
    }
}
struct Cursor<'a>(&'a [u8]);
impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn len(&mut self) -> Option<usize> {
        usize::try_from(self.u64()?).ok()
    }
    fn u64s(&mut self) -> Option<Vec<u64>> {
        let n = self.len()?;
        let b = self.take(n.checked_mul(8)?)?;
        Some(
            b.chunks_exact(8)
                .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                .collect(),
        )
    }
    fn u32s(&mut self) -> Option<Vec<u32>> {
        let n = self.len()?;
        let b = self.take(n.checked_mul(4)?)?;
        Some(
            b.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().expect("4 bytes")))
                .collect(),
        )
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let n = self.len()?;
        self.take(n)
    }
}

impl ParaphraseTable {
    /// covip's binary form of the parsed table, stamped with its source file's `stamp`: the
    /// same structures, written out, so that loading is a read instead of a parse.
    fn to_binary(&self, stamp: [u64; 3]) -> Vec<u8> {
        let mut out =
            Vec::with_capacity(16 + 4 * self.para_words.len() + 8 * self.refs.index.slots.len());
        out.extend_from_slice(CACHE_MAGIC);
        put_u64s(&mut out, stamp.into_iter());
        out.extend_from_slice(&(self.max_ref_len as u64).to_le_bytes());
        let mut words: Vec<&str> = vec![""; self.vocab.len()];
        for (w, &id) in &self.vocab {
            words[id as usize] = w;
        }
        let mut text = Vec::new();
        let mut ends = Vec::with_capacity(words.len());
        for w in words {
            text.extend_from_slice(w.as_bytes());
            ends.push(text.len() as u64);
        }
        put_u64s(&mut out, ends.into_iter());
        out.extend_from_slice(&(text.len() as u64).to_le_bytes());
        out.extend_from_slice(&text);
        put_u32s(&mut out, &self.refs.words);
        put_u32s(&mut out, &self.refs.start);
        put_u64s(&mut out, self.refs.index.slots.iter().copied());
        out.extend_from_slice(&(self.refs.index.len as u64).to_le_bytes());
        put_u32s(&mut out, &self.entry_start);
        put_u64s(&mut out, self.word_start.iter().copied());
        out.extend_from_slice(&(self.para_len.len() as u64).to_le_bytes());
        out.extend_from_slice(&self.para_len);
        put_u32s(&mut out, &self.para_words);
        out
    }

    /// Reads [`Self::to_binary`]'s output; `None` when it is not one, is damaged, or was made
    /// from another source than `stamp`.
    fn from_binary(bytes: &[u8], stamp: [u64; 3]) -> Option<Self> {
        let mut c = Cursor(bytes);
        if c.take(8)? != CACHE_MAGIC || c.u64s()? != stamp {
            return None;
        }
        let max_ref_len = c.len()?;
        let ends = c.u64s()?;
        let text = std::str::from_utf8(c.bytes()?).ok()?;
        let mut vocab = Vocab::with_capacity_and_hasher(ends.len(), Default::default());
        let mut at = 0usize;
        for (id, &end) in ends.iter().enumerate() {
            let end = usize::try_from(end).ok()?;
            vocab.insert(text.get(at..end)?.into(), u32::try_from(id).ok()?);
            at = end;
        }
        let refs_words = c.u32s()?;
        let refs_start = c.u32s()?;
        let slots = c.u64s()?;
        let index_len = c.len()?;
        let entry_start = c.u32s()?;
        let word_start = c.u64s()?;
        let para_len = c.bytes()?.to_vec();
        let para_words = c.u32s()?;
        let n = refs_start.len().checked_sub(1)?;
        // Enough consistency that lookups cannot index out of bounds.
        let consistent = c.0.is_empty()
            && slots.len().is_power_of_two()
            && refs_start
                .last()
                .is_some_and(|&e| e as usize == refs_words.len())
            && entry_start.len() == n + 1
            && word_start.len() == n + 1
            && entry_start
                .last()
                .is_some_and(|&e| e as usize == para_len.len())
            && word_start
                .last()
                .is_some_and(|&e| e == para_words.len() as u64)
            && refs_start.is_sorted()
            && entry_start.is_sorted()
            && word_start.is_sorted()
            && refs_words
                .iter()
                .chain(&para_words)
                .all(|&w| (w as usize) < ends.len());
        if !consistent {
            return None;
        }
        Some(ParaphraseTable {
            vocab,
            refs: Phrases {
                words: refs_words,
                start: refs_start,
                index: Index {
                    slots,
                    len: index_len,
                },
            },
            entry_start,
            word_start,
            para_len,
            para_words,
            max_ref_len,
        })
    }

    /// Loads a gzip-compressed table (`paraphrase-en.gz`) through a binary cache beside it
    /// (`paraphrase-en.gz.covip-table`): the cache is used when it was made from this very
    /// file (same length and modification time), else the text is parsed and the cache
    /// written (atomically; a folder that cannot be written only costs the speed-up).
    pub fn load_gz_cached(path: &Path) -> Result<Self, MetricsError> {
        let mut cache_name = path.file_name().unwrap_or_default().to_os_string();
        cache_name.push(".covip-table");
        let cache = path.with_file_name(cache_name);
        let Some(stamp) = source_stamp(path) else {
            return Self::load_gz(path);
        };
        if let Ok(bytes) = std::fs::read(&cache)
            && let Some(table) = Self::from_binary(&bytes, stamp)
        {
            return Ok(table);
        }
        let table = Self::load_gz(path)?;
        if let Err(e) = covip_data::io::write_atomic(&cache, &table.to_binary(stamp)) {
            tracing::debug!("paraphrase cache {} not written: {e}", cache.display());
        }
        Ok(table)
    }

    /// Loads a gzip-compressed table (`paraphrase-en.gz`).
    pub fn load_gz(path: &Path) -> Result<Self, MetricsError> {
        let file = std::fs::File::open(path).map_err(|source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader =
            flate2::read::MultiGzDecoder::new(std::io::BufReader::with_capacity(1 << 20, file));
        Self::load_from(reader, path)
    }

    /// Parses an uncompressed table from `src` (`path` is named in errors).
    pub fn load_from(src: impl Read + Send, path: &Path) -> Result<Self, MetricsError> {
        let io_err = |source| MetricsError::Io {
            path: path.to_path_buf(),
            source,
        };
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(8);
        std::thread::scope(|sc| {
            let reader = sc.spawn(move || read_blocks(src, |b| tx.send(b).is_ok()));
            let mut b = Builder::new();
            for block in rx {
                b.block(&block);
            }
            reader
                .join()
                .expect("paraphrase reader thread")
                .map_err(io_err)?;
            b.finish(path)
        })
    }

    /// Parses a table from its text (tests and small tables).
    pub fn parse(text: &str) -> Result<Self, MetricsError> {
        let mut b = Builder::new();
        b.block(text.as_bytes());
        b.finish(Path::new("<text>"))
    }

    /// Number of entries (reference phrase, paraphrase pairs).
    pub fn len(&self) -> usize {
        self.para_len.len()
    }

    /// True for a table without entries.
    pub fn is_empty(&self) -> bool {
        self.para_len.is_empty()
    }

    /// Number of distinct words.
    pub fn vocabulary_len(&self) -> usize {
        self.vocab.len()
    }

    /// Number of distinct reference phrases.
    pub fn reference_phrases(&self) -> usize {
        self.refs.len()
    }

    /// Longest reference phrase, in words.
    pub fn max_phrase_len(&self) -> usize {
        self.max_ref_len
    }

    /// The id of a word of the table, if it has one.
    pub fn word_id(&self, word: &str) -> Option<u32> {
        self.vocab.get(word).copied()
    }

    /// The id of the reference phrase `words` (word ids), if it is one.
    pub fn reference_id(&self, words: &[u32]) -> Option<u32> {
        self.refs.find(words)
    }

    /// The paraphrases (word ids) of a reference phrase, in file order.
    pub fn paraphrases_of(&self, reference: u32) -> impl Iterator<Item = &[u32]> {
        let r = reference as usize;
        let entries = self.entry_start[r] as usize..self.entry_start[r + 1] as usize;
        let mut at = self.word_start[r] as usize;
        self.para_len[entries].iter().map(move |&l| {
            let words = &self.para_words[at..at + l as usize];
            at += l as usize;
            words
        })
    }

    /// The paraphrases of the reference phrase `words` (word ids), in file order; none when
    /// `words` is not a reference phrase.
    pub fn paraphrases(&self, words: &[u32]) -> impl Iterator<Item = &[u32]> {
        self.reference_id(words)
            .into_iter()
            .flat_map(|r| self.paraphrases_of(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "0.5\na man\na guy\n0.1\na man\nsomeone\n0.2\nsomeone\na man\n0.3\nbig\nlarge\n\
0.3\nbig dog large\nhuge hound\n";

    #[test]
    fn the_binary_form_round_trips_and_refuses_other_sources() {
        let text = "0.5\na b\nc\n0.1\na\nd e\n0.2\nx y z\na\n0.3\na b\nf\n";
        let t = ParaphraseTable::parse(text).unwrap();
        let stamp = [10, 20, 30];
        let bin = t.to_binary(stamp);
        let r = ParaphraseTable::from_binary(&bin, stamp).unwrap();
        assert_eq!(r.to_binary(stamp), bin);
        assert_eq!(r.len(), t.len());
        assert_eq!(r.max_phrase_len(), t.max_phrase_len());
        for phrase in [&["a", "b"][..], &["a"], &["x", "y", "z"], &["q"]] {
            let ids: Option<Vec<u32>> = phrase.iter().map(|w| t.word_id(w)).collect();
            let ids2: Option<Vec<u32>> = phrase.iter().map(|w| r.word_id(w)).collect();
            assert_eq!(ids, ids2);
            if let Some(ids) = ids {
                let a: Vec<&[u32]> = t.paraphrases(&ids).collect();
                let b: Vec<&[u32]> = r.paraphrases(&ids).collect();
                assert_eq!(a, b, "{phrase:?}");
            }
        }
        assert!(ParaphraseTable::from_binary(&bin, [10, 20, 31]).is_none());
        assert!(ParaphraseTable::from_binary(&bin[..bin.len() - 1], stamp).is_none());
        assert!(ParaphraseTable::from_binary(b"not a table", stamp).is_none());
    }

    #[test]
    fn the_cache_is_written_once_and_then_used() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("p.gz");
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(b"0.5\na b\nc\n0.1\na\nd\n").unwrap();
        std::fs::write(&gz, enc.finish().unwrap()).unwrap();
        let first = ParaphraseTable::load_gz_cached(&gz).unwrap();
        let cache = dir.path().join("p.gz.covip-table");
        assert!(cache.is_file());
        let second = ParaphraseTable::load_gz_cached(&gz).unwrap();
        assert_eq!(first.to_binary([0; 3]), second.to_binary([0; 3]));
        // A damaged cache is ignored (and replaced).
        std::fs::write(&cache, b"COVIPPT1 damaged").unwrap();
        let third = ParaphraseTable::load_gz_cached(&gz).unwrap();
        assert_eq!(first.to_binary([0; 3]), third.to_binary([0; 3]));
    }

    #[test]
    fn paraphrases_in_file_order() {
        let t = ParaphraseTable::parse(TABLE).unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(t.max_phrase_len(), 3);
        assert_eq!(t.reference_phrases(), 4);
        let id = |w: &str| t.word_id(w).unwrap();
        let got: Vec<Vec<u32>> = t
            .paraphrases(&[id("a"), id("man")])
            .map(<[u32]>::to_vec)
            .collect();
        assert_eq!(got, vec![vec![id("a"), id("guy")], vec![id("someone")]]);
        // A prefix of a longer reference phrase that is not one itself has no paraphrases.
        assert_eq!(t.paraphrases(&[id("big"), id("dog")]).count(), 0);
        assert_eq!(t.paraphrases(&[id("big")]).count(), 1);
        assert_eq!(t.paraphrases(&[id("guy")]).count(), 0);
        assert!(t.word_id("cat").is_none());
    }

    #[test]
    fn scattered_groups_keep_file_order() {
        let t = ParaphraseTable::parse("0\na\nb\n0\nc\nd\n0\na\ne f\n0\nc\ng\n0\na\nh\n").unwrap();
        let id = |w: &str| t.word_id(w).unwrap();
        let got: Vec<Vec<u32>> = t.paraphrases(&[id("a")]).map(<[u32]>::to_vec).collect();
        assert_eq!(
            got,
            vec![vec![id("b")], vec![id("e"), id("f")], vec![id("h")]]
        );
        let got: Vec<Vec<u32>> = t.paraphrases(&[id("c")]).map(<[u32]>::to_vec).collect();
        assert_eq!(got, vec![vec![id("d")], vec![id("g")]]);
    }

    #[test]
    fn java_line_breaks_and_truncation() {
        let t = ParaphraseTable::parse("1\r\nx\ry\n").unwrap();
        assert_eq!(t.len(), 1);
        assert!(ParaphraseTable::parse("1\nx\n").is_err());
        assert!(ParaphraseTable::parse("1\nx\n \n").is_err());
    }

    #[test]
    fn blocks_end_at_line_breaks_and_lose_nothing() {
        let text = "0.1\nab cd\nef\n".repeat(100_000);
        let mut got = Vec::new();
        read_blocks(text.as_bytes(), |b| {
            assert_eq!(b.last(), Some(&b'\n'));
            got.extend_from_slice(&b);
            true
        })
        .unwrap();
        assert_eq!(got, text.as_bytes());
        let t = ParaphraseTable::load_from(text.as_bytes(), Path::new("x")).unwrap();
        assert_eq!(t.len(), 100_000);
        assert_eq!(t.vocabulary_len(), 3);
    }

    #[test]
    fn the_index_survives_growth() {
        let mut p = Phrases::new();
        assert_eq!(p.len(), 0);
        for i in 0..100_000u32 {
            assert_eq!(p.intern(&[i, i / 3]), i);
        }
        for i in (0..100_000u32).step_by(7) {
            assert_eq!(p.find(&[i, i / 3]), Some(i));
        }
        assert_eq!(p.find(&[5, 5]), None);
    }
}
