//! CoViP evaluations: CapEval-QAs, diagnostic sets, CAG and caption metrics.
// The captioning seam: its local burn captioner needs the `model` feature (on by default),
// its OpenAI-compatible one (`captioner_openai`, re-exported there) does not.
pub mod captioner;
mod captioner_openai;
pub mod diagnose;
// CapEval-QAs: judge every QA from a caption, pool Acc+ / Acc−, table, chart.
pub mod capeval;
pub mod metrics;
pub mod pairwise;
pub mod report;
