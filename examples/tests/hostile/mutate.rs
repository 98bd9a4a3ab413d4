//! Seeded mutations of valid inputs: byte-level damage (bit flips, inserts, deletes,
//! truncation, splices of two valid files, invalid UTF-8), text-level damage (huge numbers,
//! deep nesting, long strings) and format-aware damage (JSON structure: wrong types, duplicated
//! keys, huge arrays; PNG chunks with their CRCs fixed so the damage gets past the checksum;
//! JPEG marker segments; Parquet footers; safetensors headers).
//!
//! Everything is drawn from a [`SeededRng`], so input `i` of a target is the same bytes on
//! every machine and every run: a failure is reproduced from its target, seed and index.
use covip_data::rng::SeededRng;
use serde_json::Value;

/// What a seed file is, so the mutator can also damage it where its format is fragile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// One JSON document.
    Json,
    /// JSON lines.
    Jsonl,
    /// Free text (completions, captions).
    Text,
    Png,
    Jpeg,
    Parquet,
    Safetensors,
}

/// One valid input of a target.
#[derive(Clone, Debug)]
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
    pub format: Format,
}

impl Seed {
    pub fn new(name: impl Into<String>, bytes: impl Into<Vec<u8>>, format: Format) -> Seed {
        Seed {
            name: name.into(),
            bytes: bytes.into(),
            format,
        }
    }
}

/// A mutated input and how it was made (for the failure report).
#[derive(Clone, Debug)]
pub struct Mutated {
    pub bytes: Vec<u8>,
    /// The seed it started from and the operators applied, in order.
    pub how: String,
}

/// Mutations stop growing an input past this size (the long-string and nesting operators
/// are the big ones): 256 KiB is enough to show quadratic or unbounded work, and keeps the run short.
const MAX_LEN: usize = 256 << 10;

/// Numbers that break parsers: overflow of every integer width, negative sizes, floats where
/// integers are expected, exponents, values only a big-number parser takes.
const HUGE_NUMBERS: &[&str] = &[
    "0",
    "-1",
    "-0",
    "1.5",
    "1e3",
    "1E-7",
    "255",
    "256",
    "65535",
    "65536",
    "2147483647",
    "2147483648",
    "-2147483649",
    "4294967295",
    "4294967296",
    "9007199254740993",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775809",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e308",
    "1e309",
    "-1e309",
    "1e-400",
    "123456789012345678901234567890123456789012345678901234567890",
    "0.00000000000000000000000000000000000000000000000000001",
    "NaN",
    "Infinity",
    "-Infinity",
    "0x10",
    "1_000",
];

/// Strings that reach corners of text handling.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "\u{0}",
    "\u{feff}",
    "\u{202e}gnp.x",
    "e\u{301}\u{301}\u{301}",
    "\u{1F600}\u{200D}\u{1F600}",
    "\\boxed{",
    "\\boxed{[1, 2]}",
    "}}}}",
    "{{ messages }}",
    "{% for x in messages %}",
    "<|im_start|>",
    "<|image_pad|>",
    "<|vision_start|><|image_pad|><|vision_end|>",
    "../../../../../../etc/passwd",
    "/",
    "C:\\x",
    "A",
    "D",
    "caption",
    "multi_vision",
    "vision",
    "positive",
    "negative",
    "\r\n",
    "\t\u{b}\u{c}",
];

/// Bytes that make text invalid UTF-8 in different ways.
const BAD_UTF8: &[&[u8]] = &[
    &[0xFF],
    &[0xFE, 0xFF],
    &[0xC0, 0x80],
    &[0xED, 0xA0, 0x80],
    &[0xE2, 0x82],
    &[0xF4, 0x90, 0x80, 0x80],
    &[0xF8, 0x88, 0x80, 0x80, 0x80],
    &[0x80],
];

/// JSON escapes that are invalid or odd.
const BAD_ESCAPES: &[&str] = &[
    "\\u",
    "\\ud800",
    "\\udc00\\ud800",
    "\\x41",
    "\\",
    "\\u0000",
    "\\uZZZZ",
];

/// Interesting values for binary fields.
const INTERESTING_U32: &[u32] = &[
    0,
    1,
    2,
    3,
    4,
    7,
    8,
    15,
    16,
    255,
    256,
    0x7FFF,
    0x8000,
    0xFFFF,
    0x10000,
    65000,
    0x7FFF_FFFF,
    0x8000_0000,
    0xFFFF_FFFE,
    0xFFFF_FFFF,
];

/// A mutator over one target's seeds.
pub struct Mutator<'a> {
    seeds: &'a [Seed],
}

impl<'a> Mutator<'a> {
    pub fn new(seeds: &'a [Seed]) -> Mutator<'a> {
        assert!(!seeds.is_empty(), "a target needs at least one seed");
        Mutator { seeds }
    }

    /// Input number `index` of a run with `seed`, salted by the target's name: 1 to 3
    /// operators applied to one seed (sometimes to a splice of two).
    pub fn input(&self, seed: u64, target: &str, index: u64) -> Mutated {
        let mut rng = SeededRng::new(
            seed ^ fnv1a(target.as_bytes()) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        let base = &self.seeds[rng.below(self.seeds.len())];
        let mut bytes = base.bytes.clone();
        let mut how = vec![format!("seed {}", base.name)];
        let n = 1 + rng.below(3);
        for _ in 0..n {
            let op = self.apply(&mut rng, base.format, &mut bytes);
            how.push(op);
            if bytes.len() > MAX_LEN {
                bytes.truncate(MAX_LEN);
                how.push(format!("capped at {MAX_LEN} bytes"));
            }
        }
        if base.format == Format::Png && rng.below(4) != 0 {
            fix_png_crcs(&mut bytes);
            how.push("PNG CRCs fixed".into());
        }
        Mutated {
            bytes,
            how: how.join(" + "),
        }
    }

    /// Applies one operator suited to `format`; returns its description.
    fn apply(&self, rng: &mut SeededRng, format: Format, bytes: &mut Vec<u8>) -> String {
        // Half the time a format-aware operator, else a generic one.
        if rng.below(2) == 0 {
            let done = match format {
                Format::Json => json_structural(rng, bytes, false),
                Format::Jsonl => json_structural(rng, bytes, true),
                Format::Text => Some(text_op(rng, bytes)),
                Format::Png => Some(png_op(rng, bytes)),
                Format::Jpeg => Some(jpeg_op(rng, bytes)),
                Format::Parquet => Some(parquet_op(rng, bytes)),
                Format::Safetensors => safetensors_op(rng, bytes),
            };
            if let Some(d) = done {
                return d;
            }
        }
        let textual = matches!(format, Format::Json | Format::Jsonl | Format::Text);
        let choices = if textual { 12 } else { 8 };
        match rng.below(choices) {
            0 => bit_flips(rng, bytes),
            1 => set_bytes(rng, bytes),
            2 => insert_random(rng, bytes),
            3 => delete_range(rng, bytes),
            4 => truncate(rng, bytes),
            5 => self.splice(rng, format, bytes),
            6 => duplicate_range(rng, bytes),
            7 => write_number(rng, bytes),
            8 => huge_number_text(rng, bytes),
            9 => deep_nesting(rng, bytes),
            10 => long_string(rng, bytes),
            _ => invalid_utf8(rng, bytes),
        }
    }

    /// A prefix of the current input followed by a suffix of another seed of the same format.
    fn splice(&self, rng: &mut SeededRng, format: Format, bytes: &mut Vec<u8>) -> String {
        let same: Vec<&Seed> = self.seeds.iter().filter(|s| s.format == format).collect();
        let other = same[rng.below(same.len())];
        let cut = rng.below(bytes.len() + 1);
        let from = rng.below(other.bytes.len() + 1);
        bytes.truncate(cut);
        bytes.extend_from_slice(&other.bytes[from..]);
        format!("splice(..{cut} + {}[{from}..])", other.name)
    }
}

/// FNV-1a, to salt the stream with a target's name.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xCBF2_9CE4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01B3);
    }
    h
}

fn pos(rng: &mut SeededRng, bytes: &[u8]) -> usize {
    rng.below(bytes.len() + 1)
}

fn bit_flips(rng: &mut SeededRng, bytes: &mut [u8]) -> String {
    if bytes.is_empty() {
        return "bit flips (empty)".into();
    }
    let n = 1 + rng.below(8);
    for _ in 0..n {
        let i = rng.below(bytes.len());
        bytes[i] ^= 1 << rng.below(8);
    }
    format!("{n} bit flip(s)")
}

fn set_bytes(rng: &mut SeededRng, bytes: &mut [u8]) -> String {
    if bytes.is_empty() {
        return "set bytes (empty)".into();
    }
    let n = 1 + rng.below(4);
    for _ in 0..n {
        let i = rng.below(bytes.len());
        bytes[i] = match rng.below(5) {
            0 => 0x00,
            1 => 0xFF,
            2 => 0x7F,
            3 => 0x80,
            _ => rng.next_u64() as u8,
        };
    }
    format!("{n} byte(s) set")
}

fn insert_random(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    let at = pos(rng, bytes);
    let n = 1 + rng.below(16);
    let ins: Vec<u8> = (0..n).map(|_| rng.next_u64() as u8).collect();
    bytes.splice(at..at, ins);
    format!("insert {n} random byte(s) at {at}")
}

fn delete_range(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    if bytes.is_empty() {
        return "delete (empty)".into();
    }
    let at = rng.below(bytes.len());
    let max = (bytes.len() - at).min(if rng.below(4) == 0 {
        bytes.len() / 2 + 1
    } else {
        64
    });
    let n = 1 + rng.below(max.max(1));
    let end = (at + n).min(bytes.len());
    bytes.drain(at..end);
    format!("delete {at}..{end}")
}

fn truncate(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    let at = pos(rng, bytes);
    bytes.truncate(at);
    format!("truncate at {at}")
}

fn duplicate_range(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    if bytes.is_empty() {
        return "duplicate (empty)".into();
    }
    let a = rng.below(bytes.len());
    let len = 1 + rng.below((bytes.len() - a).min(256));
    let chunk = bytes[a..a + len].to_vec();
    let times = [1, 2, 16, 1000][rng.below(4)];
    let at = pos(rng, bytes);
    let ins: Vec<u8> = chunk.iter().copied().cycle().take(len * times).collect();
    bytes.splice(at..at, ins);
    format!("duplicate {a}..{} x{times} at {at}", a + len)
}

/// Overwrites 2 or 4 bytes with an interesting value, either byte order.
fn write_number(rng: &mut SeededRng, bytes: &mut [u8]) -> String {
    let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
    let wide = rng.below(2) == 0;
    let be = rng.below(2) == 0;
    let raw: Vec<u8> = match (wide, be) {
        (true, true) => v.to_be_bytes().to_vec(),
        (true, false) => v.to_le_bytes().to_vec(),
        (false, true) => (v as u16).to_be_bytes().to_vec(),
        (false, false) => (v as u16).to_le_bytes().to_vec(),
    };
    if bytes.len() < raw.len() {
        return "write number (too short)".into();
    }
    let at = rng.below(bytes.len() - raw.len() + 1);
    bytes[at..at + raw.len()].copy_from_slice(&raw);
    format!(
        "write {v:#x} ({} bytes, {}) at {at}",
        raw.len(),
        if be { "BE" } else { "LE" }
    )
}

/// Replaces a run of ASCII digits with an extreme number.
fn huge_number_text(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    let runs = digit_runs(bytes);
    let num = HUGE_NUMBERS[rng.below(HUGE_NUMBERS.len())];
    if runs.is_empty() {
        let at = pos(rng, bytes);
        bytes.splice(at..at, num.bytes());
        return format!("insert number {num} at {at}");
    }
    let (a, b) = runs[rng.below(runs.len())];
    bytes.splice(a..b, num.bytes());
    format!("number at {a}..{b} -> {num}")
}

fn digit_runs(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_digit() {
            let a = if i > 0 && bytes[i - 1] == b'-' {
                i - 1
            } else {
                i
            };
            while i < bytes.len() && (bytes[i].is_ascii_digit() || bytes[i] == b'.') {
                i += 1;
            }
            out.push((a, i));
        } else {
            i += 1;
        }
    }
    out
}

/// Inserts `[[[[…` or `{"a":{"a":…` (up to 100,000 levels), closed or not.
fn deep_nesting(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    let depth = [129, 1_000, 100_000][rng.below(3)];
    let object = rng.below(2) == 0;
    let closed = rng.below(2) == 0;
    let (open, close): (&[u8], &[u8]) = if object {
        (b"{\"a\":", b"}")
    } else {
        (b"[", b"]")
    };
    let mut ins = Vec::with_capacity(depth * (open.len() + close.len()) + 1);
    for _ in 0..depth {
        ins.extend_from_slice(open);
    }
    ins.push(b'1');
    if closed {
        for _ in 0..depth {
            ins.extend_from_slice(close);
        }
    }
    // After a `:` or `[` the nesting is a value where the format expects one.
    let anchors: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b':' || **b == b'[')
        .map(|(i, _)| i + 1)
        .collect();
    let at = if !anchors.is_empty() && rng.below(3) != 0 {
        anchors[rng.below(anchors.len())]
    } else {
        pos(rng, bytes)
    };
    bytes.splice(at..at, ins);
    format!(
        "nesting {} x{depth}{} at {at}",
        if object { "{\"a\":" } else { "[" },
        if closed { " closed" } else { "" }
    )
}

/// Inserts a long string (up to 1 MiB; escapes or plain letters) after a quote.
fn long_string(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    // Mostly short, sometimes 64 KiB, now and then the whole size cap (the long ones cost the most time).
    let len = match rng.below(10) {
        0..=4 => 1_000,
        5..=8 => 65_537,
        _ => MAX_LEN,
    };
    let unit: &str = ["a", "\\u00e9", "\\n", "é", "\\\\", " ", "ab. "][rng.below(7)];
    let ins: Vec<u8> = unit.bytes().cycle().take(len).collect();
    let quotes: Vec<usize> = bytes
        .iter()
        .enumerate()
        .filter(|(_, b)| **b == b'"')
        .map(|(i, _)| i + 1)
        .collect();
    let at = if quotes.is_empty() {
        pos(rng, bytes)
    } else {
        quotes[rng.below(quotes.len())]
    };
    // Keep the cut on a character boundary of the unit so the text stays UTF-8 when it was.
    let mut ins = ins;
    while std::str::from_utf8(&ins).is_err() {
        ins.pop();
    }
    bytes.splice(at..at, ins);
    format!("long string {unit:?} x{len} bytes at {at}")
}

fn invalid_utf8(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    let at = pos(rng, bytes);
    if rng.below(3) == 0 {
        let esc = BAD_ESCAPES[rng.below(BAD_ESCAPES.len())];
        bytes.splice(at..at, esc.bytes());
        return format!("escape {esc:?} at {at}");
    }
    let bad = BAD_UTF8[rng.below(BAD_UTF8.len())];
    bytes.splice(at..at, bad.iter().copied());
    format!("invalid UTF-8 {bad:02x?} at {at}")
}

/// Text operators for completions and captions.
fn text_op(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    match rng.below(5) {
        0 => {
            let s = ODD_STRINGS[rng.below(ODD_STRINGS.len())];
            let at = char_pos(rng, bytes);
            bytes.splice(at..at, s.bytes());
            format!("insert {s:?} at {at}")
        }
        1 => {
            // A repeated sentence or word: the degeneration filter's input of choice.
            let unit = [
                "The dog sleeps. ",
                "word ",
                "a",
                "\\boxed{[1]}",
                "\n",
                "1, ",
            ][rng.below(6)];
            let times = match rng.below(10) {
                0..=2 => 3,
                3..=5 => 50,
                6..=7 => 1_000,
                8 => 10_000,
                _ => 100_000,
            };
            let at = char_pos(rng, bytes);
            bytes.splice(at..at, unit.bytes().cycle().take(unit.len() * times));
            format!("repeat {unit:?} x{times} at {at}")
        }
        2 => {
            let s = String::from_utf8_lossy(bytes).into_owned();
            let chars: Vec<char> = s.chars().collect();
            let mut out: Vec<char> = chars.clone();
            out.reverse();
            *bytes = out.into_iter().collect::<String>().into_bytes();
            "reverse characters".into()
        }
        3 => huge_number_text(rng, bytes),
        _ => {
            let at = char_pos(rng, bytes);
            let c = char::from_u32(rng.below(0x11_0000) as u32).unwrap_or('\u{fffd}');
            let mut buf = [0u8; 4];
            bytes.splice(at..at, c.encode_utf8(&mut buf).bytes());
            format!("insert char U+{:04X} at {at}", c as u32)
        }
    }
}

/// A position on a UTF-8 character boundary when the input is UTF-8.
fn char_pos(rng: &mut SeededRng, bytes: &[u8]) -> usize {
    let mut at = pos(rng, bytes);
    if let Ok(s) = std::str::from_utf8(bytes) {
        while !s.is_char_boundary(at) {
            at -= 1;
        }
    }
    at
}

/// Structural JSON damage: parses, changes one node, writes back (possibly with a duplicated
/// key). `None` when the input is not JSON (then a generic operator runs instead).
fn json_structural(rng: &mut SeededRng, bytes: &mut Vec<u8>, lines: bool) -> Option<String> {
    if lines {
        let text = std::str::from_utf8(bytes).ok()?;
        let mut ls: Vec<String> = text.lines().map(str::to_string).collect();
        if ls.is_empty() {
            return None;
        }
        let how = match rng.below(6) {
            0 => {
                let i = rng.below(ls.len());
                let l = ls[i].clone();
                ls.insert(i, l);
                format!("line {} duplicated", i + 1)
            }
            1 => {
                let i = rng.below(ls.len());
                ls.remove(i);
                format!("line {} removed", i + 1)
            }
            2 => {
                let i = rng.below(ls.len() + 1);
                let extra = [
                    "",
                    "   ",
                    "\r",
                    "null",
                    "[]",
                    "{}",
                    "1",
                    "\"x\"",
                    "{\"a\":1}",
                ][rng.below(9)];
                ls.insert(i, extra.to_string());
                format!("line {extra:?} inserted at {}", i + 1)
            }
            _ => {
                let i = rng.below(ls.len());
                let mut one = ls[i].clone().into_bytes();
                let inner = json_structural(rng, &mut one, false)?;
                ls[i] = String::from_utf8(one).ok()?;
                format!("line {}: {inner}", i + 1)
            }
        };
        let sep = if rng.below(8) == 0 { "\r\n" } else { "\n" };
        *bytes = ls.join(sep).into_bytes();
        return Some(how);
    }
    let mut v: Value = serde_json::from_slice(bytes).ok()?;
    let n = count_nodes(&v);
    let target = rng.below(n);
    let mut how = String::new();
    let mut dup_key = None;
    let mut k = 0;
    mutate_node(&mut v, target, &mut k, rng, &mut how, &mut dup_key);
    let mut out = Vec::with_capacity(bytes.len() + 64);
    write_json(&v, &mut out, dup_key.as_ref());
    *bytes = out;
    Some(how)
}

fn count_nodes(v: &Value) -> usize {
    1 + match v {
        Value::Array(a) => a.iter().map(count_nodes).sum(),
        Value::Object(o) => o.values().map(count_nodes).sum(),
        _ => 0,
    }
}

/// Changes node number `target` (pre-order) of `v`.
fn mutate_node(
    v: &mut Value,
    target: usize,
    k: &mut usize,
    rng: &mut SeededRng,
    how: &mut String,
    dup_key: &mut Option<(String, Value)>,
) -> bool {
    if *k == target {
        *how = change(v, rng, dup_key);
        return true;
    }
    *k += 1;
    match v {
        Value::Array(a) => a
            .iter_mut()
            .any(|x| mutate_node(x, target, k, rng, how, dup_key)),
        Value::Object(o) => o
            .values_mut()
            .any(|x| mutate_node(x, target, k, rng, how, dup_key)),
        _ => false,
    }
}

fn change(v: &mut Value, rng: &mut SeededRng, dup_key: &mut Option<(String, Value)>) -> String {
    let kind = match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    match rng.below(10) {
        0 | 1 => {
            let new = wrong_type(rng);
            let d = format!("{kind} -> {new}");
            *v = new;
            d
        }
        2 => {
            let num = HUGE_NUMBERS[rng.below(HUGE_NUMBERS.len())];
            // Written raw (not quoted), so out-of-range numbers reach the parser as text.
            *v = Value::String(format!("\u{0}RAW{num}"));
            format!("{kind} -> number {num}")
        }
        3 => {
            let s = ODD_STRINGS[rng.below(ODD_STRINGS.len())];
            *v = Value::String(s.to_string());
            format!("{kind} -> string {s:?}")
        }
        4 => match v {
            Value::Object(o) if !o.is_empty() => {
                let i = rng.below(o.len());
                let key = o.keys().nth(i).cloned().unwrap_or_default();
                o.shift_remove(&key);
                format!("object: key {key:?} removed")
            }
            Value::Array(a) if !a.is_empty() => {
                let i = rng.below(a.len());
                a.remove(i);
                format!("array: element {i} removed")
            }
            _ => {
                *v = Value::Null;
                format!("{kind} -> null")
            }
        },
        5 => match v {
            Value::Object(o) if !o.is_empty() => {
                let i = rng.below(o.len());
                let key = o.keys().nth(i).cloned().unwrap_or_default();
                *dup_key = Some((key.clone(), wrong_type(rng)));
                format!("object: key {key:?} duplicated")
            }
            _ => {
                let new = wrong_type(rng);
                let d = format!("{kind} -> {new}");
                *v = new;
                d
            }
        },
        6 => match v {
            Value::Array(a) if !a.is_empty() => {
                let times = [2, 100, 10_000][rng.below(3)];
                let first = a[0].clone();
                let extra: Vec<Value> = std::iter::repeat_n(first, times).collect();
                a.extend(extra);
                format!("array: first element repeated x{times}")
            }
            Value::Object(o) => {
                let n = [10, 1_000, 20_000][rng.below(3)];
                for i in 0..n {
                    o.insert(format!("extra_{i}"), Value::from(i));
                }
                format!("object: {n} extra keys")
            }
            Value::String(s) => {
                let times = [2, 1_000, 100_000][rng.below(3)];
                *s = s.repeat(times.min(MAX_LEN / s.len().max(1)));
                format!("string repeated x{times}")
            }
            _ => {
                *v = Value::Array(vec![]);
                format!("{kind} -> []")
            }
        },
        7 => {
            *v = [
                Value::String(String::new()),
                Value::Array(vec![]),
                Value::Object(Default::default()),
            ][rng.below(3)]
            .clone();
            format!("{kind} -> empty {v}")
        }
        8 => {
            // Wrap in a list or an object: a level the reader does not expect.
            let inner = v.take();
            *v = if rng.below(2) == 0 {
                Value::Array(vec![inner])
            } else {
                serde_json::json!({ "x": inner })
            };
            format!("{kind} wrapped")
        }
        _ => match v {
            Value::Number(n) => {
                let new = [
                    Value::from(-1),
                    Value::from(u64::MAX),
                    Value::from(i64::MIN),
                    Value::from(0.5),
                    Value::from(1e308),
                    Value::from(0),
                ][rng.below(6)]
                .clone();
                let d = format!("number {n} -> {new}");
                *v = new;
                d
            }
            Value::String(s) => {
                let i = rng.below(s.len() + 1);
                let i = (0..=i).rev().find(|&j| s.is_char_boundary(j)).unwrap_or(0);
                let odd = ODD_STRINGS[rng.below(ODD_STRINGS.len())];
                s.insert_str(i, odd);
                format!("string: {odd:?} inserted")
            }
            _ => {
                let new = wrong_type(rng);
                let d = format!("{kind} -> {new}");
                *v = new;
                d
            }
        },
    }
}

fn wrong_type(rng: &mut SeededRng) -> Value {
    match rng.below(8) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => Value::from(-7),
        3 => Value::from(3.25),
        4 => Value::String("x".into()),
        5 => serde_json::json!([1, "a", null]),
        6 => serde_json::json!({"k": [true]}),
        _ => Value::from(u64::MAX),
    }
}

/// Writes JSON, with one extra entry for `dup_key` in the first object that has the key, and
/// `"\0RAW…"` strings written as raw (possibly invalid) number text.
fn write_json(v: &Value, out: &mut Vec<u8>, dup_key: Option<&(String, Value)>) {
    let mut dup = dup_key;
    write_value(v, out, &mut dup);
}

fn write_value(v: &Value, out: &mut Vec<u8>, dup: &mut Option<&(String, Value)>) {
    match v {
        Value::String(s) if s.starts_with("\u{0}RAW") => out.extend_from_slice(&s.as_bytes()[4..]),
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(x, out, dup);
            }
            out.push(b']');
        }
        Value::Object(o) => {
            out.push(b'{');
            let mut first = true;
            for (key, x) in o {
                if !first {
                    out.push(b',');
                }
                first = false;
                out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
                out.push(b':');
                write_value(x, out, dup);
                if let Some((k, extra)) = *dup
                    && k == key
                {
                    out.push(b',');
                    out.extend_from_slice(Value::String(key.clone()).to_string().as_bytes());
                    out.push(b':');
                    out.extend_from_slice(extra.to_string().as_bytes());
                    *dup = None;
                }
            }
            out.push(b'}');
        }
        other => out.extend_from_slice(other.to_string().as_bytes()),
    }
}

/// PNG chunks: `(offset of the length field, data length)` for each well-framed chunk.
fn png_chunks(bytes: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut at = 8;
    while at + 12 <= bytes.len() {
        let len =
            u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]) as usize;
        if at + 12 + len > bytes.len() {
            break;
        }
        out.push((at, len));
        at += 12 + len;
    }
    out
}

/// Recomputes every chunk's CRC, so damage inside chunks reaches the decoder proper.
pub fn fix_png_crcs(bytes: &mut [u8]) {
    for (at, len) in png_chunks(bytes) {
        let crc = crc32fast::hash(&bytes[at + 4..at + 8 + len]);
        bytes[at + 8 + len..at + 12 + len].copy_from_slice(&crc.to_be_bytes());
    }
}

/// PNG damage aimed at the header fields (IHDR), chunk lengths and compressed data.
fn png_op(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> String {
    let chunks = png_chunks(bytes);
    if chunks.is_empty() {
        return bit_flips(rng, bytes);
    }
    match rng.below(4) {
        0 => {
            // IHDR: width, height (u32 BE), bit depth, colour type, compression, filter, interlace.
            let (at, _) = chunks[0];
            let field = rng.below(7);
            let data = at + 8;
            if field < 2 {
                let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
                let o = data + 4 * field;
                if o + 4 <= bytes.len() {
                    bytes[o..o + 4].copy_from_slice(&v.to_be_bytes());
                }
                format!("IHDR {} = {v}", if field == 0 { "width" } else { "height" })
            } else {
                let o = data + 8 + (field - 2);
                let v = [0u8, 1, 2, 3, 4, 6, 7, 8, 16, 255][rng.below(10)];
                if o < bytes.len() {
                    bytes[o] = v;
                }
                format!("IHDR byte {} = {v}", field + 6)
            }
        }
        1 => {
            let (at, len) = chunks[rng.below(chunks.len())];
            let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
            bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
            format!("chunk at {at} (len {len}) length = {v}")
        }
        2 => {
            let (at, len) = chunks[rng.below(chunks.len())];
            if len == 0 {
                return bit_flips(rng, bytes);
            }
            let n = 1 + rng.below(4);
            for _ in 0..n {
                let i = at + 8 + rng.below(len);
                bytes[i] ^= 1 << rng.below(8);
            }
            format!("{n} bit flip(s) in chunk data at {at}")
        }
        _ => {
            // Drop or repeat a whole chunk.
            let (at, len) = chunks[rng.below(chunks.len())];
            let chunk = bytes[at..at + 12 + len].to_vec();
            if rng.below(2) == 0 {
                bytes.drain(at..at + 12 + len);
                format!("chunk at {at} removed")
            } else {
                bytes.splice(at..at, chunk);
                format!("chunk at {at} repeated")
            }
        }
    }
}

/// JPEG marker segments before the scan data: `(offset of the marker, marker, segment length)`.
fn jpeg_segments(bytes: &[u8]) -> Vec<(usize, u8, usize)> {
    let mut out = Vec::new();
    let mut at = 2;
    while at + 4 <= bytes.len() && bytes[at] == 0xFF {
        let m = bytes[at + 1];
        let len = u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]) as usize;
        out.push((at, m, len));
        if m == 0xDA {
            break;
        }
        at += 2 + len;
    }
    out
}

/// JPEG damage aimed at the marker segments (SOF, DHT, DQT, SOS, DRI): lengths, sizes,
/// component counts, sampling factors, table selectors.
fn jpeg_op(rng: &mut SeededRng, bytes: &mut [u8]) -> String {
    let segs = jpeg_segments(bytes);
    if segs.is_empty() {
        return bit_flips(rng, bytes);
    }
    let (at, m, len) = segs[rng.below(segs.len())];
    let body = at + 4;
    let end = (at + 2 + len).min(bytes.len());
    match rng.below(4) {
        0 => {
            let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())] as u16;
            bytes[at + 2..at + 4].copy_from_slice(&v.to_be_bytes());
            format!("segment {m:#04x} at {at}: length = {v}")
        }
        1 if (0xC0..=0xC2).contains(&m) && body + 5 <= bytes.len() => {
            // SOF: precision, height, width.
            let h = [0u16, 1, 8, 65000, 65535][rng.below(5)];
            let w = [0u16, 1, 8, 65000, 65535][rng.below(5)];
            bytes[body + 1..body + 3].copy_from_slice(&h.to_be_bytes());
            bytes[body + 3..body + 5].copy_from_slice(&w.to_be_bytes());
            format!("SOF at {at}: {w}x{h}")
        }
        _ if body < end => {
            // Any header byte: a table id, a selector, a sampling factor, a count.
            let n = 1 + rng.below(3);
            for _ in 0..n {
                let i = body + rng.below(end - body);
                bytes[i] = match rng.below(4) {
                    0 => rng.next_u64() as u8,
                    1 => 0xFF,
                    2 => (rng.below(16) as u8) << 4 | rng.below(16) as u8,
                    _ => 0,
                };
            }
            format!("segment {m:#04x} at {at}: {n} header byte(s) set")
        }
        _ => bit_flips(rng, bytes),
    }
}

/// Parquet damage aimed at the footer (thrift metadata and its length).
fn parquet_op(rng: &mut SeededRng, bytes: &mut [u8]) -> String {
    let n = bytes.len();
    if n < 12 {
        return bit_flips(rng, bytes);
    }
    let meta_len =
        u32::from_le_bytes([bytes[n - 8], bytes[n - 7], bytes[n - 6], bytes[n - 5]]) as usize;
    let meta_start = n.saturating_sub(8 + meta_len).max(4);
    match rng.below(3) {
        0 => {
            let v = INTERESTING_U32[rng.below(INTERESTING_U32.len())];
            bytes[n - 8..n - 4].copy_from_slice(&v.to_le_bytes());
            format!("footer length = {v}")
        }
        1 if meta_start < n - 8 => {
            let k = 1 + rng.below(4);
            for _ in 0..k {
                let i = meta_start + rng.below(n - 8 - meta_start);
                bytes[i] = match rng.below(3) {
                    0 => rng.next_u64() as u8,
                    1 => 0xFF,
                    _ => bytes[i] ^ (1 << rng.below(8)),
                };
            }
            format!("{k} byte(s) of the footer metadata changed")
        }
        _ => {
            // Pages and their headers, before the footer.
            let k = 1 + rng.below(4);
            for _ in 0..k {
                let i = 4 + rng.below(meta_start.saturating_sub(4).max(1));
                if i < n {
                    bytes[i] ^= 1 << rng.below(8);
                }
            }
            format!("{k} bit flip(s) in the pages")
        }
    }
}

/// Safetensors damage: the header length, or a structural change of the JSON header written
/// back with a consistent length (so it gets past the length check to the offsets and shapes).
fn safetensors_op(rng: &mut SeededRng, bytes: &mut Vec<u8>) -> Option<String> {
    if bytes.len() < 8 {
        return None;
    }
    let n = u64::from_le_bytes(bytes[..8].try_into().ok()?);
    if rng.below(4) == 0 {
        let v: u64 = [
            0,
            1,
            2,
            n.wrapping_sub(1),
            n.wrapping_add(1),
            u32::MAX as u64,
            u64::MAX,
            100_000_001,
        ][rng.below(8)];
        bytes[..8].copy_from_slice(&v.to_le_bytes());
        return Some(format!("header length {n} -> {v}"));
    }
    let end = 8usize.checked_add(usize::try_from(n).ok()?)?;
    if end > bytes.len() {
        return None;
    }
    let mut header = bytes[8..end].to_vec();
    let how = if rng.below(3) == 0 {
        // The offsets and shapes are the numbers that matter.
        huge_number_text(rng, &mut header)
    } else {
        json_structural(rng, &mut header, false)?
    };
    let mut out = Vec::with_capacity(bytes.len() + 64);
    out.extend_from_slice(&(header.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&bytes[end..]);
    *bytes = out;
    Some(format!("header: {how}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_are_reproducible_and_differ() {
        let seeds = vec![Seed::new(
            "a",
            br#"{"x": [1, 2, {"y": "z"}]}"#.to_vec(),
            Format::Json,
        )];
        let m = Mutator::new(&seeds);
        let a = m.input(7, "t", 3);
        let b = m.input(7, "t", 3);
        assert_eq!(a.bytes, b.bytes);
        assert_eq!(a.how, b.how);
        let distinct: std::collections::HashSet<Vec<u8>> =
            (0..200).map(|i| m.input(7, "t", i).bytes).collect();
        assert!(distinct.len() > 150, "{} distinct of 200", distinct.len());
    }
}
