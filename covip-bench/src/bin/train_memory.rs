//! Peak memory and time of one GSPO optimisation pass, with and without gradient checkpointing.
//!
//! Issue 13 asks whether burn's `BalancedCheckpointing` (memory-bound operations are recomputed
//! in the backward pass instead of kept from the forward one) should replace the default
//! `NoCheckpointing` in `covip train`. This program runs the trainer's own
//! [`optimisation_passes`] — score with gradients, GSPO loss, backward, global-norm clip,
//! AdamW — on a randomly initialised model of Qwen3-VL-2B's text shape (hidden 2048, 16 heads
//! of 128, 8 KV heads, MLP 6144, vocabulary 151,936, tied head; `--layers` decoder layers) with
//! the released LoRA (rank 64, α 128, no dropout, every decoder linear layer: `lm_head` is left
//! out because the head is tied), on one group of `--rows` text-only rows (prompt + completion
//! tokens, random ids) with random zero-mean advantages and μ = 1. The vision tower is a tiny
//! random one whose output width matches the decoder: text rows never run it, but
//! `optimisation_passes` takes the multimodal model.
//!
//! It prints one JSON line: the strategy, the shape, the median seconds per pass, and the
//! process's peak resident memory (`VmHWM` of `/proc/self/status`) after the model was built
//! and after the passes. Peak RSS is per process and never goes down, so each strategy must
//! run in a process of its own:
//!
//! ```sh
//! cargo build --release -p covip-bench --features trainer --bin train_memory
//! for s in none balanced; do target/release/train_memory --strategy $s; done
//! ```
//!
//! Options (defaults in brackets): `--strategy none|balanced` [none], `--layers N` [2],
//! `--rows G` [4], `--prompt T` [256], `--completion T` [512], `--reps R` [2] (passes timed,
//! the median is reported), `--seed S` [0]. `RAYON_NUM_THREADS` sets the matmul threads.
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use covip_model::burn::backend::Autodiff;
use covip_model::burn::backend::autodiff::checkpoint::strategy::{
    BalancedCheckpointing, CheckpointStrategy, NoCheckpointing,
};
use covip_model::burn::optim::GradientsParams;
use covip_model::device::Cpu;
use covip_model::loader::{Checkpoint, WeightDtype};
use covip_model::lora::LoraConfig;
use covip_model::processor::image::PixelPatches;
use covip_model::safetensors::{Dtype, serialize, tensor::TensorView};
use covip_model::vision::{VisionConfig, VisionTower, tower::expected_tensors};
use covip_model::{Qwen3Vl, Qwen3VlConfig, Qwen3VlMultimodal};
use covip_rl::loss::{AdvantageScale, group_advantages};
use covip_rl::trainer::{
    LossName, RolloutBatch, TrainConfig, UpdateSchedule, lora_ids, optim, optimisation_passes,
};

/// Qwen3-VL's `<|image_pad|>`: no prompt id may equal it (a text row has no image).
const IMAGE_TOKEN_ID: u32 = 151_655;
/// `<|endoftext|>`, the padding id (never scored).
const PAD_ID: u32 = 151_643;
/// Token ids are drawn below this: ordinary vocabulary, no special token.
const ORDINARY_IDS: u64 = 151_000;

/// Upper bounds of the options: far above what fits a CPU, low enough that a typo cannot ask
/// for an allocation without bound before the first forward pass fails.
const MAX_LAYERS: usize = 64;
const MAX_ROWS: usize = 64;
const MAX_TOKENS: usize = 32_768;
const MAX_REPS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Strategy {
    None,
    Balanced,
}

impl Strategy {
    fn name(self) -> &'static str {
        match self {
            Strategy::None => "none",
            Strategy::Balanced => "balanced",
        }
    }
}

#[derive(Debug)]
struct Args {
    strategy: Strategy,
    layers: usize,
    rows: usize,
    prompt: usize,
    completion: usize,
    reps: usize,
    seed: u64,
}

const USAGE: &str = "usage: train_memory [--strategy none|balanced] [--layers N] [--rows G] \
                     [--prompt T] [--completion T] [--reps R] [--seed S]";

/// A whole number in `1..=max` for option `name`.
fn bounded(name: &str, raw: &str, max: usize) -> Result<usize, String> {
    let v: usize = raw
        .trim()
        .parse()
        .map_err(|_| format!("{name} {raw:?}: not a whole number"))?;
    if v == 0 || v > max {
        return Err(format!("{name} {v}: must be between 1 and {max}"));
    }
    Ok(v)
}

fn parse_args(argv: impl IntoIterator<Item = String>) -> Result<Args, String> {
    let mut args = Args {
        strategy: Strategy::None,
        layers: 2,
        rows: 4,
        prompt: 256,
        completion: 512,
        reps: 2,
        seed: 0,
    };
    let mut it = argv.into_iter();
    while let Some(flag) = it.next() {
        if flag == "-h" || flag == "--help" {
            return Err(USAGE.into());
        }
        let value = it
            .next()
            .ok_or_else(|| format!("{flag} needs a value\n{USAGE}"))?;
        match flag.as_str() {
            "--strategy" => {
                args.strategy = match value.as_str() {
                    "none" => Strategy::None,
                    "balanced" => Strategy::Balanced,
                    other => {
                        return Err(format!("--strategy {other:?}: expected none or balanced"));
                    }
                }
            }
            "--layers" => args.layers = bounded(&flag, &value, MAX_LAYERS)?,
            "--rows" => args.rows = bounded(&flag, &value, MAX_ROWS)?,
            "--prompt" => args.prompt = bounded(&flag, &value, MAX_TOKENS)?,
            "--completion" => args.completion = bounded(&flag, &value, MAX_TOKENS)?,
            "--reps" => args.reps = bounded(&flag, &value, MAX_REPS)?,
            "--seed" => {
                args.seed = value
                    .trim()
                    .parse()
                    .map_err(|_| format!("--seed {value:?}: not a whole number"))?
            }
            other => return Err(format!("unknown option {other:?}\n{USAGE}")),
        }
    }
    Ok(args)
}

/// A one-block vision tower (width 32) whose merger outputs `out_hidden` (the decoder's width).
fn tiny_vision_config(out_hidden: usize) -> Result<VisionConfig, String> {
    let v = serde_json::json!({
        "model_type": "qwen3_vl_vision", "depth": 1, "hidden_size": 32, "num_heads": 2,
        "intermediate_size": 64, "in_channels": 3, "patch_size": 16, "temporal_patch_size": 2,
        "spatial_merge_size": 2, "out_hidden_size": out_hidden, "num_position_embeddings": 64,
        "deepstack_visual_indexes": [], "hidden_act": "gelu_pytorch_tanh",
        "rope_parameters": {"rope_theta": 10000.0, "rope_type": "axial"}
    });
    VisionConfig::from_value(&v, "train_memory's tiny vision config").map_err(|e| e.to_string())
}

/// Removes the scratch folder however the load ends.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds the tiny tower through the ordinary loader (there is no random constructor): every
/// tensor [`expected_tensors`] names, filled with small deterministic values, written to a
/// scratch `model.safetensors` and loaded back. The weights never run (text rows only).
fn tiny_vision_tower<B: covip_model::burn::tensor::backend::Backend>(
    out_hidden: usize,
    device: &B::Device,
) -> Result<VisionTower<B>, String> {
    let cfg = tiny_vision_config(out_hidden)?;
    let dir = Scratch(
        std::env::temp_dir().join(format!("covip-train-memory-vision-{}", std::process::id())),
    );
    std::fs::create_dir_all(&dir.0).map_err(|e| format!("{}: {e}", dir.0.display()))?;
    let shapes = expected_tensors(&cfg);
    let bytes: Vec<Vec<u8>> = shapes
        .iter()
        .map(|(_, shape)| {
            let n: usize = shape.iter().product();
            (0..n)
                .flat_map(|i| (((i % 17) as f32 - 8.0) * 1e-3).to_le_bytes())
                .collect()
        })
        .collect();
    let views = shapes
        .iter()
        .zip(&bytes)
        .map(|((name, shape), b)| {
            TensorView::new(Dtype::F32, shape.clone(), b)
                .map(|v| (name.clone(), v))
                .map_err(|e| format!("vision tensor {name}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let file = dir.0.join("model.safetensors");
    let data = serialize(views, None).map_err(|e| format!("{}: {e}", file.display()))?;
    std::fs::write(&file, data).map_err(|e| format!("{}: {e}", file.display()))?;
    let ckpt = Checkpoint::open(&dir.0).map_err(|e| e.to_string())?;
    VisionTower::load(&ckpt, &cfg, WeightDtype::F32, device).map_err(|e| e.to_string())
}

/// `VmHWM` (peak resident set) of this process, in MiB.
fn peak_rss_mib() -> Result<f64, String> {
    let path = Path::new("/proc/self/status");
    let status = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .ok_or_else(|| format!("{}: no VmHWM line", path.display()))?;
    let kib: f64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .map_err(|_| format!("{}: unreadable {line:?}", path.display()))?;
    Ok(kib / 1024.0)
}

/// splitmix64: deterministic ids and rewards without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn ids(&mut self, n: usize) -> Vec<u32> {
        (0..n)
            .map(|_| (self.next() % ORDINARY_IDS) as u32)
            .collect()
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Builds the model and runs the passes on `Autodiff<Cpu, C>`; returns the JSON line.
fn run<C: CheckpointStrategy>(args: &Args) -> Result<serde_json::Value, String> {
    type Inner = Cpu;
    let device = Default::default();
    let built = Instant::now();
    let cfg =
        Qwen3VlConfig::from_json_str(&covip_bench::qwen3_vl_2b_text(args.layers), "train_memory")
            .map_err(|e| e.to_string())?;
    let model: Qwen3Vl<Autodiff<Inner, C>> = Qwen3Vl::init_random(&cfg.text, &device, args.seed);
    let visual = tiny_vision_tower(cfg.text.hidden_size, &device)?;
    let mut mm = Qwen3VlMultimodal {
        model,
        visual,
        image_token_id: IMAGE_TOKEN_ID,
    };
    let train = TrainConfig {
        mu: 1,
        loss: LossName::Gspo,
        lora: LoraConfig {
            dropout: 0.0,
            ..LoraConfig::default()
        }
        .without_lm_head(),
        ..TrainConfig::default()
    };
    mm.apply_lora(&train.lora, args.seed)
        .map_err(|e| format!("apply_lora: {e}"))?;
    let ids = lora_ids(&mm.model);
    let lora_params: usize = mm
        .model
        .lora_state()
        .iter()
        .map(|(_, t)| t.dims().iter().product::<usize>())
        .sum();
    let build_s = built.elapsed().as_secs_f64();
    let model_rss = peak_rss_mib()?;

    // One group of `rows` completions of the same prompt, as a step with batch size 1 has.
    let mut rng = Rng(args.seed ^ 0x5eed);
    let prompt = rng.ids(args.prompt);
    let prompts: Vec<Vec<u32>> = vec![prompt; args.rows];
    let completions: Vec<Vec<u32>> = (0..args.rows).map(|_| rng.ids(args.completion)).collect();
    let no_images = PixelPatches {
        pixel_values: Vec::new(),
        patch_dim: 0,
        grid_thw: Vec::new(),
        merge_size: 2,
    };
    let images: Vec<&PixelPatches> = vec![&no_images; args.rows];
    let rewards: Vec<f64> = (0..args.rows)
        .map(|_| (rng.next() % 1000) as f64 / 1000.0)
        .collect();
    let advantages = if args.rows > 1 {
        group_advantages(&rewards, args.rows, AdvantageScale::GroupStd)
            .map_err(|e| format!("advantages: {e}"))?
    } else {
        vec![1.0]
    };
    let batch = RolloutBatch {
        prompts: &prompts,
        completions: &completions,
        images: &images,
        pad_id: PAD_ID,
        advantages: &advantages,
    };

    let mut optimizer = optim::adamw(&train.optimizer).init();
    let mut seconds = Vec::with_capacity(args.reps);
    let mut losses = Vec::with_capacity(args.reps);
    let mut grad_norms = Vec::with_capacity(args.reps);
    for rep in 0..args.reps {
        let start = Instant::now();
        let (next, stats) = optimisation_passes(
            mm,
            &mut optimizer,
            &train,
            &ids,
            &batch,
            None,
            UpdateSchedule {
                first_update: rep,
                total_updates: args.reps,
            },
            None,
            &|_| 0,
            &mut |_: usize, _: &Qwen3Vl<Autodiff<Inner, C>>, _: &GradientsParams| {},
            // One device: no gradient all-reduce (the CLI's default).
            None,
            &device,
        )
        .map_err(|e| format!("pass {rep}: {e}"))?;
        seconds.push(start.elapsed().as_secs_f64());
        mm = next;
        for s in stats {
            losses.push(s.loss);
            grad_norms.push(s.grad_norm);
        }
        eprintln!(
            "train_memory: {} pass {}/{} in {:.1} s, peak RSS {:.0} MiB",
            args.strategy.name(),
            rep + 1,
            args.reps,
            seconds[rep],
            peak_rss_mib()?
        );
    }
    let peak = peak_rss_mib()?;
    Ok(serde_json::json!({
        "strategy": args.strategy.name(),
        "autodiff": std::any::type_name::<Autodiff<Inner, C>>(),
        "layers": args.layers,
        "rows": args.rows,
        "prompt": args.prompt,
        "completion": args.completion,
        "tokens": args.rows * (args.prompt + args.completion),
        "lora_params": lora_params,
        "reps": args.reps,
        "build_s": build_s,
        "seconds_per_pass": median(seconds.clone()),
        "pass_seconds": seconds,
        "model_rss_mib": model_rss,
        "peak_rss_mib": peak,
        "pass_rss_mib": peak - model_rss,
        "losses": losses,
        "grad_norms": grad_norms,
    }))
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("train_memory: {e}");
            return ExitCode::from(2);
        }
    };
    let out = match args.strategy {
        Strategy::None => run::<NoCheckpointing>(&args),
        Strategy::Balanced => run::<BalancedCheckpointing>(&args),
    };
    match out {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("train_memory: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Args, String> {
        parse_args(s.split_whitespace().map(String::from))
    }

    #[test]
    fn options_parse_and_bad_ones_are_named() {
        let a =
            parse("--strategy balanced --layers 3 --prompt 8 --completion 16 --reps 1").unwrap();
        assert_eq!(a.strategy, Strategy::Balanced);
        assert_eq!((a.layers, a.prompt, a.completion, a.reps), (3, 8, 16, 1));
        assert_eq!(parse("").unwrap().strategy, Strategy::None);
        assert!(parse("--strategy full").unwrap_err().contains("full"));
        assert!(parse("--layers 0").unwrap_err().contains("--layers"));
        assert!(parse("--prompt 99999999").unwrap_err().contains("32768"));
        assert!(parse("--reps").unwrap_err().contains("needs a value"));
        assert!(parse("--bogus 1").unwrap_err().contains("--bogus"));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0]), 2.5);
    }

    #[test]
    fn peak_rss_is_read() {
        assert!(peak_rss_mib().unwrap() > 0.0);
    }
}
