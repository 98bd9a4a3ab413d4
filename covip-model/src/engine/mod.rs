//! Continuous batching over per-sequence KV caches: the engine behind `covip serve`, the
//! n-sample rollouts of the trainer, and any caller that wants many generations at once.
//!
//! - [`Engine`] is the synchronous core: [`Engine::admit`] prefills one request alone (its
//!   prompt and images, once, however many samples it asks for) and [`Engine::step`] runs one
//!   decode step over every running sequence together. Sequences that finish leave the batch
//!   at once; requests admitted between steps join it at the next step.
//! - [`EngineHandle`] runs an [`Engine`] on its own thread with a bounded queue, so that an
//!   async server never runs the model on its executor.
//! - [`generate_group`] is the one-call form: `n` samples of one prompt (GSPO's G rollouts),
//!   choice `i` drawn from `seed + i`.
mod batch;
mod core;
mod request;
mod worker;

pub use batch::RunningBatch;
pub use core::{Engine, GroupOutput, SampleOutput, generate_group};
pub use request::{EngineEvent, RequestId, SeqRequest, TokenLogprob, token_logprob};
pub use worker::{EngineHandle, EngineOptions, EngineStats, EventSink, SubmitError};
