//! `covip pairwise make|tally`: human-alignment sheets. `make` writes a self-contained HTML page
//! of blinded caption pairs and its key; `tally` un-blinds the exported choices with the key and
//! counts them. Both only parse arguments and call `covip_eval::pairwise`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand};
use covip_eval::pairwise::{
    SheetOptions, TallyOptions, make_sheet, read_choices, read_key, render_table, tally,
    write_sheet,
};

#[derive(Subcommand)]
pub enum PairwiseCommand {
    /// Write a self-contained HTML page of randomised, blinded caption pairs (query image,
    /// context images and dialogues, the two captions as A and B, two questions each answered
    /// A, B or Tie, an export button), and its key `<page>.key.json` beside it.
    Make(MakeArgs),
    /// Un-blind exported choices with the sheet's key and count preferences per criterion,
    /// with a 95% Wilson score interval on the A file's share of non-tie judgements.
    Tally(TallyArgs),
}

#[derive(Args)]
pub struct MakeArgs {
    /// The first caption file (`{sample_id: caption}` or `{sample_id: {"caption": ...}}`):
    /// the "A file" of the tally (not necessarily side A on the page).
    a: PathBuf,
    /// The second caption file: the "B file" of the tally.
    b: PathBuf,
    /// Test set: its folder or its meta.jsonl / ground-truth file.
    #[arg(long)]
    data: PathBuf,
    /// The page to write; the key goes beside it (`sheet.html` -> `sheet.key.json`).
    #[arg(long)]
    out: PathBuf,
    /// Seeds the pair order and the sides; recorded in the key. Default: drawn from the clock,
    /// so a sheet's order cannot be guessed from the tool's defaults.
    #[arg(long)]
    seed: Option<u64>,
    /// At most N pairs, drawn at random.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pairs: Option<u64>,
    /// Pair only the samples both files caption instead of failing on missing or extra ones.
    #[arg(long)]
    allow_missing: bool,
    /// Replace an existing key (the key of a sheet already sent out is then lost).
    #[arg(long)]
    force: bool,
}

#[derive(Args)]
pub struct TallyArgs {
    /// One or more choices files exported from the same sheet (one per rater; pooled).
    #[arg(required = true, value_name = "CHOICES.json")]
    choices: Vec<PathBuf>,
    /// The sheet's key, written by `covip pairwise make` beside the page.
    #[arg(long)]
    key: PathBuf,
    /// Also write the tally as JSON (atomically).
    #[arg(long)]
    out: Option<PathBuf>,
    /// Print the JSON instead of the table.
    #[arg(long)]
    json: bool,
    /// Count the answers given when some are missing, instead of failing.
    #[arg(long)]
    allow_incomplete: bool,
}

pub fn run(cmd: PairwiseCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        PairwiseCommand::Make(a) => make(a),
        PairwiseCommand::Tally(a) => run_tally(a),
    }
}

/// A seed nobody picked: the clock's nanoseconds mixed with the process id.
fn clock_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    nanos ^ (u64::from(std::process::id()) << 32)
}

fn make(a: MakeArgs) -> anyhow::Result<ExitCode> {
    let options = SheetOptions {
        seed: a.seed.unwrap_or_else(clock_seed),
        max_pairs: a.pairs.map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
        allow_missing: a.allow_missing,
    };
    let sheet = make_sheet(&a.a, &a.b, &a.data, &options)?;
    let key_path = write_sheet(&sheet, &a.out, a.force)?;
    println!(
        "wrote {} ({} pair(s), {:.1} MiB, sheet {}) and its key {} (seed {}): send the page to \
         raters, keep the key",
        a.out.display(),
        sheet.key.pairs.len(),
        sheet.html.len() as f64 / (1024.0 * 1024.0),
        sheet.key.sheet_id,
        key_path.display(),
        options.seed
    );
    Ok(ExitCode::SUCCESS)
}

fn run_tally(a: TallyArgs) -> anyhow::Result<ExitCode> {
    let key = read_key(&a.key)?;
    let exports = a
        .choices
        .iter()
        .map(|p| Ok((p.display().to_string(), read_choices(p)?)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let t = tally(
        &key,
        &exports,
        TallyOptions {
            allow_incomplete: a.allow_incomplete,
        },
    )?;
    if let Some(out) = &a.out {
        covip_data::io::write_json_atomic(out, &t)
            .with_context(|| format!("writing {}", out.display()))?;
    }
    if a.json {
        println!("{}", serde_json::to_string_pretty(&t)?);
    } else {
        print!("{}", render_table(&t));
    }
    Ok(ExitCode::SUCCESS)
}
