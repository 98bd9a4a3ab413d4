//! SwiGLU feed-forward block: `down(silu(gate(x)) * up(x))`, no biases.
use burn::module::Module;
use burn::tensor::{Tensor, activation::silu, backend::Backend};

use crate::nn::Linear;

#[derive(Module, Debug)]
pub struct Mlp<B: Backend> {
    pub gate_proj: Linear<B>,
    pub up_proj: Linear<B>,
    pub down_proj: Linear<B>,
}

impl<B: Backend> Mlp<B> {
    /// `x`: `[B, T, hidden]` → `[B, T, hidden]`.
    pub fn forward(&self, x: Tensor<B, 3>) -> Tensor<B, 3> {
        let g = silu(self.gate_proj.forward(x.clone()));
        self.down_proj.forward(g * self.up_proj.forward(x))
    }
}
