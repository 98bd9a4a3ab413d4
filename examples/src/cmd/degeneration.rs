//! `covip degeneration`: the degeneration filter over a JSONL file of texts.
//!
//! Input: one `{"id": any, "text": string}` per line (stdin without `--input`). Output: one JSON
//! line per input line, in order, with every level's ratio (`null` below the level's minimum
//! size), the token count (`null` without `--tokenizer`) and the verdict
//! (`covip_rl::records::DegenerationLine`). A malformed line is reported on stderr with its line
//! number, the rest are still processed, and the exit status is then non-zero.
use std::io::{BufReader, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args as ClapArgs;
use covip_data::jsonl::Lines;
use covip_rl::records::DegenerationInput;
use covip_rl::{DegenerationConfig, DegenerationFilter};

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

/// Bytes read from the input at a time (a training run filters every rollout: big reads).
const READ_BLOCK: usize = 1 << 20;

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let filter = filter(args.tokenizer.as_ref(), args.max_tokens)?;
    map_lines_into(args.input.as_ref(), |line, out| {
        DegenerationInput::from_json(line)
            .and_then(|input| input.write_report(&filter, out))
            .map_err(|e| e.to_string())
    })
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
    let reader: Box<dyn Read> = match input {
        Some(p) => {
            Box::new(std::fs::File::open(p).with_context(|| format!("opening {}", p.display()))?)
        }
        None => Box::new(std::io::stdin().lock()),
    };
    let mut lines = Lines::new(BufReader::with_capacity(READ_BLOCK, reader));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let mut json = Vec::with_capacity(1 << 10);
    let mut failed = 0usize;
    while let Some(line) = lines.next_line().context("reading input")? {
        json.clear();
        match line.text().and_then(|text| process(text, &mut json)) {
            Ok(()) => {
                json.push(b'\n');
                out.write_all(&json).context("writing output")?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("line {}: {e}", line.number);
            }
        }
    }
    out.flush().context("writing output")?;
    if failed > 0 {
        eprintln!("{failed} line(s) failed");
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}
