//! Position ids and attention masks for text input (left-padded batches).
//!
//! Text-only input advances the three MRoPE axes together. With left padding the reference
//! counts positions over valid tokens only (`cumsum(mask) - 1`, padding set to 1) and keeps
//! per-row `rope_deltas = max_position + 1 - T`, so decode step positions are
//! `cached_len + delta`. The vision issue replaces [`text_position_ids`] for prompts with images.
use burn::tensor::{DType, Int, Tensor, TensorData, backend::Backend};

/// Additive mask value for disallowed (padded / future) keys. Finite so fully masked padding
/// rows stay finite (their outputs are never read).
pub const MASKED: f32 = -1e30;

/// MRoPE ids for a batch whose valid tokens are marked in `valid` (`[B][T]`, left padding).
/// Returns `(positions [3, B, T] flattened, rope_deltas [B])`.
pub fn text_position_ids(valid: &[Vec<bool>]) -> (Vec<i64>, Vec<i64>) {
    let b = valid.len();
    let t = valid.first().map_or(0, Vec::len);
    let mut row_pos = vec![0i64; b * t];
    let mut deltas = Vec::with_capacity(b);
    for (r, row) in valid.iter().enumerate() {
        assert_eq!(row.len(), t, "position ids: rows of unequal length");
        let mut n = 0i64;
        let mut max = i64::MIN;
        for (j, &v) in row.iter().enumerate() {
            let p = if v {
                n += 1;
                n - 1
            } else {
                1
            };
            row_pos[r * t + j] = p;
            max = max.max(p);
        }
        deltas.push(if t == 0 { 0 } else { max + 1 - t as i64 });
    }
    let mut out = Vec::with_capacity(3 * b * t);
    for _ in 0..3 {
        out.extend_from_slice(&row_pos);
    }
    (out, deltas)
}

/// Position ids `[3, B, 1]` (flattened) of the next token after `cached` positions.
pub fn decode_position_ids(cached: usize, deltas: &[i64]) -> Vec<i64> {
    let row: Vec<i64> = deltas.iter().map(|d| cached as i64 + d).collect();
    [row.clone(), row.clone(), row].concat()
}

/// Uploads flat `[3, B, T]` ids.
pub fn position_tensor<B: Backend>(
    ids: Vec<i64>,
    b: usize,
    t: usize,
    device: &B::Device,
) -> Tensor<B, 3, Int> {
    Tensor::from_data(TensorData::new(ids, [3, b, t]), device)
}

/// Additive causal + padding mask `[B, 1, T, S]`: query `i` sits at key index `S - T + i` and
/// may see key `j` when `j <= S - T + i` and `valid[b][j]`. `valid` is `[B][S]`.
pub fn attention_bias<B: Backend>(
    valid: &[Vec<bool>],
    t: usize,
    dtype: DType,
    device: &B::Device,
) -> Tensor<B, 4> {
    let b = valid.len();
    let s = valid.first().map_or(0, Vec::len);
    assert!(t <= s, "attention mask: {t} queries but only {s} keys");
    let mut m = vec![0f32; b * t * s];
    for (r, row) in valid.iter().enumerate() {
        for i in 0..t {
            let q = s - t + i;
            for (j, &v) in row.iter().enumerate() {
                if !v || j > q {
                    m[(r * t + i) * s + j] = MASKED;
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(m, [b, 1, t, s]), (device, dtype))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn left_padding_positions_and_deltas() {
        let valid = vec![vec![false, false, true, true], vec![true, true, true, true]];
        let (p, d) = text_position_ids(&valid);
        assert_eq!(&p[..8], &[1, 1, 0, 1, 0, 1, 2, 3]);
        assert_eq!(&p[8..16], &p[..8]);
        assert_eq!(d, vec![-2, 0]);
        assert_eq!(decode_position_ids(4, &d), vec![2, 4, 2, 4, 2, 4]);
    }

    #[test]
    fn mask_is_causal_and_hides_padding() {
        let dev = Default::default();
        let m =
            attention_bias::<burn::backend::Flex>(&[vec![false, true, true]], 2, DType::F32, &dev);
        let v: Vec<f32> = m.into_data().to_vec().unwrap();
        // query at key index 1: sees 1 only; query at 2: sees 1, 2
        assert_eq!(v, vec![MASKED, 0.0, MASKED, MASKED, 0.0, 0.0]);
    }
}
