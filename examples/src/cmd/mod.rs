//! One module per subcommand.
pub mod capeval;
pub mod caption;
pub mod data;
pub mod degeneration;
pub mod diagnose;
pub mod export_adapter;
pub mod generate;
pub mod judge_args;
pub mod logits;
pub mod metrics;
pub mod pairwise;
pub mod plot;
pub mod reward;
pub mod serve;
pub mod train;
