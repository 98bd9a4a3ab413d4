//! `covip serve`: an OpenAI-compatible HTTP server (vLLM's request and response shapes) for a
//! Qwen3-VL checkpoint folder, with continuous batching. All of it is
//! `covip_model::server`; this only reads the flags.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use covip_model::WeightDtype;
use covip_model::device::DeviceKind;
use covip_model::server::{DEFAULT_MAX_BODY_BYTES, Server, ServerConfig};

#[derive(Parser, Debug, Clone)]
pub struct Args {
    /// Hugging Face checkpoint folder (config.json, safetensors, tokenizer.json).
    #[arg(long)]
    pub model: PathBuf,
    /// Address to listen on (loopback by default: pass 0.0.0.0 to serve other machines).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on; 0 picks a free one (printed on the ready line).
    #[arg(long, default_value_t = 8000)]
    pub port: u16,
    /// cpu, wgpu or cuda (the latter two need the matching cargo feature).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// The name clients pass as `model` (default: the model folder's name).
    #[arg(long)]
    pub served_model_name: Option<String>,
    /// Most sequences decoding together; a request with `n` samples counts `n`, and `n` may
    /// not exceed it.
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
    /// Most requests waiting for room in the batch; more are answered 503 with Retry-After.
    #[arg(long, default_value_t = 256)]
    pub max_queue: usize,
    /// Context length (prompt + completion); default: the checkpoint's
    /// max_position_embeddings.
    #[arg(long)]
    pub max_model_len: Option<usize>,
    /// Require `Authorization: Bearer KEY` on every /v1/ request (default: the COVIP_API_KEY
    /// environment variable, which keeps the key out of the process list).
    #[arg(long)]
    pub api_key: Option<String>,
    /// The only folder whose files requests may name as images (local paths and file://
    /// URLs); without it they are refused.
    #[arg(long)]
    pub allowed_media_dir: Option<PathBuf>,
    /// Largest request body accepted (413 beyond).
    #[arg(long, default_value_t = DEFAULT_MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Load weights as f32 even when the checkpoint stores bf16.
    #[arg(long)]
    pub f32: bool,
}

pub fn run(a: Args) -> anyhow::Result<ExitCode> {
    let device: DeviceKind = a.device.parse()?;
    let cfg = ServerConfig {
        host: a.host.clone(),
        port: a.port,
        device,
        dtype: if a.f32 {
            WeightDtype::F32
        } else {
            WeightDtype::AsStored
        },
        served_model_name: a.served_model_name.clone(),
        max_batch: a.max_batch,
        max_queue: a.max_queue,
        max_model_len: a.max_model_len,
        api_key: a.api_key.clone().or_else(|| {
            std::env::var("COVIP_API_KEY")
                .ok()
                .filter(|k| !k.is_empty())
        }),
        allowed_media_dir: a.allowed_media_dir.clone(),
        max_body_bytes: a.max_body_bytes,
        ..ServerConfig::new(&a.model)
    };
    let server = Server::bind(cfg).with_context(|| format!("serving {}", a.model.display()))?;
    let addr = server.local_addr();
    tracing::info!(
        model = server.served_model_name(),
        max_model_len = server.max_model_len(),
        "model loaded"
    );
    // The ready line scripts and tests wait for: printed once the socket is bound and the
    // model loaded, so the first request is answered.
    let mut out = std::io::stdout();
    writeln!(out, "listening on http://{addr}")?;
    out.flush()?;
    server.run_until_signal().context("serving")?;
    eprintln!("covip serve: shut down");
    Ok(ExitCode::SUCCESS)
}
