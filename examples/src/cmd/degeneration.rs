//! `covip degeneration`: the degeneration filter over a JSONL file of texts.
//!
//! Input: one `{"id": any, "text": string}` per line (stdin without `--input`). Output: one JSON
//! line per input line, in order, with every level's ratio (`null` below the level's minimum
//! size), the token count (`null` without `--tokenizer`) and the verdict. A malformed line is
//! reported on stderr with its line number, the rest are still processed, and the exit status
//! is then non-zero.
//!
//! Throughput matters here (a training run filters every rollout), so the input is read in
//! large blocks, each text is borrowed from its line when it holds no escapes, and every output
//! line is serialised into one reused buffer.
use std::borrow::Cow;
use std::fmt;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;
use covip_rl::{DegenerationConfig, DegenerationFilter, DegenerationReport};
use serde::Serialize;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// JSONL input (default: stdin).
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// A Hugging Face `tokenizer.json`; enables the token count and the length limit.
    #[arg(long)]
    pub tokenizer: Option<PathBuf>,
    /// Texts with more tokens than this are degenerate (needs --tokenizer).
    #[arg(long, default_value_t = 511)]
    pub max_tokens: usize,
}

#[derive(Serialize)]
struct ChunkRatios {
    #[serde(rename = "10")]
    c10: Option<f64>,
    #[serde(rename = "20")]
    c20: Option<f64>,
    #[serde(rename = "30")]
    c30: Option<f64>,
}

#[derive(Serialize)]
struct Line<'a> {
    id: &'a Value,
    degenerate: bool,
    sentence_ratio: Option<f64>,
    ngram_ratio: Option<f64>,
    chunk_ratios: ChunkRatios,
    token_count: Option<usize>,
    too_long: bool,
}

/// Builds the filter shared by `degeneration` and `reward`.
pub fn filter(
    tokenizer: Option<&PathBuf>,
    max_tokens: usize,
) -> anyhow::Result<DegenerationFilter> {
    let filter = DegenerationFilter::new(DegenerationConfig {
        max_tokens,
        ..Default::default()
    });
    Ok(match tokenizer {
        None => filter,
        Some(path) => filter.with_tokenizer_file(path)?,
    })
}

/// Bytes asked of the reader at a time; a longer line grows the buffer to hold it.
const READ_BLOCK: usize = 1 << 20;

/// Calls `each(line_number, text)` for every non-blank line of `input` (or stdin); a line that
/// is not UTF-8 is passed as an error.
pub fn for_each_line(
    input: Option<&PathBuf>,
    mut each: impl FnMut(usize, Result<&str, String>),
) -> anyhow::Result<()> {
    let mut reader: Box<dyn Read> = match input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        None => Box::new(std::io::stdin().lock()),
    };
    // `buf[start..end]` holds the bytes read and not yet handed out (no complete line among
    // them after a scan).
    let mut buf = vec![0u8; READ_BLOCK];
    let (mut start, mut end) = (0usize, 0usize);
    let mut no = 0usize;
    let mut line = |no: usize, bytes: &[u8]| match std::str::from_utf8(bytes) {
        Ok(s) if s.trim().is_empty() => {}
        Ok(s) => each(no, Ok(s.trim_end_matches(['\n', '\r']))),
        Err(e) => each(no, Err(format!("not UTF-8: {e}"))),
    };
    loop {
        if buf.len() - end < READ_BLOCK / 2 {
            // Move the partial line to the front, growing the buffer only for a long line.
            buf.copy_within(start..end, 0);
            end -= start;
            start = 0;
            if buf.len() - end < READ_BLOCK / 2 {
                buf.resize(end + READ_BLOCK, 0);
            }
        }
        let n = match reader.read(&mut buf[end..]) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e).context("reading input"),
        };
        if n == 0 {
            if start < end {
                no += 1;
                line(no, &buf[start..end]);
            }
            return Ok(());
        }
        // Only the new bytes can hold a line end: the old ones were scanned before.
        let mut scan = end;
        end += n;
        while let Some(k) = memchr::memchr(b'\n', &buf[scan..end]) {
            let stop = scan + k + 1;
            no += 1;
            line(no, &buf[start..stop]);
            start = stop;
            scan = stop;
        }
    }
}

/// An input line's `text`: borrowed from the line when it holds no escapes; any other JSON
/// value is kept to say what was found instead of a string.
enum Text<'a> {
    Str(Cow<'a, str>),
    Other(Value),
}

impl<'de> Deserialize<'de> for Text<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TextVisitor)
    }
}

struct TextVisitor;

impl<'de> Visitor<'de> for TextVisitor {
    type Value = Text<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E>(self, v: String) -> Result<Text<'de>, E> {
        Ok(Text::Str(Cow::Owned(v)))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Text<'de>, E> {
        Ok(Text::Other(Value::Bool(v)))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Text<'de>, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Text<'de>, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Text<'de>, E> {
        Ok(Text::Other(v.into()))
    }
    fn visit_unit<E>(self) -> Result<Text<'de>, E> {
        Ok(Text::Other(Value::Null))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Text<'de>, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Text::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Text<'de>, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Text::Other)
    }
}

/// The keys of an input object that matter; the others are skipped unparsed.
enum Key {
    Id,
    Text,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_str<E>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "id" => Key::Id,
                    "text" => Key::Text,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// One parsed input line; `NotObject` when the line is valid JSON but not an object. A key
/// given twice keeps its last value (as a JSON object map does).
enum Input<'a> {
    Object {
        id: Option<Value>,
        text: Option<Text<'a>>,
    },
    NotObject,
}

impl<'de> Deserialize<'de> for Input<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InputVisitor)
    }
}

struct InputVisitor;

impl<'de> Visitor<'de> for InputVisitor {
    type Value = Input<'de>;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Input<'de>, A::Error> {
        let (mut id, mut text) = (None, None);
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => id = Some(map.next_value()?),
                Key::Text => text = Some(map.next_value()?),
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Input::Object { id, text })
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Input<'de>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Input::NotObject)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Input<'de>, E> {
        Ok(Input::NotObject)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Input<'de>, E> {
        Ok(Input::NotObject)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Input<'de>, E> {
        Ok(Input::NotObject)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Input<'de>, E> {
        Ok(Input::NotObject)
    }
    fn visit_str<E>(self, _: &str) -> Result<Input<'de>, E> {
        Ok(Input::NotObject)
    }
    fn visit_unit<E>(self) -> Result<Input<'de>, E> {
        Ok(Input::NotObject)
    }
}

fn line_output<'a>(id: &'a Value, r: &DegenerationReport) -> Line<'a> {
    Line {
        id,
        degenerate: r.degenerate,
        sentence_ratio: r.sentence_ratio,
        ngram_ratio: r.ngram_ratio,
        chunk_ratios: ChunkRatios {
            c10: r.chunk_ratio(10),
            c20: r.chunk_ratio(20),
            c30: r.chunk_ratio(30),
        },
        token_count: r.token_count,
        too_long: r.too_long,
    }
}

fn process(filter: &DegenerationFilter, line: &str, out: &mut Vec<u8>) -> Result<(), String> {
    let input: Input = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let Input::Object { id, text } = input else {
        return Err("expected a JSON object".into());
    };
    let id = id.ok_or("missing field `id`")?;
    let text = match text {
        Some(Text::Str(s)) => s,
        Some(Text::Other(other)) => {
            return Err(format!("field `text` must be a string, got {other}"));
        }
        None => return Err("missing field `text`".into()),
    };
    let report = filter.report(&text).map_err(|e| e.to_string())?;
    serde_json::to_writer(out, &line_output(&id, &report)).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = filter(args.tokenizer.as_ref(), args.max_tokens)?;
    map_lines_into(args.input.as_ref(), |line, out| process(&filter, line, out))
}

/// Runs `process` on every non-blank input line and prints its JSON output line by line, in
/// order. A failing line is reported on stderr with its number and the rest still run; the exit
/// status is non-zero if any line failed.
pub fn map_lines(
    input: Option<&PathBuf>,
    mut process: impl FnMut(&str) -> Result<String, String>,
) -> anyhow::Result<ExitCode> {
    map_lines_into(input, |line, out| {
        out.extend_from_slice(process(line)?.as_bytes());
        Ok(())
    })
}

/// [`map_lines`] where `process` appends its output line (without the line break) to a buffer
/// instead of returning it; what it appended is dropped when it fails.
pub fn map_lines_into(
    input: Option<&PathBuf>,
    mut process: impl FnMut(&str, &mut Vec<u8>) -> Result<(), String>,
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut json = Vec::with_capacity(1 << 10);
    let mut failed = 0usize;
    let mut write_err = None;
    for_each_line(input, |no, line| {
        json.clear();
        match line.and_then(|line| process(line, &mut json)) {
            Ok(()) => {
                json.push(b'\n');
                if write_err.is_none()
                    && let Err(e) = out.write_all(&json)
                {
                    write_err = Some(e);
                }
            }
            Err(e) => {
                failed += 1;
                eprintln!("line {no}: {e}");
            }
        }
    })?;
    if let Some(e) = write_err {
        return Err(e).context("writing output");
    }
    out.flush().context("writing output")?;
    if failed > 0 {
        eprintln!("{failed} line(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
