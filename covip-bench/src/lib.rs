//! Shared helpers for covip's benchmarks and comparison harnesses.
