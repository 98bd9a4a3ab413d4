//! `covip plot RUN_DIR [--out PNG]`: the reward (mean ± std) and response-length curves of a
//! training run's `metrics.jsonl` as a PNG (`RUN_DIR/curves.png` by default).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args as ClapArgs;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The run folder `covip train --out` wrote (its `metrics.jsonl` is read).
    pub run_dir: PathBuf,
    /// Where to write the PNG (default: RUN_DIR/curves.png).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let metrics = args.run_dir.join("metrics.jsonl");
    let out = args.out.unwrap_or_else(|| args.run_dir.join("curves.png"));
    let steps = covip_eval::report::plot_training(&metrics, &out)?;
    println!("{steps} steps plotted to {}", out.display());
    Ok(ExitCode::SUCCESS)
}
