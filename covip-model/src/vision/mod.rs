//! Qwen3-VL's vision tower (`model.visual.*`): patch embedding, interpolated learned positions,
//! 2D rotary attention blocks restricted to each image, the merger and the DeepStack mergers.
//!
//! Inputs are the image processor's `pixel_values` `[patches, 3·T·P·P]` and `grid_thw`;
//! outputs are merged image embeddings `[patches / merge², out_hidden]` plus one DeepStack
//! feature of the same shape per `deepstack_visual_indexes` entry.
pub mod block;
pub mod config;
pub mod merger;
pub mod patch_embed;
pub mod pos_embed;
pub mod rope2d;
pub mod tower;

pub use config::VisionConfig;
pub use tower::{VisionOutput, VisionTower};
