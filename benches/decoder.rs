//! Prefill and decode throughput of the Qwen3-VL text decoder (f32): on the CPU (burn Flex) by
//! default, on CUDA with `--features cuda`, on wgpu with `--features wgpu`.
//!
//! `cargo bench -p covip-bench --bench decoder [--features cuda]`
//!
//! Environment:
//! - `COVIP_BENCH_MODEL=DIR`  load this checkpoint (as written by scripts/bench_model.py, the
//!   same weights PyTorch runs); without it a random model of Qwen3-VL-2B's text shape is built
//! - `COVIP_BENCH_LAYERS=N`   layers of the random model (default 4; 2B has 28)
//! - `COVIP_BENCH_PREFILL=T`  prompt length (default 64), `COVIP_BENCH_DECODE=N` new tokens (16)
//! - `COVIP_BENCH_REPS=R`     repetitions, the median is reported (default 3)
//! - `RAYON_NUM_THREADS`      matmul threads
//!
//! Prints one line per measure: `prefill tok/s …` / `decode tok/s …` (parsed by the script).
use std::time::Instant;

use burn::tensor::{Tensor, TensorData};
use covip_model::generate::cache::KvCache;
use covip_model::position_ids::{attention_bias, decode_position_ids, position_tensor};
use covip_model::{ModelInput, Qwen3Vl, Qwen3VlConfig, WeightDtype};

#[cfg(feature = "cuda")]
type B = burn::backend::Cuda;
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
type B = burn::backend::Wgpu;
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
type B = burn::backend::Flex;

fn env_usize(k: &str, d: usize) -> usize {
    std::env::var(k)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(d)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let dev = Default::default();
    let model: Qwen3Vl<B> = match std::env::var("COVIP_BENCH_MODEL") {
        Ok(dir) => {
            Qwen3Vl::load(std::path::Path::new(&dir), WeightDtype::F32, &dev)
                .expect("load")
                .0
        }
        Err(_) => {
            let cfg = Qwen3VlConfig::from_json_str(
                &covip_bench::qwen3_vl_2b_text(env_usize("COVIP_BENCH_LAYERS", 4)),
                "bench",
            )
            .unwrap();
            Qwen3Vl::init_random(&cfg.text, &dev, 0)
        }
    };
    let t = env_usize("COVIP_BENCH_PREFILL", 64);
    let n = env_usize("COVIP_BENCH_DECODE", 16);
    let reps = env_usize("COVIP_BENCH_REPS", 3);
    let vocab = model.language_model.embed_tokens.val().dims()[0];
    let prompt: Vec<u32> = (0..t as u32)
        .map(|i| (i * 7919 + 13) % vocab as u32)
        .collect();
    eprintln!(
        "backend {} layers {} prefill {t} decode {n} reps {reps}",
        std::any::type_name::<B>(),
        model.num_layers()
    );
    // One untimed pass so that GPU kernels are compiled and autotuned before timing.
    let warmup = env_usize(
        "COVIP_BENCH_WARMUP",
        usize::from(cfg!(any(feature = "cuda", feature = "wgpu"))),
    );
    let (mut pre, mut dec) = (Vec::new(), Vec::new());
    for rep in 0..warmup + reps {
        let timed = rep >= warmup;
        let valid = vec![vec![true; t]];
        let mut cache = KvCache::new(model.num_layers());
        let start = Instant::now();
        let (input, deltas) = model.text_input(std::slice::from_ref(&prompt), &valid, &dev);
        let h = model.forward_hidden(input, Some(&mut cache)).unwrap();
        // As generation does: logits of the last position only.
        let logits = model.lm_logits(h.narrow(1, t - 1, 1));
        let row: Vec<f32> = logits.into_data().to_vec().unwrap();
        if timed {
            pre.push(t as f64 / start.elapsed().as_secs_f64());
        }
        let mut next = covip_model::generate::sampling::argmax(&row) as i64;
        let mut valid = valid;
        let start = Instant::now();
        for _ in 0..n {
            let cached = cache.seq_len();
            valid[0].push(true);
            let input = ModelInput {
                input_ids: Some(Tensor::from_data(TensorData::new(vec![next], [1, 1]), &dev)),
                inputs_embeds: None,
                position_ids: position_tensor(decode_position_ids(cached, &deltas), 1, 1, &dev),
                attention_bias: Some(attention_bias(&valid, 1, model.dtype(), &dev)),
                deepstack: None,
            };
            let h = model.forward_hidden(input, Some(&mut cache)).unwrap();
            let row: Vec<f32> = model.lm_logits(h).into_data().to_vec().unwrap();
            next = covip_model::generate::sampling::argmax(&row) as i64;
        }
        if timed {
            dec.push(n as f64 / start.elapsed().as_secs_f64());
        }
    }
    println!("burn prefill tok/s {:.2}", median(pre));
    println!("burn decode tok/s {:.2}", median(dec));
}
