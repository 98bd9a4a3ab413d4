//! A vision transformer block: pre-LayerNorm, fused-qkv attention with 2D rope restricted to
//! each image (frame), and a two-layer MLP.
use burn::module::{Module, Param};
use burn::tensor::{DType, Tensor, activation, backend::Backend};

use crate::nn::Linear;
use crate::vision::config::VisionAct;
use crate::vision::rope2d;

/// LayerNorm over the last axis with affine weight and bias; statistics in f32.
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// `[dim]`
    pub weight: Param<Tensor<B, 1>>,
    /// `[dim]`
    pub bias: Param<Tensor<B, 1>>,
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    pub fn new(weight: Tensor<B, 1>, bias: Tensor<B, 1>, eps: f64) -> Self {
        Self {
            weight: Param::from_tensor(weight),
            bias: Param::from_tensor(bias),
            eps,
        }
    }

    /// `x`: `[rows, dim]` → `[rows, dim]`, same dtype.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        let dtype = x.dtype();
        let x = x.cast(DType::F32);
        let mean = x.clone().mean_dim(1);
        let centered = x - mean;
        let var = centered.clone().square().mean_dim(1);
        let normed = centered / (var + self.eps).sqrt();
        let w = self.weight.val().cast(DType::F32).unsqueeze::<2>();
        let b = self.bias.val().cast(DType::F32).unsqueeze::<2>();
        (normed * w + b).cast(dtype)
    }
}

/// Applies an activation by kind.
pub fn activate<B: Backend>(x: Tensor<B, 2>, act: VisionAct) -> Tensor<B, 2> {
    match act {
        VisionAct::GeluTanh => activation::gelu_approximate(x),
        VisionAct::Gelu => activation::gelu(x),
        VisionAct::Silu => activation::silu(x),
    }
}

/// Query rows per attention chunk.
const QUERY_CHUNK: usize = 1024;

#[derive(Module, Debug)]
pub struct VisionAttention<B: Backend> {
    /// `[3·hidden, hidden]` with bias: rows are q, k, v, each `[heads, head_dim]`.
    pub qkv: Linear<B>,
    /// `[hidden, hidden]` with bias.
    pub proj: Linear<B>,
    pub num_heads: usize,
}

impl<B: Backend> VisionAttention<B> {
    /// `x`: `[patches, hidden]`; `cos`/`sin`: `[patches, head_dim]`; `segments`: lengths of
    /// consecutive patch runs that attend only among themselves (one per image frame).
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        cos: Tensor<B, 2>,
        sin: Tensor<B, 2>,
        segments: &[usize],
    ) -> Tensor<B, 2> {
        self.forward_chunked(x, cos, sin, segments, QUERY_CHUNK)
    }

    /// [`Self::forward`] with `chunk` query rows per score matrix.
    pub fn forward_chunked(
        &self,
        x: Tensor<B, 2>,
        cos: Tensor<B, 2>,
        sin: Tensor<B, 2>,
        segments: &[usize],
        chunk: usize,
    ) -> Tensor<B, 2> {
        let [n, hidden] = x.dims();
        let h = self.num_heads;
        let d = hidden / h;
        let qkv = self.qkv.forward(x).reshape([n, 3, h, d]);
        let part = |i: usize| {
            qkv.clone()
                .slice([0..n, i..i + 1, 0..h, 0..d])
                .reshape([n, h, d])
        };
        let q = rope2d::apply(part(0), cos.clone(), sin.clone());
        let k = rope2d::apply(part(1), cos, sin);
        let v = part(2);
        let dtype = q.dtype();
        let scale = 1.0 / (d as f64).sqrt();
        let mut outs = Vec::with_capacity(segments.len());
        let mut start = 0;
        for &len in segments {
            let r = start..start + len;
            let ks = k.clone().slice([r.clone(), 0..h, 0..d]).swap_dims(0, 1); // [H, L, D]
            let vs = v.clone().slice([r, 0..h, 0..d]).swap_dims(0, 1);
            let kt = ks.swap_dims(1, 2); // [H, D, L]
            // Query rows in chunks bound the score matrix to [H, chunk, L]; softmax is
            // per row, so chunking changes nothing.
            let mut q0 = 0;
            while q0 < len {
                let q1 = (q0 + chunk.max(1)).min(len);
                let qs = q
                    .clone()
                    .slice([start + q0..start + q1, 0..h, 0..d])
                    .swap_dims(0, 1);
                let scores = (qs.matmul(kt.clone()) * scale).cast(DType::F32);
                let probs = activation::softmax(scores, 2).cast(dtype);
                outs.push(
                    probs
                        .matmul(vs.clone())
                        .swap_dims(0, 1)
                        .reshape([q1 - q0, hidden]),
                ); // [rows, H·D]
                q0 = q1;
            }
            start += len;
        }
        self.proj.forward(Tensor::cat(outs, 0))
    }
}

#[derive(Module, Debug)]
pub struct VisionMlp<B: Backend> {
    /// `[intermediate, hidden]`
    pub linear_fc1: Linear<B>,
    /// `[hidden, intermediate]`
    pub linear_fc2: Linear<B>,
    #[module(skip)]
    pub act: VisionAct,
}

impl<B: Backend> VisionMlp<B> {
    /// `[rows, hidden]` → `[rows, hidden]`.
    pub fn forward(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        self.linear_fc2
            .forward(activate(self.linear_fc1.forward(x), self.act))
    }
}

#[derive(Module, Debug)]
pub struct VisionBlock<B: Backend> {
    pub norm1: LayerNorm<B>,
    pub norm2: LayerNorm<B>,
    pub attn: VisionAttention<B>,
    pub mlp: VisionMlp<B>,
}

impl<B: Backend> VisionBlock<B> {
    /// `x`: `[patches, hidden]` → `[patches, hidden]`.
    pub fn forward(
        &self,
        x: Tensor<B, 2>,
        cos: Tensor<B, 2>,
        sin: Tensor<B, 2>,
        segments: &[usize],
    ) -> Tensor<B, 2> {
        let x = x.clone() + self.attn.forward(self.norm1.forward(x), cos, sin, segments);
        x.clone() + self.mlp.forward(self.norm2.forward(x))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn layer_norm_matches_hand_computation() {
        let dev = Default::default();
        let ln = LayerNorm::<Flex>::new(
            Tensor::from_data(TensorData::new(vec![1.0f32, 2.0, 1.0], [3]), &dev),
            Tensor::from_data(TensorData::new(vec![0.0f32, 0.5, 0.0], [3]), &dev),
            0.0,
        );
        let x = Tensor::<Flex, 2>::from_data(TensorData::new(vec![1.0f32, 2.0, 3.0], [1, 3]), &dev);
        let y: Vec<f32> = ln.forward(x).into_data().to_vec().unwrap();
        let s = (2.0f32 / 3.0).sqrt();
        let want = [-1.0 / s, 0.5, 1.0 / s];
        for (a, b) in y.iter().zip(want) {
            assert!((a - b).abs() < 1e-5, "{y:?}");
        }
    }

    #[test]
    fn attention_does_not_cross_segments() {
        let dev = Default::default();
        let eye = |n: usize| {
            let mut v = vec![0f32; n * n];
            for i in 0..n {
                v[i * n + i] = 1.0;
            }
            v
        };
        // hidden 4, 1 head; qkv = [I; I; I], proj = I.
        let qkv_w: Vec<f32> = [eye(4), eye(4), eye(4)].concat();
        let attn = VisionAttention::<Flex> {
            qkv: Linear::new(
                Tensor::from_data(TensorData::new(qkv_w, [12, 4]), &dev),
                None,
            ),
            proj: Linear::new(
                Tensor::from_data(TensorData::new(eye(4), [4, 4]), &dev),
                None,
            ),
            num_heads: 1,
        };
        let x = Tensor::<Flex, 2>::from_data(
            TensorData::new((0..16).map(|v| v as f32 * 0.3).collect(), [4, 4]),
            &dev,
        );
        let cos = Tensor::<Flex, 2>::ones([4, 4], &dev);
        let sin = Tensor::<Flex, 2>::zeros([4, 4], &dev);
        let split: Vec<f32> = attn
            .forward(x.clone(), cos.clone(), sin.clone(), &[2, 2])
            .into_data()
            .to_vec()
            .unwrap();
        // The first segment alone gives the same rows as in the split run.
        let first: Vec<f32> = attn
            .forward(
                x.clone().slice([0..2, 0..4]),
                cos.clone().slice([0..2, 0..4]),
                sin.clone().slice([0..2, 0..4]),
                &[2],
            )
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(&split[..8], &first[..]);
        let joint: Vec<f32> = attn
            .forward(x.clone(), cos.clone(), sin.clone(), &[4])
            .into_data()
            .to_vec()
            .unwrap();
        assert_ne!(split, joint);
        // Chunking the query rows changes nothing.
        let chunked: Vec<f32> = attn
            .forward_chunked(x, cos, sin, &[4], 3)
            .into_data()
            .to_vec()
            .unwrap();
        assert_eq!(chunked, joint);
    }
}
