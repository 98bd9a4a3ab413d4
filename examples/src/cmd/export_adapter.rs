//! `covip export-adapter RUN_DIR --out DIR [--merged]`: the LoRA of a training run's last
//! checkpoint (the last step saved or finished) as a PEFT folder (`adapter_config.json`,
//! `adapter_model.safetensors`, f32, keys `base_model.model.model.language_model.layers.{i}.…
//! .lora_{A,B}.weight`), or with `--merged` as a full checkpoint folder in the base's dtype
//! with the adapters folded in, beside the base's tokenizer, processor, chat template and
//! generation config.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use covip_model::device::Cpu;
use covip_model::lora::{ADAPTER_CONFIG, ADAPTER_WEIGHTS, load_peft_adapter, read_peft_config};
use covip_model::{Qwen3Vl, WeightDtype};

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
    let (_, info, ckpt) = covip_rl::trainer::last_checkpoint(&args.run_dir)?;
    if std::fs::read_dir(&args.out).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{}: exists and is not empty (nothing is overwritten)",
            args.out.display()
        );
    }
    let lora = read_peft_config(&ckpt)?;
    if args.merged {
        let device = Default::default();
        let (mut model, _, _) = Qwen3Vl::<Cpu>::load(&info.model, WeightDtype::default(), &device)
            .with_context(|| format!("loading the base {}", info.model.display()))?;
        load_peft_adapter(&mut model, &ckpt)?;
        covip_model::export::export_merged(&info.model, &model, &args.out)?;
        println!(
            "{}: merged checkpoint of {} (base {})",
            args.out.display(),
            ckpt.display(),
            info.model.display()
        );
    } else {
        // The checkpoint's LoRA is already a PEFT folder written by
        // covip_model::lora::export_peft_adapter: copied as it is.
        std::fs::create_dir_all(&args.out)
            .with_context(|| format!("creating {}", args.out.display()))?;
        for name in [ADAPTER_CONFIG, ADAPTER_WEIGHTS] {
            let bytes = std::fs::read(ckpt.join(name))
                .with_context(|| format!("reading {}", ckpt.join(name).display()))?;
            covip_data::io::write_atomic(&args.out.join(name), &bytes)?;
        }
        if let Some(note) = lora.vllm_note() {
            eprintln!("note: {note}");
        }
        println!("{}: PEFT adapter of {}", args.out.display(), ckpt.display());
    }
    Ok(ExitCode::SUCCESS)
}
