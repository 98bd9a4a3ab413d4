//! Token selection: penalties, temperature, top-k, top-p, min-p, seeded sampling, greedy.
//!
//! Order (as transformers applies its processors): repetition penalty, presence penalty, then
//! (when sampling) temperature, top-k, top-p, min-p, and a draw from the softmax.

use covip_data::rng::SeededRng;

/// The seeded generator of sampling: covip-data's SplitMix64 ([`SeededRng`], the one seeded
/// generator of the workspace) with the seed salted by a fixed constant, so that sampling with
/// seed 0 does not replay the stream that assembles data with seed 0.
#[derive(Debug, Clone)]
pub struct Rng(SeededRng);

impl Rng {
    /// Salt mixed into sampling seeds (fixed forever: it defines the seeded streams).
    const SEED_SALT: u64 = 0x5DEE_CE66_D1CE_4E5B;

    pub fn new(seed: u64) -> Self {
        Self(SeededRng::new(seed ^ Self::SEED_SALT))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// Uniform in `[0, 1)`.
    pub fn uniform(&mut self) -> f64 {
        self.0.uniform()
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        self.0.normal() as f32
    }
}

/// Sampling settings. `temperature == 0` or `do_sample == false` selects greedy decoding.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    pub do_sample: bool,
    pub temperature: f32,
    /// 0 disables.
    pub top_k: usize,
    /// 1.0 disables.
    pub top_p: f32,
    /// 0.0 disables.
    pub min_p: f32,
    /// transformers' multiplicative penalty over prompt and output tokens; 1.0 disables.
    pub repetition_penalty: f32,
    /// Subtracted once from tokens already generated (OpenAI/vLLM meaning); 0.0 disables.
    pub presence_penalty: f32,
    /// Subtracted once per earlier occurrence of a token in the generated text (OpenAI/vLLM
    /// meaning); 0.0 disables.
    pub frequency_penalty: f32,
}

impl Default for Sampling {
    fn default() -> Self {
        Self::greedy()
    }
}

impl Sampling {
    pub fn greedy() -> Self {
        Self {
            do_sample: false,
            temperature: 1.0,
            top_k: 0,
            top_p: 1.0,
            min_p: 0.0,
            repetition_penalty: 1.0,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
        }
    }

    pub fn is_greedy(&self) -> bool {
        !self.do_sample || self.temperature <= 0.0
    }
}

/// Applies the penalties in place. `context` holds prompt and generated ids, `generated` the
/// generated ones only.
pub fn apply_penalties(logits: &mut [f32], context: &[u32], generated: &[u32], s: &Sampling) {
    if s.repetition_penalty != 1.0 {
        let mut seen = vec![false; logits.len()];
        for &t in context {
            if let Some(x) = seen.get_mut(t as usize) {
                *x = true;
            }
        }
        for (l, &seen) in logits.iter_mut().zip(&seen) {
            if seen {
                *l = if *l > 0.0 {
                    *l / s.repetition_penalty
                } else {
                    *l * s.repetition_penalty
                };
            }
        }
    }
    if s.presence_penalty != 0.0 || s.frequency_penalty != 0.0 {
        let mut count = vec![0u32; logits.len()];
        for &t in generated {
            if let Some(x) = count.get_mut(t as usize) {
                *x += 1;
            }
        }
        // vLLM: logits -= frequency · count + presence · (count > 0).
        for (l, &c) in logits.iter_mut().zip(&count) {
            if c > 0 {
                *l -= s.frequency_penalty * c as f32 + s.presence_penalty;
            }
        }
    }
}

/// Index of the largest value (first on ties, as torch.argmax).
pub fn argmax(x: &[f32]) -> usize {
    let mut best = 0;
    for (i, &v) in x.iter().enumerate() {
        if v > x[best] {
            best = i;
        }
    }
    best
}

/// Filters by temperature, top-k, top-p and min-p; returns the normalised probabilities
/// (zero for removed tokens).
pub fn filtered_probs(logits: &[f32], s: &Sampling) -> Vec<f64> {
    let t = if s.temperature > 0.0 {
        s.temperature as f64
    } else {
        1.0
    };
    let scaled: Vec<f64> = logits.iter().map(|&l| l as f64 / t).collect();
    let mut keep = vec![true; scaled.len()];
    let mut order: Vec<usize> = (0..scaled.len()).collect();
    order.sort_by(|&a, &b| {
        scaled[b]
            .partial_cmp(&scaled[a])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    if s.top_k > 0 && s.top_k < order.len() {
        for &i in &order[s.top_k..] {
            keep[i] = false;
        }
    }
    let softmax = |keep: &[bool]| -> Vec<f64> {
        let m = scaled
            .iter()
            .zip(keep)
            .filter(|(_, k)| **k)
            .map(|(v, _)| *v)
            .fold(f64::NEG_INFINITY, f64::max);
        let e: Vec<f64> = scaled
            .iter()
            .zip(keep)
            .map(|(v, k)| if *k { (v - m).exp() } else { 0.0 })
            .collect();
        let z: f64 = e.iter().sum();
        e.into_iter().map(|x| x / z).collect()
    };
    if s.top_p < 1.0 {
        let p = softmax(&keep);
        let mut cum = 0.0;
        let mut kept_any = false;
        for &i in &order {
            if !keep[i] {
                continue;
            }
            if kept_any && cum >= s.top_p as f64 {
                keep[i] = false;
            } else {
                cum += p[i];
                kept_any = true;
            }
        }
    }
    if s.min_p > 0.0 {
        let p = softmax(&keep);
        let max = p.iter().cloned().fold(0.0, f64::max);
        for (k, &pi) in keep.iter_mut().zip(&p) {
            if pi < s.min_p as f64 * max {
                *k = false;
            }
        }
    }
    softmax(&keep)
}

/// Picks the next token from one row of logits.
pub fn select_token(
    logits: &mut [f32],
    context: &[u32],
    generated: &[u32],
    s: &Sampling,
    rng: &mut Rng,
) -> u32 {
    apply_penalties(logits, context, generated, s);
    if s.is_greedy() {
        return argmax(logits) as u32;
    }
    let p = filtered_probs(logits, s);
    let u = rng.uniform();
    let mut cum = 0.0;
    let mut last = 0;
    for (i, &pi) in p.iter().enumerate() {
        if pi > 0.0 {
            cum += pi;
            last = i;
            if u < cum {
                return i as u32;
            }
        }
    }
    last as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s() -> Sampling {
        Sampling {
            do_sample: true,
            ..Sampling::greedy()
        }
    }

    #[test]
    fn top_k_top_p_min_p_filter() {
        let l = [0.0f32, 1.0, 2.0, 3.0];
        let p = filtered_probs(&l, &Sampling { top_k: 2, ..s() });
        assert!(p[0] == 0.0 && p[1] == 0.0 && p[2] > 0.0 && p[3] > p[2]);
        // probs ≈ [.032, .087, .237, .644]: top_p 0.7 keeps the two largest
        let p = filtered_probs(&l, &Sampling { top_p: 0.7, ..s() });
        assert!(p[1] == 0.0 && p[2] > 0.0);
        let p = filtered_probs(&l, &Sampling { top_p: 0.5, ..s() });
        assert_eq!(p[3], 1.0);
        // min_p 0.2: keep tokens with p >= 0.2·0.644 = 0.129
        let p = filtered_probs(&l, &Sampling { min_p: 0.2, ..s() });
        assert!(p[1] == 0.0 && p[2] > 0.0);
        let sum: f64 = p.iter().sum();
        assert!((sum - 1.0).abs() < 1e-12);
    }

    #[test]
    fn penalties() {
        let mut l = [2.0f32, -2.0, 1.0];
        apply_penalties(
            &mut l,
            &[0, 1],
            &[],
            &Sampling {
                repetition_penalty: 2.0,
                ..s()
            },
        );
        assert_eq!(l, [1.0, -4.0, 1.0]);
        let mut l = [2.0f32, -2.0, 1.0];
        apply_penalties(
            &mut l,
            &[0, 1, 2],
            &[2, 2],
            &Sampling {
                presence_penalty: 0.5,
                ..s()
            },
        );
        assert_eq!(l, [2.0, -2.0, 0.5]);
        let mut l = [2.0f32, -2.0, 1.0];
        apply_penalties(
            &mut l,
            &[0, 1, 2],
            &[2, 2, 0],
            &Sampling {
                presence_penalty: 0.5,
                frequency_penalty: 0.25,
                ..s()
            },
        );
        assert_eq!(l, [1.25, -2.0, 0.0]);
    }

    #[test]
    fn seeded_streams_are_fixed() {
        // Outputs of the generator before it moved to covip-data: seeded sampling and
        // `init_text_model` must keep drawing exactly these.
        let mut r = Rng::new(7);
        assert_eq!(r.next_u64(), 0xd814_e58a_040f_45a8);
        assert_eq!(r.next_u64(), 0x0c9d_2ae6_cb41_9e52);
        assert_eq!(r.uniform().to_bits(), 4602011270435348668);
        let normals: Vec<u32> = (0..4).map(|_| r.normal().to_bits()).collect();
        assert_eq!(normals, [0x3fe64bd0, 0x3f154da9, 0xbff8429a, 0xbf3a0994]);
    }

    #[test]
    fn seeded_sampling_is_reproducible_and_follows_probs() {
        let l = [0.0f32, (3.0f32).ln()]; // p = [0.25, 0.75]
        let draw = |seed| {
            let mut r = Rng::new(seed);
            (0..4000)
                .map(|_| select_token(&mut l.clone(), &[], &[], &s(), &mut r))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert_ne!(draw(7), draw(8));
        let ones = draw(7).iter().filter(|&&t| t == 1).count() as f64 / 4000.0;
        assert!((ones - 0.75).abs() < 0.03, "{ones}");
        assert_eq!(
            select_token(
                &mut [1.0, 5.0, 5.0],
                &[],
                &[],
                &Sampling::greedy(),
                &mut Rng::new(0)
            ),
            1
        );
    }
}
