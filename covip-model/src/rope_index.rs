//! 3-axis (temporal, height, width) MRoPE position ids for prompts that interleave text and
//! images, and the per-row offset that decode steps add to their cache position.
//!
//! Valid tokens of a row are split into runs of text tokens and runs of image placeholder
//! tokens. A text run continues from the current position on all three axes. An image run is
//! one image of `(t, h/m, w/m)` merged tokens (row-major over t, rows, cols) starting at
//! position `s`: axis 0 is `s + frame`, axis 1 is `s + row`, axis 2 is `s + col`; the text that
//! follows resumes at `s + max(h/m, w/m)`. Padding positions get 0 on every axis.
use crate::error::{ModelError, Result};

/// Position ids `[3, B, T]` (flattened, axis-major) and rope deltas `[B]`.
///
/// * `ids`: `[B][T]` token ids, left padded; `valid`: `[B][T]`, false at padding.
/// * `image_token_id`: the placeholder id; every maximal run of it is one image.
/// * `grids`: `[t, h, w]` in patches, one per image, in row-major order over the batch.
/// * `merge`: the vision tower's spatial merge size.
///
/// `deltas[b] = max_position + 1 - T` (T = padded length), so the token stored at cache index
/// `c` during decoding sits at position `c + deltas[b]` (see
/// [`crate::position_ids::decode_position_ids`]).
pub fn rope_index(
    ids: &[Vec<u32>],
    valid: &[Vec<bool>],
    image_token_id: u32,
    grids: &[[usize; 3]],
    merge: usize,
) -> Result<(Vec<i64>, Vec<i64>)> {
    let b = ids.len();
    let t = ids.first().map_or(0, Vec::len);
    if valid.len() != b || ids.iter().any(|r| r.len() != t) {
        return Err(ModelError::Input(format!(
            "rope_index: ids must be [B, T] with equal rows and a matching mask; got {} rows of \
             ids and {} mask rows",
            b,
            valid.len()
        )));
    }
    if merge == 0 {
        return Err(ModelError::Input("rope_index: merge size is 0".into()));
    }
    let mut pos = vec![[0i64; 3]; b * t];
    let mut deltas = Vec::with_capacity(b);
    let mut next_grid = 0usize;
    for (r, (row, mask)) in ids.iter().zip(valid).enumerate() {
        if mask.len() != t {
            return Err(ModelError::Input(format!(
                "rope_index: mask row {r} has {} entries, ids have {t}",
                mask.len()
            )));
        }
        let cols: Vec<usize> = (0..t).filter(|&j| mask[j]).collect();
        let mut cur = 0i64;
        let mut max = i64::MIN;
        let mut k = 0usize;
        while k < cols.len() {
            let is_img = row[cols[k]] == image_token_id;
            let mut end = k;
            while end < cols.len() && (row[cols[end]] == image_token_id) == is_img {
                end += 1;
            }
            if !is_img {
                for (n, &c) in cols[k..end].iter().enumerate() {
                    let p = cur + n as i64;
                    pos[r * t + c] = [p; 3];
                    max = max.max(p);
                }
                cur += (end - k) as i64;
            } else {
                let g = grids.get(next_grid).ok_or_else(|| {
                    ModelError::Input(format!(
                        "rope_index: row {r} has image run #{} but only {} image grids were given",
                        next_grid + 1,
                        grids.len()
                    ))
                })?;
                let (gt, gh, gw) = (g[0], g[1] / merge, g[2] / merge);
                if gt * gh * gw != end - k {
                    return Err(ModelError::Input(format!(
                        "rope_index: image {} (row {r}) has {} placeholder tokens but its grid \
                         {g:?} gives {} merged tokens",
                        next_grid,
                        end - k,
                        gt * gh * gw
                    )));
                }
                let mut idx = k;
                for f in 0..gt {
                    for y in 0..gh {
                        for x in 0..gw {
                            let p = [cur + f as i64, cur + y as i64, cur + x as i64];
                            max = max.max(p[0]).max(p[1]).max(p[2]);
                            pos[r * t + cols[idx]] = p;
                            idx += 1;
                        }
                    }
                }
                cur += gh.max(gw) as i64;
                next_grid += 1;
            }
            k = end;
        }
        deltas.push(if cols.is_empty() {
            0
        } else {
            max + 1 - t as i64
        });
    }
    if next_grid != grids.len() {
        return Err(ModelError::Input(format!(
            "rope_index: {} image grids given but the ids hold {next_grid} image runs",
            grids.len()
        )));
    }
    let mut out = Vec::with_capacity(3 * b * t);
    for a in 0..3 {
        out.extend(pos.iter().map(|p| p[a]));
    }
    Ok((out, deltas))
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMG: u32 = 9;

    #[test]
    fn text_image_text() {
        // 2 text, image of grid (1, 4, 6) → 2x3 merged tokens, 2 text.
        let ids = vec![
            [1, 2]
                .iter()
                .chain(&[IMG; 6])
                .chain(&[3, 4])
                .copied()
                .collect(),
        ];
        let valid = vec![vec![true; 10]];
        let (p, d) = rope_index(&ids, &valid, IMG, &[[1, 4, 6]], 2).unwrap();
        let t = &p[0..10];
        let h = &p[10..20];
        let w = &p[20..30];
        assert_eq!(t, &[0, 1, 2, 2, 2, 2, 2, 2, 5, 6]);
        assert_eq!(h, &[0, 1, 2, 2, 2, 3, 3, 3, 5, 6]);
        assert_eq!(w, &[0, 1, 2, 3, 4, 2, 3, 4, 5, 6]);
        // max 6, T 10 → delta -3; next token (cache index 10) sits at 7.
        assert_eq!(d, vec![-3]);
    }

    #[test]
    fn left_padding_and_two_images() {
        let row: Vec<u32> = [0, 0, 5]
            .iter()
            .chain(&[IMG; 4])
            .chain(&[6])
            .chain(&[IMG; 2])
            .copied()
            .collect();
        let valid = vec![[vec![false; 2], vec![true; 8]].concat()];
        let (p, d) = rope_index(&[row], &valid, IMG, &[[1, 4, 4], [1, 2, 4]], 2).unwrap();
        assert_eq!(&p[0..10], &[0, 0, 0, 1, 1, 1, 1, 3, 4, 4]);
        assert_eq!(&p[10..20], &[0, 0, 0, 1, 1, 2, 2, 3, 4, 4]);
        assert_eq!(&p[20..30], &[0, 0, 0, 1, 2, 1, 2, 3, 4, 5]);
        assert_eq!(d, vec![5 + 1 - 10]);
    }

    #[test]
    fn count_mismatches_are_errors() {
        let ids = vec![vec![1, IMG, IMG, 2]];
        let valid = vec![vec![true; 4]];
        let e = rope_index(&ids, &valid, IMG, &[[1, 4, 4]], 2)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("2 placeholder tokens") && e.contains("4 merged"),
            "{e}"
        );
        let e = rope_index(&ids, &valid, IMG, &[], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("only 0 image grids"), "{e}");
        let e = rope_index(&ids, &valid, IMG, &[[1, 2, 4], [1, 2, 2]], 2)
            .unwrap_err()
            .to_string();
        assert!(e.contains("2 image grids given"), "{e}");
    }
}
