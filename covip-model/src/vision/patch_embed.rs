//! The patch embedding: a Conv3d whose kernel equals its stride, i.e. a Linear over each patch.
use burn::module::Module;
use burn::tensor::{Tensor, backend::Backend};

use crate::nn::Linear;

#[derive(Module, Debug)]
pub struct PatchEmbed<B: Backend> {
    /// `weight` `[hidden, 3·T·P·P]` (the checkpoint's `[hidden, 3, T, P, P]` flattened),
    /// `bias` `[hidden]`.
    pub proj: Linear<B>,
}

impl<B: Backend> PatchEmbed<B> {
    /// `conv_weight`: `[hidden, C, T, P, P]`; `bias`: `[hidden]`.
    pub fn new(conv_weight: Tensor<B, 5>, bias: Tensor<B, 1>) -> Self {
        let [o, c, t, p, q] = conv_weight.dims();
        Self {
            proj: Linear::new(conv_weight.reshape([o, c * t * p * q]), Some(bias)),
        }
    }

    /// `pixel_values`: `[patches, C·T·P·P]` (columns in (channel, frame, row, col) order)
    /// → `[patches, hidden]`.
    pub fn forward(&self, pixel_values: Tensor<B, 2>) -> Tensor<B, 2> {
        self.proj.forward(pixel_values)
    }
}
