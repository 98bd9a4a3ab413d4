//! CoViP rewards for a JSONL file of reward records, as a project that depends on covip-rl
//! with `default-features = false` would compute them: no model, no judge, no tokenizer.
//!
//! Usage: `rewards-jsonl [--alpha A] [FILE]` (stdin without FILE). One output line per record,
//! `{"id", "reward", "degenerate", "sigma_pos", "sigma_neg"}`; a bad line is reported on stderr
//! with its number and the exit status is then 1.
use std::io::{BufRead, BufReader, Write};
use std::process::ExitCode;

use covip_rl::records::{RewardRecord, RewardSettings};

fn main() -> ExitCode {
    match run() {
        Ok(0) => ExitCode::SUCCESS,
        Ok(failed) => {
            eprintln!("{failed} line(s) failed");
            ExitCode::FAILURE
        }
        Err(e) => {
            eprintln!("rewards-jsonl: {e}");
            ExitCode::from(2)
        }
    }
}

/// Rewards every line; returns how many failed.
fn run() -> Result<usize, String> {
    let mut settings = RewardSettings::default();
    let mut file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--alpha" => {
                let value = args.next().ok_or("--alpha needs a value")?;
                settings.retrieval.alpha = value
                    .parse()
                    .map_err(|e| format!("--alpha {value:?}: {e}"))?;
            }
            "-h" | "--help" => return Err("usage: rewards-jsonl [--alpha A] [FILE]".into()),
            _ if file.is_none() => file = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}")),
        }
    }
    let input: Box<dyn BufRead> = match &file {
        Some(path) => Box::new(BufReader::new(
            std::fs::File::open(path).map_err(|e| format!("{path}: {e}"))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut failed = 0;
    for (i, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("line {}: {e}", i + 1))?;
        if line.trim().is_empty() {
            continue;
        }
        let scored = RewardRecord::from_json(&line)
            .and_then(|record| Ok((record.reward(&settings)?, record)));
        match scored {
            Ok((reward, record)) => {
                let json =
                    serde_json::to_string(&reward.line(record.id())).map_err(|e| e.to_string())?;
                writeln!(out, "{json}").map_err(|e| e.to_string())?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("line {}: {e}", i + 1);
            }
        }
    }
    out.flush().map_err(|e| e.to_string())?;
    Ok(failed)
}
