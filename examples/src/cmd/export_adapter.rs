//! `covip export-adapter RUN_DIR --out DIR [--merged]`: the LoRA of a training run's last
//! checkpoint (the last step saved or finished) as a PEFT folder (`adapter_config.json`,
//! `adapter_model.safetensors`, f32, keys `base_model.model.model.language_model.layers.{i}.…
//! .lora_{A,B}.weight`), or with `--merged` as a full checkpoint folder in the base's dtype
//! with the adapters folded in, beside the base's tokenizer, processor, chat template and
//! generation config (`covip_rl::trainer::export_run`).
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args as ClapArgs;
use covip_model::device::Cpu;

#[derive(ClapArgs, Debug)]
pub struct Args {
    /// The run folder `covip train --out` wrote.
    pub run_dir: PathBuf,
    /// Where to write; must not exist or be empty.
    #[arg(long)]
    pub out: PathBuf,
    /// Write the merged full checkpoint instead of the adapter.
    #[arg(long)]
    pub merged: bool,
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let e = covip_rl::trainer::export_run::<Cpu>(
        &args.run_dir,
        &args.out,
        args.merged,
        &Default::default(),
    )?;
    if let Some(note) = e.vllm_note {
        eprintln!("note: {note}");
    }
    if args.merged {
        println!(
            "{}: merged checkpoint of {} (base {})",
            args.out.display(),
            e.checkpoint.display(),
            e.base.display()
        );
    } else {
        println!(
            "{}: PEFT adapter of {}",
            args.out.display(),
            e.checkpoint.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
