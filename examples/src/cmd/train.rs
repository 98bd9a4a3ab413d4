//! `covip train`: GSPO post-training of a Qwen3-VL checkpoint with the CoViP rewards and LoRA
//! (covip_rl::trainer). The configuration is one TOML file (`--config`, SPEC §5's released
//! recipe for every key left out); the flags below win over it. The run folder gets
//! `config.toml`, `run.json`, `metrics.jsonl` and `checkpoints/step-NNNNNN/`.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args as ClapArgs;
use covip_model::burn::backend::Autodiff;
use covip_rl::trainer::{
    LossName, Rewarder, StepMetrics, TrainConfig, TrainOverrides, TrainRun, train_on,
};

use super::judge_args::JudgeArgs;

// The judge flags are shared with `covip reward`; train's own help for them is kept: the cache
// defaults into the run folder, and the three request settings are listed without a line.
#[derive(ClapArgs, Debug)]
#[command(
    mut_arg("judge_cache", |a| a.help(
        "Judge answers cache (JSONL); default RUN_DIR/judge.cache.jsonl for a URL judge"
    )),
    mut_arg("judge_concurrency", |a| a.help(None)),
    mut_arg("judge_timeout", |a| a.help(None)),
    mut_arg("judge_retries", |a| a.help(None))
)]
pub struct Args {
    /// The base checkpoint folder (Qwen3-VL, with its vision tower).
    #[arg(long)]
    pub model: PathBuf,
    /// The training list (released JSON array or JSONL).
    #[arg(long)]
    pub data: PathBuf,
    /// `lexical` (offline word overlap) or an OpenAI-compatible base URL
    /// (http://localhost:8000/v1).
    #[arg(long)]
    pub judge: String,
    /// TOML configuration; keys left out take the released recipe's values.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// The run folder. It must not exist or be empty, unless --resume.
    #[arg(long)]
    pub out: PathBuf,
    /// Continue the run in --out from its last checkpoint (or from the start when it has none).
    #[arg(long)]
    pub resume: bool,
    /// cpu, or cuda / wgpu when built with that feature.
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// Data-parallel over this many devices of --device (cuda: GPUs 0..N−1, one model replica
    /// each, gradients summed by burn-collective; cpu: N peers sharing the CPU, as the tests
    /// run it). Each step's G × batch-size completions are shared out, so give at least N.
    #[arg(long, default_value_t = 1)]
    pub devices: usize,

    /// Total steps (wins over --epochs).
    #[arg(long)]
    pub max_steps: Option<usize>,
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long)]
    pub seed: Option<u64>,
    #[arg(long)]
    pub save_every: Option<usize>,
    #[arg(long)]
    pub max_new_tokens: Option<usize>,
    /// G: completions per prompt.
    #[arg(long)]
    pub group_size: Option<usize>,
    /// Prompts per step.
    #[arg(long)]
    pub batch_size: Option<usize>,
    #[arg(long)]
    pub learning_rate: Option<f64>,
    /// gspo | gspo-token | grpo | dr-grpo
    #[arg(long, value_parser = parse_loss)]
    pub loss: Option<LossName>,
    /// μ: optimisation passes per rollout batch.
    #[arg(long)]
    pub mu: Option<usize>,
    /// β of the KL to the frozen base.
    #[arg(long)]
    pub beta: Option<f64>,
    #[arg(long)]
    pub epsilon_low: Option<f64>,
    #[arg(long)]
    pub epsilon_high: Option<f64>,
    #[arg(long)]
    pub lora_rank: Option<usize>,
    #[arg(long)]
    pub lora_alpha: Option<f64>,
    #[arg(long)]
    pub lora_dropout: Option<f64>,
    /// Comma-separated module names (q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj,
    /// lm_head).
    #[arg(long, value_delimiter = ',')]
    pub lora_targets: Option<Vec<String>>,
    /// Rollout temperature (default: the checkpoint's generation_config.json, else 0.7).
    #[arg(long)]
    pub temperature: Option<f32>,
    #[arg(long)]
    pub top_k: Option<usize>,
    #[arg(long)]
    pub top_p: Option<f32>,
    /// Prompt wording as a covip-data templates JSON file.
    #[arg(long)]
    pub templates: Option<PathBuf>,
    /// Start from this PEFT LoRA adapter folder instead of a fresh adapter; its r, α and
    /// targets replace --lora-rank / --lora-alpha / --lora-targets.
    #[arg(long)]
    pub init_adapter: Option<PathBuf>,
    /// Load the base's weights as f32 even when stored as bf16 (faster on the CPU backend).
    #[arg(long)]
    pub f32: bool,

    #[command(flatten)]
    pub judge_args: JudgeArgs,
}

fn parse_loss(s: &str) -> Result<LossName, String> {
    LossName::parse(s).map_err(|e| e.to_string())
}

impl Args {
    fn overrides(&self) -> TrainOverrides {
        TrainOverrides {
            max_steps: self.max_steps,
            epochs: self.epochs,
            seed: self.seed,
            save_every: self.save_every,
            max_new_tokens: self.max_new_tokens,
            group_size: self.group_size,
            batch_size: self.batch_size,
            learning_rate: self.learning_rate,
            loss: self.loss,
            mu: self.mu,
            beta: self.beta,
            epsilon_low: self.epsilon_low,
            epsilon_high: self.epsilon_high,
            lora_rank: self.lora_rank,
            lora_alpha: self.lora_alpha,
            lora_dropout: self.lora_dropout,
            lora_targets: self.lora_targets.clone(),
            temperature: self.temperature,
            top_k: self.top_k,
            top_p: self.top_p,
            templates: self.templates.clone(),
            init_adapter: self.init_adapter.clone(),
            f32: self.f32.then_some(true),
        }
    }
}

pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = match &args.config {
        Some(p) => TrainConfig::from_file(p)?,
        None => TrainConfig::default(),
    };
    args.overrides().apply(&mut config);
    config.validate()?;

    let is_url = args.judge != "lexical";
    let cache = args
        .judge_args
        .judge_cache
        .clone()
        .or_else(|| is_url.then(|| args.out.join(covip_rl::trainer::JUDGE_CACHE_FILE)));
    let spec = args.judge_args.spec(args.judge.clone(), cache)?;
    // Opening the judge creates its cache inside the run folder: refuse an occupied folder
    // before that.
    covip_rl::trainer::check_run_dir(&args.out, args.resume)?;
    let judge = spec.open().context("opening the judge")?;

    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} step {pos}/{len} reward {msg} [{elapsed_precise}]",
        )
        .expect("a valid template"),
    );
    let progress = bar.clone();
    let on_step = move |m: &StepMetrics, total: usize| {
        progress.set_length(total as u64);
        progress.set_position(m.step as u64);
        progress.set_message(format!(
            "{:.3} ± {:.3}, {:.1} s/step",
            m.reward_mean, m.reward_std, m.step_seconds
        ));
        tracing::info!(step = m.step, reward = m.reward_mean, loss = m.loss, "step");
    };
    let run = TrainRun {
        model_dir: args.model.clone(),
        data: args.data.clone(),
        out: args.out.clone(),
        config,
        resume: args.resume,
        rewarder: Rewarder::Judge(judge),
        judge_name: args.judge.clone(),
        stop_after: None,
        on_step: Some(Box::new(on_step)),
    };
    let n = args.devices;
    if n == 0 {
        bail!("--devices 0: give at least one");
    }
    let summary = match args.device.as_str() {
        "cpu" => train_on::<Autodiff<covip_model::device::Cpu>>(run, &vec![Default::default(); n])?,
        #[cfg(feature = "cuda")]
        "cuda" => {
            let devices: Vec<_> = (0..n)
                .map(covip_model::burn::backend::cuda::CudaDevice::new)
                .collect();
            train_on::<Autodiff<covip_model::device::Cuda>>(run, &devices)?
        }
        #[cfg(feature = "wgpu")]
        "wgpu" if n == 1 => {
            train_on::<Autodiff<covip_model::device::Wgpu>>(run, &[Default::default()])?
        }
        #[cfg(feature = "wgpu")]
        "wgpu" => bail!("--devices {n}: data parallelism runs on cuda (or cpu, for testing)"),
        other => bail!("--device {other}: cpu, or cuda / wgpu in a build with that feature"),
    };
    bar.finish_and_clear();
    if summary.resumed_from == Some(0) {
        eprintln!(
            "{}: no checkpoint, started from the start",
            args.out.display()
        );
    }
    println!(
        "trained {} / {} steps; last checkpoint: {}",
        summary.step,
        summary.total_steps,
        summary
            .last_checkpoint
            .as_ref()
            .map_or("none".to_string(), |p| p.display().to_string())
    );
    Ok(ExitCode::SUCCESS)
}
