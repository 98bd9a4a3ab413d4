//! CoViP evaluations: CapEval-QAs, diagnostic sets, CAG and caption metrics.
// The captioner runs the local burn model (the `model` feature, on by default).
#[cfg(feature = "model")]
pub mod captioner;
pub mod diagnose;
pub mod metrics;
