//! Aggregate decode throughput of continuous batching: 1, 4 and 16 concurrent clients, each
//! sending greedy requests of a fixed prompt length and a fixed number of new tokens (no stop
//! ids, so every request decodes exactly that many), through covip-model's engine
//! ([`EngineHandle`]) on a randomly initialised model of Qwen3-VL-2B's text shape. With the
//! `server` feature the same load also goes over HTTP, through `covip_model::server` started
//! in-process on loopback.
//!
//! This is a throughput report, not a timed test: it prints a table and asserts nothing.
//!
//! `cargo bench -p covip-bench --bench batching [--features server] [--features cuda]`
//!
//! Environment:
//! - `COVIP_BENCH_LAYERS=N`    decoder layers of the random model (default 2 on the CPU, 28, the
//!   full 2B, with `cuda` or `wgpu`)
//! - `COVIP_BENCH_PROMPT=T`    prompt tokens per request (default 16)
//! - `COVIP_BENCH_DECODE=N`    new tokens per request (default 32)
//! - `COVIP_BENCH_REQUESTS=R`  requests per client (default 2)
//! - `COVIP_BENCH_CLIENTS=1,4,16`  the client counts to measure
//! - `RAYON_NUM_THREADS`       matmul threads on the CPU
use std::sync::mpsc;
use std::time::Instant;

use covip_model::engine::{EngineEvent, EngineHandle, EngineOptions, SeqRequest};
use covip_model::{Qwen3Vl, Qwen3VlConfig, Weights};

#[cfg(feature = "cuda")]
type B = covip_model::burn::backend::Cuda;
#[cfg(all(feature = "wgpu", not(feature = "cuda")))]
type B = covip_model::burn::backend::Wgpu;
#[cfg(not(any(feature = "cuda", feature = "wgpu")))]
type B = covip_model::burn::backend::Flex;

const ON_GPU: bool = cfg!(any(feature = "cuda", feature = "wgpu"));

fn env_usize(k: &str, d: usize) -> usize {
    match std::env::var(k) {
        Ok(v) => v.trim().parse().unwrap_or_else(|_| {
            eprintln!("{k}={v:?} is not a whole number; using {d}");
            d
        }),
        Err(_) => d,
    }
}

fn env_clients() -> Vec<usize> {
    let raw = std::env::var("COVIP_BENCH_CLIENTS").unwrap_or_else(|_| "1,4,16".into());
    let mut out: Vec<usize> = raw
        .split(',')
        .filter_map(|s| s.trim().parse().ok())
        .filter(|&c| c > 0)
        .collect();
    if out.is_empty() {
        eprintln!("COVIP_BENCH_CLIENTS={raw:?} names no client count; using 1,4,16");
        out = vec![1, 4, 16];
    }
    out
}

/// The load of one measurement.
#[derive(Clone, Copy)]
struct Load {
    prompt: usize,
    decode: usize,
    requests_per_client: usize,
}

/// A distinct prompt per (client, request), so that no two requests are the same sequence.
fn prompt_ids(client: usize, request: usize, len: usize, vocab: usize) -> Vec<u32> {
    (0..len)
        .map(|i| ((i * 7919 + client * 104_729 + request * 1_299_709 + 13) % vocab) as u32)
        .collect()
}

/// One row of the table.
struct Measure {
    clients: usize,
    requests: usize,
    tokens: usize,
    seconds: f64,
}

impl Measure {
    fn tokens_per_s(&self) -> f64 {
        self.tokens as f64 / self.seconds
    }
}

/// Runs one greedy request on the engine and returns how many tokens it produced.
fn one_request(engine: &EngineHandle, prompt: Vec<u32>, decode: usize) -> Result<usize, String> {
    let (tx, rx) = mpsc::channel::<EngineEvent>();
    engine
        .submit(
            SeqRequest::greedy(prompt, decode, Vec::new()),
            Box::new(move |ev| tx.send(ev).is_ok()),
        )
        .map_err(|e| format!("submit: {e}"))?;
    let mut tokens = 0;
    for ev in rx {
        match ev {
            EngineEvent::Token { .. } => tokens += 1,
            EngineEvent::Finished { .. } => return Ok(tokens),
            EngineEvent::Failed { message } => return Err(message),
        }
    }
    Err("the engine dropped the request without finishing it".into())
}

/// `clients` threads, each sending `load.requests_per_client` requests one after another.
fn measure_engine(engine: &EngineHandle, clients: usize, load: Load, vocab: usize) -> Measure {
    let start = Instant::now();
    let tokens: usize = std::thread::scope(|s| {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                s.spawn(move || {
                    (0..load.requests_per_client)
                        .map(|r| {
                            let prompt = prompt_ids(c, r, load.prompt, vocab);
                            match one_request(engine, prompt, load.decode) {
                                Ok(n) => n,
                                Err(e) => panic!("client {c} request {r}: {e}"),
                            }
                        })
                        .sum::<usize>()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum()
    });
    Measure {
        clients,
        requests: clients * load.requests_per_client,
        tokens,
        seconds: start.elapsed().as_secs_f64(),
    }
}

fn print_table(title: &str, rows: &[Measure]) {
    println!("\n{title}");
    println!(
        "{:>7} {:>8} {:>7} {:>8} {:>9} {:>8}",
        "clients", "requests", "tokens", "seconds", "tokens/s", "speedup"
    );
    let base = rows
        .iter()
        .find(|m| m.clients == 1)
        .map(Measure::tokens_per_s);
    for m in rows {
        let speedup = base.map_or("-".to_string(), |b| format!("{:.2}x", m.tokens_per_s() / b));
        println!(
            "{:>7} {:>8} {:>7} {:>8.2} {:>9.2} {:>8}",
            m.clients,
            m.requests,
            m.tokens,
            m.seconds,
            m.tokens_per_s(),
            speedup
        );
    }
}

fn main() {
    let layers = env_usize("COVIP_BENCH_LAYERS", if ON_GPU { 28 } else { 2 });
    let load = Load {
        prompt: env_usize("COVIP_BENCH_PROMPT", 16).max(1),
        decode: env_usize("COVIP_BENCH_DECODE", 32).max(1),
        requests_per_client: env_usize("COVIP_BENCH_REQUESTS", 2).max(1),
    };
    let clients = env_clients();
    let max_clients = clients.iter().copied().max().unwrap_or(1);

    let cfg = Qwen3VlConfig::from_json_str(&covip_bench::qwen3_vl_2b_text(layers), "bench")
        .expect("the built-in 2B text config parses");
    let device = Default::default();
    let built = Instant::now();
    let model: Qwen3Vl<B> = Qwen3Vl::init_random(&cfg.text, &device, 0);
    let vocab = cfg.text.vocab_size;
    eprintln!(
        "backend {} | Qwen3-VL-2B text shape, {layers} layers (built in {:.1} s) | prompt {} \
         tokens, {} new tokens, {} requests per client, clients {clients:?}",
        std::any::type_name::<B>(),
        built.elapsed().as_secs_f64(),
        load.prompt,
        load.decode,
        load.requests_per_client,
    );

    let options = EngineOptions {
        max_batch: max_clients,
        max_queue: 4 * max_clients * load.requests_per_client,
        max_len: load.prompt + load.decode + 1,
    };
    let engine = EngineHandle::spawn(Weights::Text(Box::new(model)), device, options)
        .expect("start the engine thread");
    // One untimed request: first-touch allocations, and kernel compilation on a GPU.
    one_request(&engine, prompt_ids(999, 0, load.prompt, vocab), 2).expect("warm-up request");

    let mut rows = Vec::new();
    for &c in &clients {
        let m = measure_engine(&engine, c, load, vocab);
        eprintln!("engine: {c} clients, {:.2} tokens/s", m.tokens_per_s());
        rows.push(m);
    }
    engine.shutdown();
    drop(engine);
    print_table("engine (EngineHandle, in-process)", &rows);

    #[cfg(feature = "server")]
    http::run(layers, options, load, &clients, vocab);
}

/// The same load over HTTP: `covip_model::server` in-process on loopback, each client a
/// blocking HTTP client sending `POST /v1/completions` with token-id prompts, greedy,
/// `ignore_eos` so that every request decodes `max_tokens`.
#[cfg(feature = "server")]
mod http {
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant};

    use covip_data::rng::SeededRng;
    use covip_model::WeightDtype;
    use covip_model::engine::EngineOptions;
    use covip_model::safetensors::{Dtype, tensor::TensorView};
    use covip_model::server::{Server, ServerConfig};
    use covip_model::tensor_names::TextTensors;

    use super::{Load, Measure, ON_GPU, prompt_ids};

    /// The tiny fixture checkpoint: its tokenizer, chat template and generation config serve
    /// the random model (ids it has no token for decode to nothing; only counts matter here).
    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../covip-model/tests/fixtures/tiny-qwen3-vl")
    }

    /// A checkpoint folder that is removed when dropped.
    struct TempCheckpoint(PathBuf);

    impl Drop for TempCheckpoint {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Writes a random checkpoint of the 2B text shape with `layers` layers (bf16, uniform
    /// ±0.05 weights, norms at 1) beside the fixture's tokenizer files.
    fn write_checkpoint(layers: usize) -> Result<TempCheckpoint, String> {
        let dir = std::env::temp_dir().join(format!("covip-bench-batching-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let ckpt = TempCheckpoint(dir.clone());
        let mut config: serde_json::Value =
            serde_json::from_str(&covip_bench::qwen3_vl_2b_text(layers))
                .map_err(|e| e.to_string())?;
        config["image_token_id"] = 432.into();
        config["text_config"]["eos_token_id"] = 422.into();
        config["text_config"]["max_position_embeddings"] = 4096.into();
        std::fs::write(dir.join("config.json"), config.to_string())
            .map_err(|e| format!("config.json: {e}"))?;
        for f in [
            "tokenizer.json",
            "tokenizer_config.json",
            "chat_template.json",
            "generation_config.json",
        ] {
            let from = fixture().join(f);
            if from.exists() {
                std::fs::copy(&from, dir.join(f))
                    .map_err(|e| format!("{}: {e}", from.display()))?;
            }
        }
        let cfg = covip_model::Qwen3VlConfig::from_json_str(&config.to_string(), "bench")
            .map_err(|e| e.to_string())?;
        let specs = TextTensors::new(&cfg.text).list();
        let mut rng = SeededRng::new(7);
        let data: Vec<Vec<u8>> = specs
            .iter()
            .map(|s| {
                let n: usize = s.shape.iter().product();
                let norm = s.name.ends_with("norm.weight");
                let mut out = Vec::with_capacity(2 * n);
                for _ in 0..n {
                    let v = if norm {
                        1.0f32
                    } else {
                        ((rng.uniform() - 0.5) * 0.1) as f32
                    };
                    // bf16: the upper half of the f32 (truncated).
                    out.extend_from_slice(&((v.to_bits() >> 16) as u16).to_le_bytes());
                }
                out
            })
            .collect();
        let views: Vec<(String, TensorView<'_>)> = specs
            .iter()
            .zip(&data)
            .map(|(s, d)| {
                TensorView::new(Dtype::BF16, s.shape.clone(), d)
                    .map(|v| (s.name.clone(), v))
                    .map_err(|e| format!("{}: {e}", s.name))
            })
            .collect::<Result<_, _>>()?;
        covip_model::safetensors::serialize_to_file(views, None, &dir.join("model.safetensors"))
            .map_err(|e| format!("model.safetensors: {e}"))?;
        Ok(ckpt)
    }

    fn one_request(
        agent: &ureq::Agent,
        url: &str,
        model: &str,
        prompt: Vec<u32>,
        decode: usize,
    ) -> Result<usize, String> {
        let body = serde_json::json!({
            "model": model,
            "prompt": prompt,
            "max_tokens": decode,
            "temperature": 0,
            "ignore_eos": true,
        });
        let resp = agent
            .post(url)
            .send_json(body)
            .map_err(|e| format!("POST {url}: {e}"))?;
        let v: serde_json::Value = resp.into_json().map_err(|e| format!("answer: {e}"))?;
        v["usage"]["completion_tokens"]
            .as_u64()
            .map(|n| n as usize)
            .ok_or_else(|| format!("no usage.completion_tokens in {v}"))
    }

    fn measure(
        agent: &ureq::Agent,
        url: &str,
        model: &str,
        clients: usize,
        load: Load,
        vocab: usize,
    ) -> Measure {
        let start = Instant::now();
        let tokens: usize = std::thread::scope(|s| {
            let handles: Vec<_> = (0..clients)
                .map(|c| {
                    s.spawn(move || {
                        (0..load.requests_per_client)
                            .map(|r| {
                                let prompt = prompt_ids(c, r, load.prompt, vocab);
                                one_request(agent, url, model, prompt, load.decode)
                                    .unwrap_or_else(|e| panic!("client {c} request {r}: {e}"))
                            })
                            .sum::<usize>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        Measure {
            clients,
            requests: clients * load.requests_per_client,
            tokens,
            seconds: start.elapsed().as_secs_f64(),
        }
    }

    pub fn run(layers: usize, options: EngineOptions, load: Load, clients: &[usize], vocab: usize) {
        let written = Instant::now();
        let ckpt = match write_checkpoint(layers) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("HTTP part skipped: writing the random checkpoint failed: {e}");
                return;
            }
        };
        eprintln!(
            "HTTP: random checkpoint written in {:.1} s",
            written.elapsed().as_secs_f64()
        );
        let mut cfg = ServerConfig::new(&ckpt.0);
        cfg.port = 0;
        cfg.dtype = WeightDtype::F32;
        cfg.max_batch = options.max_batch;
        cfg.max_queue = options.max_queue;
        cfg.max_model_len = Some(options.max_len);
        if ON_GPU {
            cfg.device = if cfg!(feature = "cuda") {
                covip_model::device::DeviceKind::Cuda
            } else {
                covip_model::device::DeviceKind::Wgpu
            };
        }
        let server = match Server::bind(cfg) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("HTTP part skipped: the server did not start: {e}");
                return;
            }
        };
        let model = server.served_model_name().to_string();
        let running = server.start().expect("start the server thread");
        let url = format!("{}/v1/completions", running.url());
        let agent = ureq::AgentBuilder::new()
            .timeout(Duration::from_secs(600))
            .max_idle_connections_per_host(64)
            .build();
        one_request(
            &agent,
            &url,
            &model,
            prompt_ids(999, 0, load.prompt, vocab),
            2,
        )
        .expect("warm-up request");
        let mut rows = Vec::new();
        for &c in clients {
            let m = measure(&agent, &url, &model, c, load, vocab);
            eprintln!("HTTP: {c} clients, {:.2} tokens/s", m.tokens_per_s());
            rows.push(m);
        }
        if let Err(e) = running.shutdown() {
            eprintln!("the server did not stop cleanly: {e}");
        }
        drop(ckpt);
        super::print_table(
            "HTTP (covip_model::server in-process, POST /v1/completions)",
            &rows,
        );
    }
}
