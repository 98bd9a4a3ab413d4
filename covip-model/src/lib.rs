//! Qwen3-VL in burn: text decoder, vision tower, processor, generation and scoring.
//!
//! Parity target: transformers' `Qwen3VLForConditionalGeneration`. Code is generic over
//! `B: Backend`; `cpu` is burn's Flex backend, `wgpu` / `cuda` are cargo features.
pub mod bundle;
pub mod config;
pub mod device;
pub mod engine;
pub mod error;
pub mod export;
pub mod generate;
pub mod loader;
pub mod lora;
pub mod model;
pub mod multimodal;
pub mod nn;
pub mod position_ids;
pub mod processor;
pub mod rope_index;
pub mod score;
#[cfg(feature = "server")]
pub mod server;
pub mod tensor_names;
pub mod text;
pub mod vision;

pub use bundle::{LoadOptions, ModelBundle, Vision, Weights};
/// The burn version this crate is built on, for callers that name backends.
pub use burn;
pub use config::{GenerationConfig, Qwen3VlConfig, TextConfig};
pub use error::{ModelError, Result};
pub use generate::generator::{FinishReason, GenerateOptions, Generation, generate};
pub use generate::sampling::Sampling;
pub use loader::{Checkpoint, LoadReport, WeightDtype};
pub use model::{ModelInput, Qwen3Vl};
pub use multimodal::{Images, Qwen3VlMultimodal};
pub use processor::{Processor, RenderOptions};
/// Re-exported for callers that read the files this crate writes.
pub use safetensors;
pub use score::{Scores, score_continuations};
