//! The learned position table, bilinearly resampled (align-corners) to each image's patch grid
//! and laid out in 2×2 merge-block order, as transformers' Qwen3-VL vision model does.
use burn::module::{Module, Param};
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

#[derive(Module, Debug)]
pub struct PosEmbed<B: Backend> {
    /// `[side², hidden]`
    pub weight: Param<Tensor<B, 2>>,
    pub side: usize,
    pub merge: usize,
}

/// Per patch, 4 table rows and their weights (f32, computed as transformers does).
pub fn interpolation(grid_thw: &[[usize; 3]], side: usize, merge: usize) -> (Vec<i64>, Vec<f32>) {
    // Per axis: src = i·(side−1)/max(n−1, 1) in f32; taps floor, floor+1 (clamped);
    // weights 1 − |src − floor − offset|, clamped at 0.
    let axis = |i: usize, n: usize| -> ([i64; 2], [f32; 2]) {
        let src = i as f32 * (side - 1) as f32 / (n.max(2) - 1) as f32;
        let fl = src.floor();
        let mut taps = [0i64; 2];
        let mut w = [0f32; 2];
        for o in 0..2 {
            taps[o] = (fl as i64 + o as i64).clamp(0, side as i64 - 1);
            w[o] = (1.0 - (src - fl - o as f32).abs()).max(0.0);
        }
        (taps, w)
    };
    let mut idx = Vec::new();
    let mut wts = Vec::new();
    for &[t, h, w] in grid_thw {
        for _ in 0..t {
            for br in 0..h / merge {
                for bc in 0..w / merge {
                    for ir in 0..merge {
                        for ic in 0..merge {
                            let (ht, hw) = axis(br * merge + ir, h);
                            let (wt, ww) = axis(bc * merge + ic, w);
                            for a in 0..2 {
                                for b in 0..2 {
                                    idx.push(ht[a] * side as i64 + wt[b]);
                                    wts.push(hw[a] * ww[b]);
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    (idx, wts)
}

impl<B: Backend> PosEmbed<B> {
    pub fn new(weight: Tensor<B, 2>, merge: usize) -> Self {
        let side = (weight.dims()[0] as f64).sqrt().round() as usize;
        Self {
            weight: Param::from_tensor(weight),
            side,
            merge,
        }
    }

    /// Position embeddings for all patches of `grid_thw`, in the processor's patch order:
    /// `[Σ t·h·w, hidden]`.
    pub fn forward(&self, grid_thw: &[[usize; 3]]) -> Tensor<B, 2> {
        let table = self.weight.val();
        let device = table.device();
        let hidden = table.dims()[1];
        let (idx, wts) = interpolation(grid_thw, self.side, self.merge);
        let n = idx.len() / 4;
        let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [n * 4]), &device);
        // As transformers: table rows times f32 weights, summed in f32, cast to the table's dtype.
        let dtype = table.dtype();
        let wts = Tensor::<B, 3>::from_data(TensorData::new(wts, [n, 4, 1]), &device);
        let rows = table
            .select(0, idx)
            .cast(DType::F32)
            .reshape([n, 4, hidden]);
        (rows * wts).sum_dim(1).reshape([n, hidden]).cast(dtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corners_hit_table_corners_exactly() {
        // A 2x2 grid over a 4x4 table: patch (0,0) → row 0, patch (1,1) → row 15.
        let (idx, w) = interpolation(&[[1, 2, 2]], 4, 2);
        assert_eq!(&idx[0..4], &[0, 1, 4, 5]);
        assert_eq!(&w[0..4], &[1.0, 0.0, 0.0, 0.0]);
        // Patch 3 (row 1, col 1) is src (3, 3): floor 3, ceil clamped to 3.
        assert_eq!(&idx[12..16], &[15, 15, 15, 15]);
        assert_eq!(&w[12..16], &[1.0, 0.0, 0.0, 0.0]);
    }

    #[test]
    fn weights_sum_to_one_and_follow_merge_order() {
        let (idx, w) = interpolation(&[[1, 4, 6]], 8, 2);
        assert_eq!(idx.len(), 4 * 24);
        for p in w.chunks(4) {
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        }
        // Patch 2 is block (0,0), in-block (1,0): grid row 1, col 0 → src row 7/3.
        let (a, b) = (idx[8], idx[9]);
        assert_eq!((a, b), (2 * 8, 2 * 8 + 1));
    }
}
