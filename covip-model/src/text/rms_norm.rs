//! RMSNorm as Qwen3 computes it: statistics in f32, result cast back, then scaled.
use burn::module::{Module, Param};
use burn::tensor::{DType, Tensor, backend::Backend};

/// `y = weight * (x / sqrt(mean(x², -1) + eps))`, the normalisation done in f32.
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// `[dim]`
    pub weight: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    pub fn new(weight: Tensor<B, 1>, eps: f64) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            eps,
        }
    }

    /// `x`: `[..., dim]` → same shape and dtype as `x`.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        let dtype = x.dtype();
        let xf = to_dtype(x, DType::F32);
        let var = xf.clone().square().mean_dim(D - 1);
        let normed = xf * (var + self.eps).sqrt().recip();
        let w = self.weight.val();
        let dims = {
            let mut d = [1usize; D];
            d[D - 1] = w.dims()[0];
            d
        };
        // transformers: `weight * hidden.to(input_dtype)`, in the weight's dtype.
        to_dtype(normed, dtype) * w.reshape(dims)
    }
}

/// Casts a float tensor when its dtype differs (a no-op otherwise).
pub fn to_dtype<B: Backend, const D: usize>(x: Tensor<B, D>, dtype: DType) -> Tensor<B, D> {
    if x.dtype() == dtype { x } else { x.cast(dtype) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn normalises_rows_and_scales() {
        let dev = Default::default();
        let x = Tensor::<Flex, 2>::from_data(
            TensorData::new(vec![3.0f32, 4.0, 0.0, 0.0], [2, 2]),
            &dev,
        );
        let n = RmsNorm::new(
            Tensor::from_data(TensorData::new(vec![1.0f32, 2.0], [2]), &dev),
            0.0,
        );
        let y: Vec<f32> = n.forward(x).into_data().to_vec().unwrap();
        let r = (12.5f32).sqrt();
        assert!(
            (y[0] - 3.0 / r).abs() < 1e-6 && (y[1] - 8.0 / r).abs() < 1e-6,
            "{y:?}"
        );
        // a zero row with eps = 0 gives NaN in the reference too; here check eps > 0 keeps it finite
        let x = Tensor::<Flex, 2>::zeros([1, 2], &dev);
        let n = RmsNorm::new(Tensor::ones([2], &dev), 1e-6);
        let y: Vec<f32> = n.forward(x).into_data().to_vec().unwrap();
        assert_eq!(y, vec![0.0, 0.0]);
    }
}
