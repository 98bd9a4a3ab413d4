//! Small building blocks shared by the text decoder (and later the vision tower).
use burn::module::{Module, Param};
use burn::tensor::{Tensor, backend::Backend};

use crate::lora::LoraAdapter;

/// A linear layer stored in the checkpoint's layout: `weight` is `[out, in]`, as in PyTorch.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// `[out, in]`
    pub weight: Param<Tensor<B, 2>>,
    /// `[out]`
    pub bias: Option<Param<Tensor<B, 1>>>,
    /// A LoRA adapter beside the (then frozen) weight; `None` unless
    /// [`crate::model::Qwen3Vl::apply_lora`] added one.
    pub lora: Option<LoraAdapter<B>>,
}

impl<B: Backend> Linear<B> {
    pub fn new(weight: Tensor<B, 2>, bias: Option<Tensor<B, 1>>) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            bias: bias.map(Param::from_tensor),
            lora: None,
        }
    }

    /// `x`: `[..., in]` → `[..., out]`: `x · Wᵀ + b`, plus `scale · (dropout(x) · Aᵀ) · Bᵀ` when a
    /// LoRA adapter is present (computed in f32 and cast to the base's dtype).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dims = x.dims();
        let d_in = dims[D - 1];
        let rows: usize = dims[..D - 1].iter().product();
        let w = self.weight.val();
        let d_out = w.dims()[0];
        let x = x.reshape([rows, d_in]);
        let (y, lora_x) = match &self.lora {
            Some(_) => (matmul_weight_t(x.clone(), w), Some(x)),
            None => (matmul_weight_t(x, w), None),
        };
        let y = match &self.bias {
            Some(b) => y + b.val().unsqueeze::<2>(),
            None => y,
        };
        let y = match (&self.lora, lora_x) {
            (Some(l), Some(x)) => {
                let dtype = y.dtype();
                y + l.delta(x).cast(dtype)
            }
            _ => y,
        };
        let mut out = dims;
        out[D - 1] = d_out;
        y.reshape(out)
    }
}

/// `x · wᵀ` for `x`: `[rows, in]`, `w`: `[out, in]` → `[rows, out]`.
///
/// Computed as `(w · xᵀ)ᵀ` so the large weight is read in its stored row-major layout (the
/// CPU gemm would otherwise repack the transposed weight on every call, which dominates
/// decoding where `rows` is 1).
pub fn matmul_weight_t<B: Backend>(x: Tensor<B, 2>, w: Tensor<B, 2>) -> Tensor<B, 2> {
    w.matmul(x.transpose()).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn applies_out_in_weight() {
        let dev = Default::default();
        // W = [[1, 2], [3, 4], [5, 6]] (out = 3, in = 2); x = [1, 1]
        let w = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![1.0f32, 2., 3., 4., 5., 6.], [3, 2]),
            &dev,
        );
        let b = Tensor::<Flex, 1>::from_data(TensorData::new(vec![0.5f32, 0., -1.], [3]), &dev);
        let l = Linear::new(w, Some(b));
        let x = Tensor::<Flex, 3>::ones([1, 1, 2], &dev);
        let y: Vec<f32> = l.forward(x).into_data().to_vec().unwrap();
        assert_eq!(y, vec![3.5, 7.0, 10.0]);
    }
}
