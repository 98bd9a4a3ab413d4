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
    /// Worker threads for every parallel part of a command (metrics, tokenising, the CPU
    /// model): the size of rayon's global pool. Default: RAYON_NUM_THREADS, else one per core.
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    threads: Option<u16>,
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
    /// Serve a checkpoint over an OpenAI-compatible HTTP API (chat and completions, as vLLM).
    Serve(cmd::serve::Args),
    /// Personalised captions for every sample of a test set (resumable).
    Caption(cmd::caption::Args),
    /// CapEval-QAs: judge every QA from each caption, Acc+ / Acc− by present concepts. With no
    /// argument: the bundled sample's two caption sets under the lexical judge.
    Capeval(cmd::capeval::Args),
    /// LSD / LAR / ITR diagnostics, with or without CAG (resumable).
    Diagnose(cmd::diagnose::Args),
    /// Caption-quality (BLEU, ROUGE-L, CIDEr-D) and hallucination (POPE, CHAIR, MMHal) metrics.
    #[command(subcommand)]
    Metrics(cmd::metrics::MetricsCommand),
    /// Human-alignment sheets: blinded caption pairs as an HTML page, and their tally.
    #[command(subcommand)]
    Pairwise(cmd::pairwise::PairwiseCommand),
    /// GSPO post-training with the CoViP rewards and LoRA (resumable run folder).
    Train(Box<cmd::train::Args>),
    /// A training run's LoRA as a PEFT adapter folder, or merged into a full checkpoint.
    ExportAdapter(cmd::export_adapter::Args),
    /// A training run's reward and response-length curves as a PNG.
    Plot(cmd::plot::Args),
}

/// Log lines of the libraries (`tracing`) go to stderr, filtered by `RUST_LOG`
/// (`RUST_LOG=covip_eval=debug`, say); without it, warnings and errors only.
fn install_logging() {
    use std::io::IsTerminal;
    let filter = tracing_subscriber::EnvFilter::builder()
        .with_default_directive(tracing_subscriber::filter::LevelFilter::WARN.into())
        .from_env_lossy();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// One pool for all parallel work, so nested parallel parts share the cores instead of each
/// starting its own threads.
fn install_thread_pool(threads: Option<u16>) -> anyhow::Result<()> {
    if let Some(n) = threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build_global()
            .map_err(|e| anyhow::anyhow!("--threads {n}: {e}"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    install_logging();
    if let Err(err) = install_thread_pool(cli.threads) {
        eprintln!("error: {err:#}");
        return ExitCode::FAILURE;
    }
    let result = match cli.command {
        Command::Data(c) => cmd::data::run(c),
        Command::Degeneration(a) => cmd::degeneration::run(a),
        Command::Reward(a) => cmd::reward::run(a),
        Command::Generate(a) => cmd::generate::run(a),
        Command::Serve(a) => cmd::serve::run(a),
        Command::Logits(a) => cmd::logits::run(a),
        Command::Caption(a) => cmd::caption::run(a),
        Command::Capeval(a) => cmd::capeval::run(a),
        Command::Diagnose(a) => cmd::diagnose::run(a),
        Command::Metrics(c) => cmd::metrics::run(c),
        Command::Pairwise(c) => cmd::pairwise::run(c),
        Command::Train(a) => cmd::train::run(*a),
        Command::ExportAdapter(a) => cmd::export_adapter::run(a),
        Command::Plot(a) => cmd::plot::run(a),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
