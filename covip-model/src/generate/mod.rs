//! Autoregressive generation: KV cache, sampling and the batched generator loop.
pub mod cache;
pub mod generator;
pub mod sampling;
