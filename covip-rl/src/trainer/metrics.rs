//! `RUN_DIR/metrics.jsonl`: one JSON object per step, steps numbered from 1.
use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::TrainError;

/// Mean and (population) standard deviation of one task's rewards in a step.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskStats {
    pub mean: f64,
    pub std: f64,
    pub count: usize,
}

/// One line of `metrics.jsonl`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepMetrics {
    pub step: usize,
    pub epoch: usize,
    pub reward_mean: f64,
    pub reward_std: f64,
    /// Per task kind (`caption`, `multi_vision`, `vision`) present in the step.
    pub tasks: BTreeMap<String, TaskStats>,
    /// Share of caption completions the degeneration filter flagged (`null` without captions).
    pub degenerate_share: Option<f64>,
    /// Mean over the μ passes.
    pub loss: f64,
    pub clip_fraction: f64,
    pub mean_ratio: f64,
    /// Only when β > 0 (a reference pass is made).
    pub kl: Option<f64>,
    /// Global L2 norm of the LoRA gradients before clipping, per pass.
    pub grad_norm: Vec<f64>,
    pub learning_rate: f64,
    /// Completion tokens (mask length) per completion, mean.
    pub response_length: f64,
    /// Seconds spent in the reward thread (judge calls and filters) for the step.
    pub judge_seconds: f64,
    pub rollout_tokens_per_s: f64,
    pub train_tokens_per_s: f64,
    pub step_seconds: f64,
    /// Peak resident memory of the process so far (Linux `VmHWM`), bytes; `null` elsewhere.
    pub peak_memory_bytes: Option<u64>,
}

/// Mean and population std of `xs` (0, 0 when empty).
pub fn mean_std(xs: &[f64]) -> (f64, f64) {
    if xs.is_empty() {
        return (0.0, 0.0);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// The process's peak resident set size (`VmHWM` of `/proc/self/status`), where measurable.
pub fn peak_memory_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line
        .trim_start_matches("VmHWM:")
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

/// Appends one line and flushes it to disk.
pub fn append(path: &Path, m: &StepMetrics) -> Result<(), TrainError> {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| TrainError::io(path, e))?;
    let mut line = serde_json::to_string(m).expect("metrics serialise");
    line.push('\n');
    f.write_all(line.as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(|e| TrainError::io(path, e))
}

/// Cuts `path` back to the lines of steps ≤ `step` (a resumed run rewrites the rest); lines
/// that do not parse (a line half-written when the run was killed) are dropped. The file is
/// replaced atomically. A missing file is left missing.
pub fn truncate(path: &Path, step: usize) -> Result<usize, TrainError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(TrainError::io(path, e)),
    };
    let mut kept = String::new();
    let mut n = 0;
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        match v.get("step").and_then(|s| s.as_u64()) {
            Some(s) if (s as usize) <= step => {
                kept.push_str(line);
                kept.push('\n');
                n += 1;
            }
            _ => {}
        }
    }
    covip_data::io::write_atomic(path, kept.as_bytes())
        .map_err(|e| TrainError::Io(format!("{}: {e}", path.display())))?;
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(step: usize) -> StepMetrics {
        StepMetrics {
            step,
            epoch: 0,
            reward_mean: 0.5,
            reward_std: 0.1,
            tasks: BTreeMap::new(),
            degenerate_share: None,
            loss: 0.0,
            clip_fraction: 0.0,
            mean_ratio: 1.0,
            kl: None,
            grad_norm: vec![0.0],
            learning_rate: 1e-6,
            response_length: 3.0,
            judge_seconds: 0.0,
            rollout_tokens_per_s: 1.0,
            train_tokens_per_s: 1.0,
            step_seconds: 1.0,
            peak_memory_bytes: None,
        }
    }

    #[test]
    fn append_and_truncate() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("metrics.jsonl");
        for s in 1..=4 {
            append(&p, &m(s)).unwrap();
        }
        std::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .unwrap()
            .write_all(b"{\"step\": 5, \"rew")
            .unwrap();
        assert_eq!(truncate(&p, 2).unwrap(), 2);
        let lines: Vec<StepMetrics> = std::fs::read_to_string(&p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, [m(1), m(2)]);
        assert_eq!(truncate(&d.path().join("none"), 2).unwrap(), 0);
    }

    #[test]
    fn stats() {
        assert_eq!(mean_std(&[1.0, 3.0]), (2.0, 1.0));
        assert_eq!(mean_std(&[]), (0.0, 0.0));
    }
}
