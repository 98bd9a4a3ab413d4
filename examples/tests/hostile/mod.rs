//! The hostile-input test's parts: the counting allocator, the seeded mutator, the harness that
//! runs and classifies inputs, and the targets (every parser a user's file reaches).
pub mod alloc;
pub mod harness;
pub mod mutate;
pub mod targets;
