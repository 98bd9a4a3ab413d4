//! CoViP evaluations: CapEval-QAs, diagnostic sets, CAG and caption metrics.
pub mod metrics;
