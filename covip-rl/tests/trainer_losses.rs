//! The trainer with every loss (GRPO with a KL to the frozen base, Dr.GRPO, GSPO-token) on the
//! tiny fixture: finite losses, gradients and KL in metrics.jsonl; and a resume of a run that
//! has no checkpoint yet starts from the start, cutting metrics.jsonl back to nothing.
//! (Its own test binary: the CPU backend's dropout generator is global to the process, and
//! the bit-exact resume test must not share it with a concurrent run.)
use std::path::{Path, PathBuf};
use std::sync::Arc;

use burn::backend::{Autodiff, Flex};
use covip_rl::trainer::{LossName, Rewarder, TrainConfig, TrainRun, train};

type AB = Autodiff<Flex>;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn config(loss: LossName, beta: f64) -> TrainConfig {
    let mut c = TrainConfig {
        max_steps: Some(2),
        group_size: 2,
        mu: 2,
        max_new_tokens: 3,
        loss,
        beta,
        ..TrainConfig::default()
    };
    c.optimizer.learning_rate = 1e-3;
    c.lora.rank = 2;
    c.lora.alpha = 4.0;
    c
}

fn run(out: &Path, config: TrainConfig, resume: bool, stop_after: Option<usize>) -> usize {
    // With seed 42 the first two steps of the bundled list are the short vision and
    // multi_vision records.
    let r = TrainRun {
        model_dir: root().join("covip-model/tests/fixtures/tiny-qwen3-vl"),
        data: root().join("data/sample/train.jsonl"),
        out: out.to_path_buf(),
        config,
        resume,
        rewarder: Rewarder::Custom(Arc::new(|_, t: &str| t.len() as f64)),
        judge_name: "custom".into(),
        stop_after,
        on_step: None,
    };
    let s = train::<AB>(r, &Default::default()).unwrap();
    if resume {
        assert_eq!(s.resumed_from, Some(0));
    }
    s.step
}

fn metrics(dir: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(dir.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn every_loss_trains_and_reports() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, (loss, beta)) in [
        (LossName::Grpo, 0.1),
        (LossName::DrGrpo, 0.0),
        (LossName::GspoToken, 0.0),
    ]
    .into_iter()
    .enumerate()
    {
        let out = tmp.path().join(format!("r{i}"));
        assert_eq!(run(&out, config(loss, beta), false, None), 2);
        for m in metrics(&out) {
            assert!(m["loss"].as_f64().unwrap().is_finite(), "{loss:?}: {m}");
            for g in m["grad_norm"].as_array().unwrap() {
                assert!(g.as_f64().unwrap().is_finite(), "{loss:?}: {m}");
            }
            if beta > 0.0 {
                let kl = m["kl"].as_f64().expect("kl with beta > 0");
                assert!(kl.is_finite() && kl >= -1e-6, "{m}");
            } else {
                assert!(m["kl"].is_null());
            }
        }
    }
}

#[test]
fn resume_without_checkpoint_starts_over() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    // save_every 50: the "killed" run leaves metrics but no checkpoint.
    run(&out, config(LossName::Gspo, 0.0), false, Some(1));
    assert_eq!(metrics(&out).len(), 1);
    assert!(!out.join("checkpoints").exists());
    assert_eq!(run(&out, config(LossName::Gspo, 0.0), true, None), 2);
    let steps: Vec<u64> = metrics(&out)
        .iter()
        .map(|m| m["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [1, 2]);
}

#[test]
fn non_empty_run_dir_is_refused_without_resume() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("notes.txt"), "mine").unwrap();
    let r = TrainRun {
        model_dir: root().join("covip-model/tests/fixtures/tiny-qwen3-vl"),
        data: root().join("data/sample/train.jsonl"),
        out: tmp.path().to_path_buf(),
        config: config(LossName::Gspo, 0.0),
        resume: false,
        rewarder: Rewarder::Custom(Arc::new(|_, _: &str| 0.0)),
        judge_name: "custom".into(),
        stop_after: None,
        on_step: None,
    };
    let err = train::<AB>(r, &Default::default()).unwrap_err().to_string();
    assert!(
        err.contains("--resume") && err.contains("not empty"),
        "{err}"
    );
    let names: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["notes.txt"]);
}

/// `init_adapter`: the run starts from a PEFT adapter (here the one PEFT saved for the step
/// parity fixture: r 4, α 8, all eight targets), takes its shape over the `[lora]` values, and
/// with a learning rate of 0 its checkpoint holds exactly the adapter's weights.
#[test]
fn a_run_starts_from_a_peft_adapter() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("run");
    let adapter = root().join("covip-rl/tests/fixtures/gspo_step/adapter");
    let mut c = config(LossName::Gspo, 0.0);
    c.max_steps = Some(1);
    c.optimizer.learning_rate = 0.0;
    c.init_adapter = Some(adapter.clone());
    assert_eq!(run(&out, c, false, None), 1);
    let saved = TrainConfig::from_file(&out.join("config.toml")).unwrap();
    assert_eq!((saved.lora.rank, saved.lora.alpha), (4, 8.0));
    assert_eq!(saved.lora.targets.len(), 8);
    let (_, _, ckpt) = covip_rl::trainer::last_checkpoint(&out).unwrap();
    let read = |p: &Path| {
        let bytes = std::fs::read(p).unwrap();
        let st = covip_model::safetensors::SafeTensors::deserialize(&bytes).unwrap();
        let mut v: Vec<(String, Vec<u8>)> = st
            .tensors()
            .into_iter()
            .filter(|(k, _)| k != covip_model::lora::PEFT_HEAD_BASE_KEY)
            .map(|(k, t)| (k, t.data().to_vec()))
            .collect();
        v.sort();
        v
    };
    let want = read(&adapter.join("adapter_model.safetensors"));
    assert_eq!(want.len(), 3 * 7 * 2 + 2);
    assert_eq!(read(&ckpt.join("adapter_model.safetensors")), want);
}
