//! One GSPO optimisation step against PyTorch + transformers + PEFT
//! (`scripts/make_gspo_step_fixture.py`, fixture `tests/fixtures/gspo_step/`).
//!
//! The same tiny checkpoint, the same initial LoRA (rank 4, α 8, no dropout, A and B random,
//! loaded from the folder PEFT's `save_pretrained` wrote), the same two prompts (one with an
//! image), eight completions and rewards; μ = 2 passes of the released GSPO loss through the
//! trainer's own [`optimisation_passes`], AdamW, global-norm clipping (binding in the first pass
//! only) and the linear schedule. Compared, per pass: the loss, each sequence's ratio and which
//! sequences clip, the gradient norm, every LoRA gradient before clipping, and every LoRA weight
//! after the update. Tolerances are stated where they are asserted.
mod common;

use std::path::Path;

use burn::backend::Flex;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use common::gspo_step::{AB, StepFixture, fixture};
use covip_model::Qwen3Vl;
use covip_model::lora::lora_param_id;
use covip_model::safetensors;
use covip_rl::trainer::{UpdateSchedule, lora_ids, optim, optimisation_passes};

fn tensors(path: &Path) -> Vec<(String, Vec<usize>, Vec<f32>)> {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    st.tensors()
        .into_iter()
        .map(|(k, v)| {
            let data: Vec<f32> = match v.dtype() {
                safetensors::Dtype::F32 => v
                    .data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes(b.try_into().unwrap()))
                    .collect(),
                safetensors::Dtype::I64 => v
                    .data()
                    .chunks_exact(8)
                    .map(|b| i64::from_le_bytes(b.try_into().unwrap()) as f32)
                    .collect(),
                d => panic!("{k}: {d:?}"),
            };
            (k, v.shape().to_vec(), data)
        })
        .collect()
}

fn get<'a>(t: &'a [(String, Vec<usize>, Vec<f32>)], key: &str) -> &'a [f32] {
    &t.iter()
        .find(|(k, _, _)| k == key)
        .unwrap_or_else(|| panic!("{key} not in the fixture"))
        .2
}

fn vec2<B: Backend>(t: Tensor<B, 2>) -> Vec<f32> {
    t.into_data().to_vec().unwrap()
}

/// max |a − b| and max |b| over two equal-length slices.
fn max_diff(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    a.iter().zip(b).fold((0.0, 0.0), |(d, m), (x, y)| {
        (
            f64::max(d, (*x as f64 - *y as f64).abs()),
            f64::max(m, (*y as f64).abs()),
        )
    })
}

#[test]
fn two_gspo_passes_match_pytorch_and_peft() {
    let dev = Default::default();
    let fx = StepFixture::load();
    let step = &fx.step;
    let reference = tensors(&fixture().join("passes.safetensors"));

    // The model and the adapter PEFT saved.
    let lora = &fx.lora;
    assert_eq!((lora.rank, lora.alpha, lora.dropout), (4, 8.0, 0.0));
    assert_eq!(lora.targets.len(), 8, "{:?}", lora.targets);
    let mm = fx.model.clone();
    let keys: Vec<String> = mm.model.lora_state().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys.len(), 3 * 7 * 2 + 2, "{keys:?}");

    // Pixels: ours equal transformers' exactly (SPEC §7: Pillow-exact processing).
    let fx_pixels = tensors(&fixture().join("pixels.safetensors"));
    let (d, _) = max_diff(&fx.pixels.pixel_values, get(&fx_pixels, "pixel_values"));
    assert!(d <= 1e-6, "pixel values differ by {d}");
    let grid: Vec<usize> = get(&fx_pixels, "image_grid_thw")
        .iter()
        .map(|&x| x as usize)
        .collect();
    assert_eq!(fx.pixels.grid_thw, vec![[grid[0], grid[1], grid[2]]]);

    // Advantages: ours (f64) against the reference's float32, within float32 rounding.
    for (a, b) in fx
        .advantages
        .iter()
        .zip(step["advantages"].as_array().unwrap())
    {
        let b = b.as_f64().unwrap();
        assert!(
            (a - b).abs() <= 1e-6 * b.abs().max(1.0),
            "advantage {a} vs {b}"
        );
    }

    let cfg = fx.config();
    let mut optimizer = optim::adamw(&cfg.optimizer).init::<AB, Qwen3Vl<AB>>();
    let ids = lora_ids(&mm.model);
    assert_eq!(ids.len(), keys.len());

    // What each pass saw: the weights it scored with and its gradients before clipping.
    type WeightsAndGrads = (Vec<Vec<f32>>, Vec<Vec<f32>>);
    let mut seen: Vec<WeightsAndGrads> = Vec::new();
    let mut observe = |_: usize, model: &Qwen3Vl<AB>, grads: &GradientsParams| {
        let weights = model
            .lora_state()
            .into_iter()
            .map(|(_, t)| vec2(t.inner()))
            .collect();
        let grads = keys
            .iter()
            .map(|k| vec2(grads.get::<Flex, 2>(lora_param_id(k)).expect(k)))
            .collect();
        seen.push((weights, grads));
    };
    let row_images = fx.row_images();
    let batch = fx.batch(&row_images);
    let (mm, passes) = optimisation_passes(
        mm,
        &mut optimizer,
        &cfg,
        &ids,
        &batch,
        None,
        UpdateSchedule {
            first_update: 0,
            total_updates: cfg.mu,
        },
        None,
        &|_| 0,
        &mut observe,
        None,
        &dev,
    )
    .unwrap();
    let final_weights: Vec<Vec<f32>> = mm
        .model
        .lora_state()
        .into_iter()
        .map(|(_, t)| vec2(t.inner()))
        .collect();

    let lr = cfg.optimizer.learning_rate;
    for (k, (ours, want)) in passes
        .iter()
        .zip(step["passes"].as_array().unwrap())
        .enumerate()
    {
        let f = |key: &str| want[key].as_f64().unwrap();
        eprintln!(
            "pass {k}: loss {:.9e} (ref {:.9e}), grad norm {:.7} (ref {:.7}), clip fraction {} \
             (ref {}), mean ratio {:.9} (ref {:.9}), lr {:e}",
            ours.loss,
            f("loss"),
            ours.grad_norm,
            f("grad_norm"),
            ours.clip_fraction,
            f("clip_fraction"),
            ours.mean_ratio,
            f("mean_ratio"),
            ours.learning_rate
        );
        // The learning rate is the schedule's, exactly (5e-6, then 2.5e-6).
        assert_eq!(ours.learning_rate, f("learning_rate"), "pass {k}");
        // Which sequences clip: the same (their ratios are at least 1.8e-5 from a bound).
        assert_eq!(ours.clip_fraction, f("clip_fraction"), "pass {k}");
        // Ratios within 1e-6 (float32 sums over ≤ 9 tokens of log-probs near −6; measured
        // 1.3e-7).
        assert!(
            (ours.mean_ratio - f("mean_ratio")).abs() <= 1e-6,
            "pass {k} mean ratio"
        );
        // The loss: within 1e-7 absolute (its value is the mean of ratio × advantage; pass
        // 0's is 0 up to rounding, pass 1's is −2.4e-4; measured 1.5e-8).
        assert!((ours.loss - f("loss")).abs() <= 1e-7, "pass {k} loss");
        // The gradient norm before clipping: relative 1e-5.
        assert!(
            (ours.grad_norm - f("grad_norm")).abs() <= 1e-5 * f("grad_norm"),
            "pass {k} grad norm"
        );
        let (weights_before, grads) = &seen[k];
        let mut worst_grad = 0.0f64;
        let mut worst_weight = 0.0f64;
        for (i, key) in keys.iter().enumerate() {
            // Gradients: every tensor within 1e-4 of its largest entry (float32 forward and
            // backward in a different order of operations; measured 2.3e-6 at worst).
            let (d, m) = max_diff(&grads[i], get(&reference, &format!("grad.{k}.{key}")));
            assert!(
                d <= 1e-4 * m,
                "pass {k} gradient of {key}: off by {d} (max {m})"
            );
            worst_grad = worst_grad.max(d / m);
            // Weights after the update: within 1% of the peak learning rate (each AdamW update
            // moves an entry by about lr; measured 0.15% at worst).
            let after = if k + 1 < passes.len() {
                &seen[k + 1].0[i]
            } else {
                &final_weights[i]
            };
            let (d, _) = max_diff(after, get(&reference, &format!("weight.{k}.{key}")));
            assert!(
                d <= 0.01 * lr,
                "pass {k}: weight {key} after the update off by {d}"
            );
            worst_weight = worst_weight.max(d / lr);
            // And the update moved it (the comparison is not of two unchanged weights).
            let (moved, _) = max_diff(after, &weights_before[i]);
            assert!(
                moved > 0.1 * lr * 0.5f64.powi(k as i32),
                "{key} did not move"
            );
        }
        eprintln!(
            "pass {k}: worst gradient error {worst_grad:.2e} of the tensor's largest entry, \
             worst weight error {worst_weight:.2e} × lr"
        );
    }
}
