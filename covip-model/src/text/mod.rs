//! The Qwen3-VL text decoder (Qwen3 architecture with multimodal RoPE).
pub mod attention;
pub mod decoder;
pub mod mlp;
pub mod rms_norm;
pub mod rope;
