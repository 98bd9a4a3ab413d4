//! Multimodal rotary embedding (MRoPE) driven by 3-axis position ids.
//!
//! Each of the `head_dim / 2` frequency slots takes its angle from one axis (time, height or
//! width) of the position ids, as [`crate::config::mrope_axes`] assigns them; the angles are
//! duplicated to `head_dim` and applied with the rotate-half convention.
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

use crate::config::TextConfig;
use crate::text::rms_norm::to_dtype;

/// Precomputed frequency tables (host side; tiny).
#[derive(Debug, Clone)]
pub struct Mrope {
    /// `[head_dim / 2]`, `1 / theta^(2j / head_dim)` rounded to f32.
    pub inv_freq: Vec<f32>,
    /// `[3, head_dim / 2]` one-hot: which axis owns each slot.
    pub axis_one_hot: Vec<f32>,
}

impl Mrope {
    pub fn new(cfg: &TextConfig) -> Self {
        let half = cfg.head_dim / 2;
        let inv_freq = inv_freq(cfg.rope_theta, cfg.head_dim);
        let axes = cfg.mrope_axis_of_slots();
        let mut axis_one_hot = vec![0f32; 3 * half];
        for (j, &a) in axes.iter().enumerate() {
            axis_one_hot[a * half + j] = 1.0;
        }
        Self {
            inv_freq,
            axis_one_hot,
        }
    }

    /// `positions`: `[3, B, T]` → `(cos, sin)`, each `[B, 1, T, head_dim]` in `dtype`.
    /// The angles are computed in f32 as the reference does, then cast.
    pub fn cos_sin<B: Backend>(
        &self,
        positions: Tensor<B, 3, Int>,
        dtype: DType,
    ) -> (Tensor<B, 4>, Tensor<B, 4>) {
        let device = positions.device();
        let [_, b, t] = positions.dims();
        let half = self.inv_freq.len();
        let pos = positions.float().cast(DType::F32).unsqueeze_dim::<4>(3); // [3, B, T, 1]
        let inv = Tensor::<B, 1>::from_data(
            TensorData::new(self.inv_freq.clone(), [half]),
            (&device, DType::F32),
        )
        .reshape([1, 1, 1, half]);
        let sel = Tensor::<B, 1>::from_data(
            TensorData::new(self.axis_one_hot.clone(), [3 * half]),
            (&device, DType::F32),
        )
        .reshape([3, 1, 1, half]);
        // Picking one axis per slot by a one-hot sum is exact (x·1 + 0 + 0).
        let freqs = (pos * inv * sel).sum_dim(0).reshape([b, 1, t, half]);
        let emb = Tensor::cat(vec![freqs.clone(), freqs], 3);
        (
            to_dtype(emb.clone().cos(), dtype),
            to_dtype(emb.sin(), dtype),
        )
    }
}

/// `1 / theta^(2j / dim)` for `j < dim / 2`.
pub fn inv_freq(theta: f64, dim: usize) -> Vec<f32> {
    (0..dim / 2)
        .map(|j| {
            let e = (2 * j) as f32 / dim as f32;
            (1.0 / (theta.powf(e as f64))) as f32
        })
        .collect()
}

/// Rotate-half: `[x1, x2] → [-x2, x1]` along the last axis. `x`: `[B, H, T, D]`.
pub fn rotate_half<B: Backend>(x: Tensor<B, 4>) -> Tensor<B, 4> {
    let d = x.dims()[3];
    let x1 = x.clone().narrow(3, 0, d / 2);
    let x2 = x.narrow(3, d / 2, d / 2);
    Tensor::cat(vec![x2.neg(), x1], 3)
}

/// `x·cos + rotate_half(x)·sin`; `x`: `[B, H, T, D]`, `cos`/`sin`: `[B, 1, T, D]`.
pub fn apply_rotary<B: Backend>(
    x: Tensor<B, 4>,
    cos: Tensor<B, 4>,
    sin: Tensor<B, 4>,
) -> Tensor<B, 4> {
    x.clone() * cos + rotate_half(x) * sin
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    fn cfg(section: [usize; 3]) -> TextConfig {
        TextConfig {
            vocab_size: 4,
            hidden_size: 8,
            intermediate_size: 8,
            num_hidden_layers: 1,
            num_attention_heads: 1,
            num_key_value_heads: 1,
            head_dim: 2 * section.iter().sum::<usize>(),
            rms_norm_eps: 1e-6,
            rope_theta: 100.0,
            mrope_section: section,
            mrope_interleaved: true,
            attention_bias: false,
            hidden_act: "silu".into(),
            tie_word_embeddings: false,
            max_position_embeddings: 16,
        }
    }

    #[test]
    fn each_slot_uses_its_axis() {
        let c = cfg([2, 1, 1]); // head_dim 8, slots: T H W T
        let m = Mrope::new(&c);
        let dev = Default::default();
        // one token with t = 1, h = 2, w = 3
        let pos =
            Tensor::<Flex, 3, Int>::from_data(TensorData::new(vec![1i64, 2, 3], [3, 1, 1]), &dev);
        let (cos, _sin) = m.cos_sin(pos, DType::F32);
        let cos: Vec<f32> = cos.into_data().to_vec().unwrap();
        let want_pos = [1.0f32, 2.0, 3.0, 1.0];
        for j in 0..4 {
            let want = (want_pos[j] * m.inv_freq[j]).cos();
            assert!(
                (cos[j] - want).abs() < 1e-6 && (cos[j + 4] - want).abs() < 1e-6,
                "slot {j}"
            );
        }
    }

    #[test]
    fn rotation_preserves_norm_and_is_identity_at_zero() {
        let dev = Default::default();
        let x = Tensor::<Flex, 4>::from_data(
            TensorData::new(vec![1.0f32, 2.0, 3.0, 4.0], [1, 1, 1, 4]),
            &dev,
        );
        let m = Mrope::new(&cfg([1, 1, 0]));
        let zero = Tensor::<Flex, 3, Int>::zeros([3, 1, 1], &dev);
        let (c, s) = m.cos_sin(zero, DType::F32);
        let y: Vec<f32> = apply_rotary(x.clone(), c, s).into_data().to_vec().unwrap();
        assert_eq!(y, vec![1.0, 2.0, 3.0, 4.0]);
        let p =
            Tensor::<Flex, 3, Int>::from_data(TensorData::new(vec![5i64, 5, 5], [3, 1, 1]), &dev);
        let (c, s) = m.cos_sin(p, DType::F32);
        let y: Vec<f32> = apply_rotary(x, c, s).into_data().to_vec().unwrap();
        let n: f32 = y.iter().map(|v| v * v).sum();
        assert!(
            (n - 30.0).abs() < 1e-4 && (y[0] - 1.0).abs() > 1e-3,
            "{y:?}"
        );
    }
}
