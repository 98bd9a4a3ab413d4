//! Data parallelism (feature `collective`): two peers, each with a replica on the CPU device,
//! their gradients summed by burn-collective's all-reduce, train as one device does.
//!
//! 1. The μ = 2 step of the PyTorch parity fixture, split 4 + 4 rows over two peers, gives the
//!    one-device step's statistics and LoRA weights (within float rounding: the sums run in
//!    another order).
//! 2. A whole run, `train_on` with two devices against `train` with one: the same completions
//!    (choice i of a group is seeded seed + i whichever peer samples it), so the same rewards
//!    and lengths, and the same final LoRA weights within float rounding.
//!
//! One test function: burn-collective's local server is global to the process.
mod common;

use std::path::Path;
use std::sync::Arc;

use burn::tensor::backend::Backend;
use common::gspo_step::{AB, StepFixture, root};
use covip_model::Qwen3Vl;
use covip_rl::trainer::parallel::{finish_peers, parallel_passes, register_peers, replicate};
use covip_rl::trainer::{
    Rewarder, TrainConfig, TrainRun, UpdateSchedule, lora_ids, optim, optimisation_passes, train,
    train_on,
};
use serde_json::Value;

fn lora_values<B: Backend>(m: &Qwen3Vl<B>) -> Vec<(String, Vec<f32>)> {
    m.lora_state()
        .into_iter()
        .map(|(k, t)| (k, t.into_data().to_vec().unwrap()))
        .collect()
}

/// The largest |a − b| over every LoRA entry (same keys in the same order).
fn max_weight_diff(a: &[(String, Vec<f32>)], b: &[(String, Vec<f32>)]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mut d = 0.0f64;
    for ((ka, va), (kb, vb)) in a.iter().zip(b) {
        assert_eq!(ka, kb);
        for (x, y) in va.iter().zip(vb) {
            d = d.max((*x as f64 - *y as f64).abs());
        }
    }
    d
}

fn split_step_equals_one_device() {
    let dev: burn::tensor::Device<AB> = Default::default();
    let fx = StepFixture::load();
    let cfg = fx.config();
    let mm = fx.model.clone();
    let lora = lora_ids(&mm.model);
    let schedule = UpdateSchedule {
        first_update: 0,
        total_updates: cfg.mu,
    };
    let row_images = fx.row_images();
    let batch = fx.batch(&row_images);
    let adv = fx.advantages.clone();

    // One device.
    let mut one_optim = optim::adamw(&cfg.optimizer).init::<AB, Qwen3Vl<AB>>();
    let (one, one_stats) = optimisation_passes(
        mm.clone(),
        &mut one_optim,
        &cfg,
        &lora,
        &batch,
        None,
        schedule,
        None,
        &|_| 0,
        &mut |_, _, _| {},
        None,
        &dev,
    )
    .unwrap();

    // Two peers on the same CPU device.
    let peers = replicate(mm, &[dev, dev], |_| {
        Ok(optim::adamw(&cfg.optimizer).init::<AB, Qwen3Vl<AB>>())
    })
    .unwrap();
    register_peers(&peers).unwrap();
    let adv_for_peers = adv.clone();
    let (peers, stats) = parallel_passes(
        peers,
        &cfg,
        &lora,
        &batch,
        None,
        schedule,
        &|_| 0,
        move || Ok(adv_for_peers),
    )
    .unwrap();
    finish_peers(&peers).unwrap();

    assert_eq!(stats.len(), 2);
    for (k, (a, b)) in stats.iter().zip(&one_stats).enumerate() {
        eprintln!("pass {k}: two peers {a:?}\n        one device {b:?}");
        assert_eq!(a.clip_fraction, b.clip_fraction, "pass {k}");
        assert_eq!(a.learning_rate, b.learning_rate, "pass {k}");
        assert!((a.loss - b.loss).abs() <= 1e-7, "pass {k} loss");
        assert!(
            (a.mean_ratio - b.mean_ratio).abs() <= 1e-6,
            "pass {k} ratio"
        );
        assert!(
            (a.grad_norm - b.grad_norm).abs() <= 1e-5 * b.grad_norm,
            "pass {k} grad norm"
        );
    }
    let one_w = lora_values(&one.model);
    let lr = cfg.optimizer.learning_rate;
    for p in &peers {
        let d = max_weight_diff(&lora_values(&p.model.model), &one_w);
        eprintln!(
            "peer weights vs one device: max diff {d:.3e} ({:.2e} × lr)",
            d / lr
        );
        // The same tolerance as the PyTorch parity: 1% of the learning rate.
        assert!(d <= 0.01 * lr, "{d}");
    }
    // The replicas are equal to each other bit for bit (they apply the same summed
    // gradients).
    assert_eq!(
        lora_values(&peers[0].model.model),
        lora_values(&peers[1].model.model)
    );
}

fn config() -> TrainConfig {
    let mut c = TrainConfig {
        max_steps: Some(2),
        group_size: 4,
        mu: 1,
        max_new_tokens: 4,
        ..TrainConfig::default()
    };
    c.optimizer.learning_rate = 1e-3;
    c.lora.rank = 2;
    c.lora.alpha = 4.0;
    c.lora.dropout = 0.0;
    c
}

fn run_to(out: &Path, devices: usize) -> Vec<Value> {
    let r = TrainRun {
        model_dir: root().join("covip-model/tests/fixtures/tiny-qwen3-vl"),
        data: root().join("data/sample/train.jsonl"),
        out: out.to_path_buf(),
        config: config(),
        resume: false,
        rewarder: Rewarder::Custom(Arc::new(|_, t: &str| t.len() as f64)),
        judge_name: "custom".into(),
        stop_after: None,
        on_step: None,
    };
    let dev: burn::tensor::Device<AB> = Default::default();
    let s = if devices == 1 {
        train::<AB>(r, &dev).unwrap()
    } else {
        train_on::<AB>(r, &vec![dev; devices]).unwrap()
    };
    assert_eq!(s.step, 2);
    std::fs::read_to_string(out.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn checkpoint_weights(out: &Path) -> Vec<(String, Vec<f32>)> {
    let (_, _, dir) = covip_rl::trainer::last_checkpoint(out).unwrap();
    let bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
    let st = covip_model::safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut v: Vec<(String, Vec<f32>)> = st
        .tensors()
        .into_iter()
        .map(|(k, t)| {
            let f = t
                .data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                .collect();
            (k, f)
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

fn two_devices_train_as_one() {
    let tmp = tempfile::tempdir().unwrap();
    let one = run_to(&tmp.path().join("one"), 1);
    let two = run_to(&tmp.path().join("two"), 2);
    for (a, b) in one.iter().zip(&two) {
        eprintln!(
            "step {}: reward {} / {}, loss {} / {}, grad norm {} / {}",
            a["step"],
            a["reward_mean"],
            b["reward_mean"],
            a["loss"],
            b["loss"],
            a["grad_norm"],
            b["grad_norm"]
        );
        // The same completions: the same rewards and lengths.
        assert_eq!(a["reward_mean"], b["reward_mean"]);
        assert_eq!(a["reward_std"], b["reward_std"]);
        assert_eq!(a["response_length"], b["response_length"]);
        let (la, lb) = (a["loss"].as_f64().unwrap(), b["loss"].as_f64().unwrap());
        assert!((la - lb).abs() <= 1e-6, "loss {la} vs {lb}");
        let (ga, gb) = (
            a["grad_norm"][0].as_f64().unwrap(),
            b["grad_norm"][0].as_f64().unwrap(),
        );
        assert!(
            (ga - gb).abs() <= 1e-4 * ga.max(1e-6),
            "grad norm {ga} vs {gb}"
        );
    }
    // The rewards vary, so the steps did learn something to compare.
    assert!(one.iter().any(|m| m["reward_std"].as_f64().unwrap() > 0.0));
    let (wa, wb) = (
        checkpoint_weights(&tmp.path().join("one")),
        checkpoint_weights(&tmp.path().join("two")),
    );
    let d = max_weight_diff(&wa, &wb);
    let lr = config().optimizer.learning_rate;
    eprintln!(
        "final LoRA weights, two peers vs one device: max diff {d:.3e} ({:.2e} × lr)",
        d / lr
    );
    assert!(d <= 0.01 * lr, "{d}");
    // B starts at zero: non-zero B means the steps moved the adapters.
    let moved = wa
        .iter()
        .filter(|(k, _)| k.ends_with("lora_B.weight"))
        .flat_map(|(_, v)| v.iter())
        .fold(0f32, |m, x| m.max(x.abs()));
    assert!(moved > 0.0, "the run did not move the adapters");
}

#[test]
fn data_parallel_training_equals_one_device() {
    split_step_equals_one_device();
    two_devices_train_as_one();
}
