//! The vision tower's 2D rotary embedding: `head_dim / 4` frequencies, each patch rotated by its
//! row id in the first quarter and its column id in the second, repeated for the second half
//! (rotate-half convention). Ids follow the 2×2 merge-block patch order.
use burn::tensor::{Tensor, TensorData, backend::Backend};

/// `(row, col)` of every patch in merge-block order, frames repeated.
pub fn position_ids(grid_thw: &[[usize; 3]], merge: usize) -> Vec<[usize; 2]> {
    let mut out = Vec::new();
    for &[t, h, w] in grid_thw {
        for _ in 0..t {
            for br in 0..h / merge {
                for bc in 0..w / merge {
                    for ir in 0..merge {
                        for ic in 0..merge {
                            out.push([br * merge + ir, bc * merge + ic]);
                        }
                    }
                }
            }
        }
    }
    out
}

/// `cos`, `sin`: `[patches, head_dim]` (f32), laid out `[f_row, f_col, f_row, f_col]`.
pub fn cos_sin<B: Backend>(
    grid_thw: &[[usize; 3]],
    merge: usize,
    head_dim: usize,
    theta: f64,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let spatial = head_dim / 2;
    let inv_freq: Vec<f32> = (0..spatial)
        .step_by(2)
        .map(|i| (1.0 / theta.powf(i as f64 / spatial as f64)) as f32)
        .collect();
    let q = inv_freq.len();
    let ids = position_ids(grid_thw, merge);
    let n = ids.len();
    let mut cos = vec![0f32; n * head_dim];
    let mut sin = vec![0f32; n * head_dim];
    for (p, &[r, c]) in ids.iter().enumerate() {
        for (j, &f) in inv_freq.iter().enumerate() {
            let (fr, fc) = (r as f32 * f, c as f32 * f);
            for half in 0..2 {
                let base = p * head_dim + half * 2 * q;
                cos[base + j] = fr.cos();
                sin[base + j] = fr.sin();
                cos[base + q + j] = fc.cos();
                sin[base + q + j] = fc.sin();
            }
        }
    }
    (
        Tensor::from_data(TensorData::new(cos, [n, head_dim]), device),
        Tensor::from_data(TensorData::new(sin, [n, head_dim]), device),
    )
}

/// `x`: `[patches, heads, head_dim]`; `cos`/`sin`: `[patches, head_dim]`.
/// `x·cos + rotate_half(x)·sin`, computed in f32 and cast back.
pub fn apply<B: Backend>(x: Tensor<B, 3>, cos: Tensor<B, 2>, sin: Tensor<B, 2>) -> Tensor<B, 3> {
    let dtype = x.dtype();
    let x = x.cast(burn::tensor::DType::F32);
    let [n, h, d] = x.dims();
    let x1 = x.clone().slice([0..n, 0..h, 0..d / 2]);
    let x2 = x.clone().slice([0..n, 0..h, d / 2..d]);
    let rot = Tensor::cat(vec![x2.neg(), x1], 2);
    let cos = cos.unsqueeze_dim::<3>(1);
    let sin = sin.unsqueeze_dim::<3>(1);
    (x * cos + rot * sin).cast(dtype)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;

    #[test]
    fn ids_follow_merge_blocks() {
        let ids = position_ids(&[[1, 2, 4]], 2);
        assert_eq!(
            ids,
            vec![
                [0, 0],
                [0, 1],
                [1, 0],
                [1, 1],
                [0, 2],
                [0, 3],
                [1, 2],
                [1, 3]
            ]
        );
    }

    #[test]
    fn rotation_is_identity_at_origin_and_keeps_norm() {
        let dev = Default::default();
        let (cos, sin) = cos_sin::<Flex>(&[[1, 2, 2]], 2, 8, 10_000.0, &dev);
        let x = Tensor::<Flex, 3>::from_data(
            TensorData::new((0..32).map(|v| v as f32 * 0.1 - 1.0).collect(), [4, 1, 8]),
            &dev,
        );
        let y = apply(x.clone(), cos, sin);
        let xv: Vec<f32> = x.clone().into_data().to_vec().unwrap();
        let yv: Vec<f32> = y.clone().into_data().to_vec().unwrap();
        assert_eq!(&xv[..8], &yv[..8]);
        let nx: f32 = x.square().sum().into_scalar();
        let ny: f32 = y.square().sum().into_scalar();
        assert!((nx - ny).abs() < 1e-4);
        assert_ne!(&xv[8..], &yv[8..]);
    }
}
