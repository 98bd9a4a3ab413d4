//! Checkpoints: `RUN_DIR/checkpoints/step-NNNNNN/` with the LoRA weights as a PEFT folder
//! (`adapter_config.json`, `adapter_model.safetensors`, f32), the optimiser state
//! (`optimizer.mpk`, burn's named MessagePack record at full precision, keyed by the LoRA
//! matrices' deterministic `ParamId`s) and `state.json` (step, schedule position, data
//! cursor, seeds). Each checkpoint is written into a hidden temporary folder and renamed into
//! place, so a run killed while saving leaves the previous checkpoint as the last one.
use std::path::{Path, PathBuf};

use burn::record::{FullPrecisionSettings, NamedMpkBytesRecorder, Record, Recorder};
use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use covip_model::Qwen3Vl;
use covip_model::lora::{ADAPTER_WEIGHTS, LoraConfig, export_peft_adapter};
use serde::{Deserialize, Serialize};

use super::TrainError;

/// The folder holding a run's checkpoints.
pub const CHECKPOINTS: &str = "checkpoints";
/// The optimiser record inside a checkpoint.
pub const OPTIMIZER_FILE: &str = "optimizer.mpk";
/// The loop state inside a checkpoint.
pub const STATE_FILE: &str = "state.json";

/// Where the loop stands after a step. Every random stream of the run is derived from `seed`
/// and the step (see `trainer::derive_seed`), so these values are enough to continue exactly.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CheckpointState {
    /// Steps completed (numbered from 1).
    pub step: usize,
    pub total_steps: usize,
    /// Optimiser updates done (step × μ): the schedule's position.
    pub updates: usize,
    /// The learning rate of the last update.
    pub learning_rate: f64,
    /// The run's seed: data order per epoch, prompt draws, rollout and dropout seeds.
    pub seed: u64,
    /// Data cursor: the epoch and the position in its shuffled order of the next prompt.
    pub epoch: usize,
    pub position: usize,
    /// The training list's length when the run started (a resume checks it).
    pub prompts: usize,
    /// The rollout sampling seed of the next step (choice i uses it + i).
    pub next_rollout_seed: u64,
    /// The dropout seed (`B::seed`) of the next step's first pass.
    pub next_dropout_seed: u64,
}

/// `checkpoints/step-NNNNNN` of `run_dir`.
pub fn checkpoint_dir(run_dir: &Path, step: usize) -> PathBuf {
    run_dir.join(CHECKPOINTS).join(format!("step-{step:06}"))
}

/// The latest complete checkpoint of `run_dir` (highest step with a readable `state.json`),
/// if any. Hidden temporary folders are skipped.
pub fn latest(run_dir: &Path) -> Result<Option<(PathBuf, CheckpointState)>, TrainError> {
    let dir = run_dir.join(CHECKPOINTS);
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(TrainError::io(&dir, e)),
    };
    let mut best: Option<(usize, PathBuf)> = None;
    for entry in entries {
        let entry = entry.map_err(|e| TrainError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(n) = name
            .strip_prefix("step-")
            .and_then(|s| s.parse::<usize>().ok())
        else {
            continue;
        };
        if entry.path().join(STATE_FILE).is_file() && best.as_ref().is_none_or(|(b, _)| n > *b) {
            best = Some((n, entry.path()));
        }
    }
    let Some((_, path)) = best else {
        return Ok(None);
    };
    let state = read_state(&path)?;
    Ok(Some((path, state)))
}

fn read_state(dir: &Path) -> Result<CheckpointState, TrainError> {
    let p = dir.join(STATE_FILE);
    let text = std::fs::read_to_string(&p).map_err(|e| TrainError::io(&p, e))?;
    serde_json::from_str(&text).map_err(|e| TrainError::Checkpoint(format!("{}: {e}", p.display())))
}

/// Writes one checkpoint atomically (temporary folder, then rename). An existing checkpoint
/// of the same step (left by a run that was resumed from an earlier one) is replaced.
pub fn save<B: Backend, R: Record<B>>(
    run_dir: &Path,
    model: &Qwen3Vl<B>,
    lora: &LoraConfig,
    base_model: &str,
    optimizer: R,
    state: &CheckpointState,
) -> Result<PathBuf, TrainError> {
    let final_dir = checkpoint_dir(run_dir, state.step);
    let parent = run_dir.join(CHECKPOINTS);
    std::fs::create_dir_all(&parent).map_err(|e| TrainError::io(&parent, e))?;
    let tmp = parent.join(format!(".step-{:06}.tmp", state.step));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| TrainError::io(&tmp, e))?;
    export_peft_adapter(model, lora, base_model, &tmp)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", tmp.display())))?;
    let bytes = NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .record(optimizer, ())
        .map_err(|e| TrainError::Checkpoint(format!("optimiser state: {e}")))?;
    let write = |name: &str, bytes: &[u8]| {
        covip_data::io::write_atomic(&tmp.join(name), bytes)
            .map_err(|e| TrainError::Io(e.to_string()))
    };
    write(OPTIMIZER_FILE, &bytes)?;
    let mut json = serde_json::to_vec_pretty(state).expect("state serialises");
    json.push(b'\n');
    write(STATE_FILE, &json)?;
    if final_dir.exists() {
        std::fs::remove_dir_all(&final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
    }
    std::fs::rename(&tmp, &final_dir).map_err(|e| TrainError::io(&final_dir, e))?;
    Ok(final_dir)
}

/// The bytes of `path`, refused unread when larger than `limit` (a damaged or foreign file
/// cannot make the loader allocate without bound); `what` names the content in the error.
fn read_bounded(path: &Path, limit: u64, what: &str) -> Result<Vec<u8>, TrainError> {
    let len = std::fs::metadata(path)
        .map_err(|e| TrainError::io(path, e))?
        .len();
    if len > limit {
        return Err(TrainError::Checkpoint(format!(
            "{}: {len} bytes, more than the {limit} allowed for {what}",
            path.display()
        )));
    }
    std::fs::read(path).map_err(|e| TrainError::io(path, e))
}

/// Reads a checkpoint's LoRA matrices (PEFT keys, f32) for `Qwen3Vl::load_lora_state`; the
/// file may hold at most what `expected` (the model's layout) takes, plus a small header.
pub fn read_lora<B: Backend>(
    dir: &Path,
    expected: &[(String, [usize; 2])],
    device: &B::Device,
) -> Result<Vec<(String, Tensor<B, 2>)>, TrainError> {
    use covip_model::safetensors::{Dtype, SafeTensors};
    let path = dir.join(ADAPTER_WEIGHTS);
    let limit: u64 = expected
        .iter()
        .map(|(_, [a, b])| (a * b * 4) as u64)
        .sum::<u64>()
        + (1 << 20);
    let bytes = read_bounded(&path, limit, "this model's adapters")?;
    let st = SafeTensors::deserialize(&bytes)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", path.display())))?;
    let mut out = Vec::with_capacity(expected.len());
    for (key, shape) in expected {
        let view = st.tensor(key).map_err(|e| {
            TrainError::Checkpoint(format!("{}: tensor {key}: {e}", path.display()))
        })?;
        if view.dtype() != Dtype::F32 || view.shape() != shape.as_slice() {
            return Err(TrainError::Checkpoint(format!(
                "{}: tensor {key} is {:?} {:?}, expected F32 {shape:?}",
                path.display(),
                view.dtype(),
                view.shape()
            )));
        }
        let values: Vec<f32> = view
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let t = Tensor::<B, 2>::from_data(TensorData::new(values, *shape), device);
        out.push((key.clone(), t));
    }
    Ok(out)
}

/// Reads a checkpoint's optimiser record. AdamW keeps two moments per LoRA parameter, so the
/// file is refused unread when it is larger than three times the adapters' `lora_bytes` plus
/// 16 MiB (a damaged or foreign file cannot make the loader allocate without bound).
pub fn read_optimizer<B: Backend, R: Record<B>>(
    dir: &Path,
    lora_bytes: u64,
    device: &B::Device,
) -> Result<R, TrainError> {
    let path = dir.join(OPTIMIZER_FILE);
    let limit = 3 * lora_bytes + (16 << 20);
    let bytes = read_bounded(&path, limit, "this model's optimiser state")?;
    NamedMpkBytesRecorder::<FullPrecisionSettings>::default()
        .load(bytes, device)
        .map_err(|e| TrainError::Checkpoint(format!("{}: {e}", path.display())))
}
