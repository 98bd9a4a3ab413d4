//! CoViP evaluations: CapEval-QAs, diagnostic sets, CAG and caption metrics.
// The captioner runs the local burn model (the `model` feature, on by default).
#[cfg(feature = "model")]
pub mod captioner;
pub mod diagnose;
// CapEval-QAs: judge every QA from a caption, pool Acc+ / Acc−, table, chart.
pub mod capeval;
pub mod metrics;
pub mod pairwise;
