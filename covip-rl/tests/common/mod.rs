//! Helpers shared by the trainer's test binaries (each includes what it uses).
#![allow(dead_code)]
pub mod gspo_step;
