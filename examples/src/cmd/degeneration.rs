//! `covip degeneration`: the degeneration filter over a JSONL file of texts.
//!
//! Input: one `{"id": any, "text": string}` per line (stdin without `--input`). Output: one JSON
//! line per input line, in order, with every level's ratio (`null` below the level's minimum
//! size), the token count (`null` without `--tokenizer`) and the verdict. A malformed line is
//! reported on stderr with its line number, the rest are still processed, and the exit status
//! is then non-zero.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;
use covip_rl::{DegenerationConfig, DegenerationFilter, DegenerationReport};
use serde::Serialize;
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

/// Calls `each(line_number, text)` for every non-blank line of `input` (or stdin); a line that
/// is not UTF-8 is passed as an error.
pub fn for_each_line(
    input: Option<&PathBuf>,
    mut each: impl FnMut(usize, Result<&str, String>),
) -> anyhow::Result<()> {
    use std::io::BufRead;
    let reader: Box<dyn BufRead> = match input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?,
        )),
        None => Box::new(std::io::BufReader::new(std::io::stdin().lock())),
    };
    let mut reader = reader;
    let mut buf = Vec::new();
    let mut no = 0usize;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .context("reading input")?;
        if n == 0 {
            return Ok(());
        }
        no += 1;
        match std::str::from_utf8(&buf) {
            Ok(s) if s.trim().is_empty() => continue,
            Ok(s) => each(no, Ok(s.trim_end_matches(['\n', '\r']))),
            Err(e) => each(no, Err(format!("not UTF-8: {e}"))),
        }
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

fn process(filter: &DegenerationFilter, line: &str) -> Result<String, String> {
    let v: Value = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let obj = v.as_object().ok_or("expected a JSON object")?;
    let id = obj.get("id").ok_or("missing field `id`")?;
    let text = match obj.get("text") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("field `text` must be a string, got {other}")),
        None => return Err("missing field `text`".into()),
    };
    let report = filter.report(text).map_err(|e| e.to_string())?;
    serde_json::to_string(&line_output(id, &report)).map_err(|e| e.to_string())
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = filter(args.tokenizer.as_ref(), args.max_tokens)?;
    map_lines(args.input.as_ref(), |line| process(&filter, line))
}

/// Runs `process` on every non-blank input line and prints its JSON output line by line, in
/// order. A failing line is reported on stderr with its number and the rest still run; the exit
/// status is non-zero if any line failed.
pub fn map_lines(
    input: Option<&PathBuf>,
    mut process: impl FnMut(&str) -> Result<String, String>,
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = 0usize;
    let mut write_err = None;
    for_each_line(input, |no, line| match line.and_then(&mut process) {
        Ok(json) => {
            if let Err(e) = writeln!(out, "{json}") {
                write_err.get_or_insert(e);
            }
        }
        Err(e) => {
            failed += 1;
            eprintln!("line {no}: {e}");
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
