//! Shared helpers for covip's benchmarks and comparison harnesses.

pub mod reward_corpus;
