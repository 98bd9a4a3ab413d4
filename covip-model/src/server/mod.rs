//! `covip serve`: an OpenAI-compatible HTTP server (the request and response shapes of
//! vLLM) over the batching [`crate::engine`].
//!
//! - [`Server::bind`] loads the checkpoint once, starts the engine on its own thread (the
//!   model never runs on the async executor) and binds the listening socket;
//!   [`Server::run`] serves until a shutdown future resolves, then lets the requests in
//!   flight finish. [`Server::start`] does the same on a thread of its own, for tests and
//!   benchmarks in-process.
//! - Endpoints: `POST /v1/chat/completions`, `POST /v1/completions`, `GET /v1/models`,
//!   `GET /health`, and `GET /metrics` (the running and waiting gauges, Prometheus text).
//! - Requests as vLLM takes them: omitted sampling parameters come from the checkpoint's
//!   `generation_config.json`; vLLM's extra parameters (`top_k`, `min_p`,
//!   `repetition_penalty`, `stop_token_ids`, `ignore_eos`, `skip_special_tokens`,
//!   `chat_template_kwargs.add_vision_id`) are read at the top level of the JSON.
//! - A client that hangs up has its request cancelled in the engine; nothing a client sends
//!   panics the server (preparation runs under `catch_unwind` on the blocking pool).
//!
//! One file per concern: [`protocol`] (wire shapes), [`errors`] (the OpenAI error object),
//! [`params`] (parameter checks and `generation_config.json` defaults), [`media`] (image
//! URLs), [`detok`] (incremental text and stop strings), [`handlers`] (the endpoints),
//! [`stream`] (server-sent events).
pub mod detok;
pub mod errors;
pub mod handlers;
pub mod media;
pub mod params;
pub mod protocol;
pub mod stream;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use burn::tensor::backend::Backend;

use crate::bundle::{LoadOptions, ModelBundle, Vision};
use crate::config::Qwen3VlConfig;
use crate::device::{DeviceKind, OnDevice, dispatch};
use crate::engine::{EngineHandle, EngineOptions};
use crate::error::ModelError;
use crate::loader::WeightDtype;
use crate::processor::Processor;
use crate::processor::image::{DecodeLimits, ImageProcessor};
use media::MediaPolicy;

/// Default `--max-body-bytes`: 64 MiB, room for several base64 images.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 << 20;

/// How to serve a checkpoint.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The checkpoint folder.
    pub model_dir: PathBuf,
    /// Address to bind (loopback by default).
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub device: DeviceKind,
    pub dtype: WeightDtype,
    /// The name clients ask for in `model`; the folder's name when `None`.
    pub served_model_name: Option<String>,
    /// Most sequences decoding together (a request of `n` samples counts `n`).
    pub max_batch: usize,
    /// Most requests waiting for room in the batch; more get 503.
    pub max_queue: usize,
    /// The context length (prompt + completion); the checkpoint's
    /// `max_position_embeddings` when `None`.
    pub max_model_len: Option<usize>,
    /// When set, every `/v1/` request must carry `Authorization: Bearer <key>`.
    pub api_key: Option<String>,
    /// The only folder local image paths may name; `None` refuses local paths.
    pub allowed_media_dir: Option<PathBuf>,
    pub max_body_bytes: usize,
    /// Cap on decoded image sizes.
    pub image_limits: DecodeLimits,
}

impl ServerConfig {
    /// Defaults of `covip serve` for `model_dir`: 127.0.0.1:8000, cpu, batch 16, queue 256.
    pub fn new(model_dir: impl Into<PathBuf>) -> Self {
        ServerConfig {
            model_dir: model_dir.into(),
            host: "127.0.0.1".into(),
            port: 8000,
            device: DeviceKind::Cpu,
            dtype: WeightDtype::AsStored,
            served_model_name: None,
            max_batch: 16,
            max_queue: 256,
            max_model_len: None,
            api_key: None,
            allowed_media_dir: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            image_limits: DecodeLimits::default(),
        }
    }
}

/// Why the server did not start or stopped. The cause of `Load` and `Io` is their
/// [`std::error::Error::source`] (shown by `{:#}` with anyhow).
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("invalid server settings: {0}")]
    Config(String),
    #[error("loading the model")]
    Load(#[from] ModelError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// What the handlers share.
pub(crate) struct AppState {
    pub engine: EngineHandle,
    pub processor: Processor,
    pub images: ImageProcessor,
    /// Whether the vision tower is loaded (image parts are refused without it).
    pub vision: bool,
    pub served_name: String,
    pub root: String,
    /// The model's vocabulary (token ids a prompt may hold).
    pub vocab: usize,
    /// Image and video placeholder ids: only the server puts them in a prompt, one per
    /// merged patch of an image it was sent.
    pub placeholder_ids: Vec<u32>,
    pub max_len: usize,
    pub max_batch: usize,
    pub api_key: Option<String>,
    pub media: MediaPolicy,
    pub max_body: usize,
    pub created: u64,
    pub next_id: AtomicU64,
    /// Requests being prepared (JSON, image decoding, template) at once: one per core, so
    /// that a burst of large images cannot hold many decoded buffers together.
    pub prep_slots: tokio::sync::Semaphore,
}

/// The parts of a loaded checkpoint the server keeps (the weights live on the engine thread).
struct Loaded {
    engine: EngineHandle,
    processor: Processor,
    images: ImageProcessor,
    config: Qwen3VlConfig,
    vision: bool,
}

struct LoadJob {
    dir: PathBuf,
    load: LoadOptions,
    options: EngineOptions,
    max_len: Option<usize>,
}

impl OnDevice for LoadJob {
    type Output = Result<Loaded, ServerError>;
    fn run<B: Backend>(self, device: B::Device) -> Self::Output {
        let bundle = ModelBundle::<B>::load(&self.dir, self.load, &device)?;
        let ModelBundle {
            config,
            weights,
            processor,
            images,
            ..
        } = bundle;
        let max_len = self.max_len.unwrap_or(config.text.max_position_embeddings);
        let options = EngineOptions {
            max_len,
            ..self.options
        };
        let vision = weights.multimodal().is_some();
        let engine =
            EngineHandle::spawn(weights, device, options).map_err(|e| ServerError::Io {
                what: "starting the engine thread".into(),
                source: e,
            })?;
        Ok(Loaded {
            engine,
            processor,
            images,
            config,
            vision,
        })
    }
}

/// A loaded model and a bound socket, ready to serve.
pub struct Server {
    listener: std::net::TcpListener,
    addr: SocketAddr,
    state: Arc<AppState>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("model", &self.state.served_name)
            .finish()
    }
}

impl Server {
    /// Loads the checkpoint, starts the engine thread and binds `host:port`.
    pub fn bind(cfg: ServerConfig) -> Result<Server, ServerError> {
        if cfg.max_batch == 0 {
            return Err(ServerError::Config("--max-batch must be at least 1".into()));
        }
        if cfg.max_queue == 0 {
            // Every request passes through the queue: 0 would refuse them all.
            return Err(ServerError::Config("--max-queue must be at least 1".into()));
        }
        if cfg.max_model_len == Some(0) {
            return Err(ServerError::Config(
                "--max-model-len must be at least 1".into(),
            ));
        }
        let dir = cfg.model_dir.canonicalize().map_err(|e| ServerError::Io {
            what: format!("checkpoint folder {}", cfg.model_dir.display()),
            source: e,
        })?;
        let allowed_dir = match &cfg.allowed_media_dir {
            Some(d) => {
                let c = d.canonicalize().map_err(|e| ServerError::Io {
                    what: format!("--allowed-media-dir {}", d.display()),
                    source: e,
                })?;
                if !c.is_dir() {
                    return Err(ServerError::Config(format!(
                        "--allowed-media-dir {} is not a folder",
                        d.display()
                    )));
                }
                Some(c)
            }
            None => None,
        };
        let served_name = match &cfg.served_model_name {
            Some(n) if !n.is_empty() => n.clone(),
            Some(_) => return Err(ServerError::Config("--served-model-name is empty".into())),
            // The folder's name as given (a link keeps its own name), else its real name.
            None => cfg
                .model_dir
                .file_name()
                .filter(|n| *n != "." && *n != "..")
                .or_else(|| dir.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| dir.display().to_string()),
        };
        // Bind before loading so that a taken port fails at once, not after a long load.
        let listener = std::net::TcpListener::bind((cfg.host.as_str(), cfg.port)).map_err(|e| {
            ServerError::Io {
                what: format!("binding {}:{}", cfg.host, cfg.port),
                source: e,
            }
        })?;
        let addr = listener.local_addr().map_err(|e| ServerError::Io {
            what: "reading the bound address".into(),
            source: e,
        })?;
        let has_vision = Qwen3VlConfig::from_file(&dir.join("config.json"))?
            .vision_config
            .is_some();
        let job = LoadJob {
            dir: dir.clone(),
            load: LoadOptions {
                dtype: cfg.dtype,
                vision: if has_vision {
                    Vision::Load
                } else {
                    Vision::Skip
                },
                image_limits: cfg.image_limits,
            },
            options: EngineOptions {
                max_batch: cfg.max_batch,
                max_queue: cfg.max_queue,
                max_len: 0,
            },
            max_len: cfg.max_model_len,
        };
        let loaded = dispatch(cfg.device, job)??;
        let max_len = loaded.engine.options().max_len;
        let created = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let state = AppState {
            vocab: loaded.config.text.vocab_size,
            placeholder_ids: [
                loaded.config.tokens.image_token_id,
                loaded.config.tokens.video_token_id,
            ]
            .into_iter()
            .flatten()
            .collect(),
            engine: loaded.engine,
            processor: loaded.processor,
            images: loaded.images,
            vision: loaded.vision,
            served_name,
            root: dir.display().to_string(),
            max_len,
            max_batch: cfg.max_batch,
            api_key: cfg.api_key.filter(|k| !k.is_empty()),
            media: MediaPolicy {
                allowed_dir,
                max_file_bytes: cfg.max_body_bytes as u64,
            },
            max_body: cfg.max_body_bytes,
            created,
            next_id: AtomicU64::new(1),
            prep_slots: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        };
        Ok(Server {
            listener,
            addr,
            state: Arc::new(state),
        })
    }

    /// The bound address (the real port when 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The name clients give as `model`.
    pub fn served_model_name(&self) -> &str {
        &self.state.served_name
    }

    /// The context length requests are held to.
    pub fn max_model_len(&self) -> usize {
        self.state.max_len
    }

    /// Serves until `shutdown` resolves, then stops taking connections, lets the requests in
    /// flight finish and stops the engine. Must run inside a tokio runtime.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        self.listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        let app = handlers::router(self.state.clone());
        axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await?;
        // Every connection has closed: the engine has nothing left to answer.
        self.state.engine.shutdown();
        Ok(())
    }

    /// [`Server::run`] on a new multi-threaded runtime, blocking this thread until SIGTERM or
    /// SIGINT (Ctrl-C) and the in-flight requests are done.
    pub fn run_until_signal(self) -> std::io::Result<()> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("covip-serve")
            .build()?;
        rt.block_on(self.run(shutdown_signal()))
    }

    /// Serves on a thread of its own (with its own runtime) until
    /// [`RunningServer::shutdown`]: for tests and benchmarks in-process.
    pub fn start(self) -> std::io::Result<RunningServer> {
        let addr = self.addr;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("covip-serve")
            .build()?;
        let thread = std::thread::Builder::new()
            .name("covip-serve-main".into())
            .spawn(move || {
                rt.block_on(self.run(async move {
                    let _ = rx.await;
                }))
            })?;
        Ok(RunningServer {
            addr,
            stop: Some(tx),
            thread: Some(thread),
        })
    }
}

/// A server running on its own thread ([`Server::start`]); dropping it shuts it down.
#[derive(Debug)]
pub struct RunningServer {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<std::io::Result<()>>>,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops taking connections, waits for the requests in flight, stops the engine.
    pub fn shutdown(mut self) -> std::io::Result<()> {
        self.stop_and_join()
    }

    fn stop_and_join(&mut self) -> std::io::Result<()> {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        match self.thread.take() {
            Some(t) => t
                .join()
                .unwrap_or_else(|_| Err(std::io::Error::other("the server thread panicked"))),
            None => Ok(()),
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        let _ = self.stop_and_join();
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C elsewhere than Unix).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = int.recv() => {},
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
