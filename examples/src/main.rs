//! `covip`: the command-line tool. Each subcommand lives in `cmd/` and only parses arguments
//! and calls the library.
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

#[derive(Parser)]
#[command(
    name = "covip",
    version,
    about = "Contextualized visual personalization (CoViP) toolkit"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect, validate and convert benchmark data.
    #[command(subcommand)]
    Data(cmd::data::DataCommand),
    /// Run the degeneration filter over JSONL texts (one JSON line out per line in).
    Degeneration(cmd::degeneration::Args),
    /// Compute CoViP rewards for JSONL completions (caption / multi_vision / vision).
    Reward(cmd::reward::Args),
    /// Generate text from a Qwen3-VL checkpoint folder.
    Generate(cmd::generate::Args),
    /// Save the input ids and f32 logits of one chat-formatted prompt.
    Logits(cmd::logits::Args),
    /// Personalised captions for every sample of a test set (resumable).
    Caption(cmd::caption::Args),
    /// Caption-quality (BLEU, ROUGE-L, CIDEr-D) and hallucination (POPE, CHAIR, MMHal) metrics.
    #[command(subcommand)]
    Metrics(cmd::metrics::MetricsCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Data(c) => cmd::data::run(c),
        Command::Degeneration(a) => cmd::degeneration::run(a),
        Command::Reward(a) => cmd::reward::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Logits(a) => cmd::logits::run(a),
        Command::Caption(a) => cmd::caption::run(a),
        Command::Metrics(c) => cmd::metrics::run(c),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
