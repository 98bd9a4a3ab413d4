//! METEOR's sufficient statistics and its score formula.
//!
//! A segment is summarised by word counts (lengths, function words, matched content and
//! function words per module on each side, chunks); a corpus by their sums, scored with the
//! same formula. pycocoevalcap gets both from the jar's `EVAL` command, which scores each
//! segment's statistics and then their sum, so segment and corpus scores here follow the jar's
//! double arithmetic operation for operation:
//! - weighted lengths `δ (len - fn) + (1 - δ) fn`, weighted matches summed module by module,
//!   content terms (each `count * weight * δ`) before function terms (`* (1 - δ)`);
//! - `P`, `R`, `Fmean = 1 / ((1 - α) / P + α / R)`;
//! - fragmentation `chunks / (matches / 2)`, or 0 for a segment matched word for word in one
//!   chunk, and the penalty `γ frag^β` with the JVM's `Math.pow` ([`super::pow`]);
//! - score `Fmean (1 - penalty)`, 0 when that is NaN (an empty side), clamped at 0;
//! - summing skips the chunk count of segments matched word for word in one chunk.

use super::align::Alignment;
use super::matchers::MODULES;
use super::pow;

/// METEOR's parameters and module weights (the English `rank` task of METEOR 1.5, which
/// pycocoevalcap runs).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Parameters {
    /// Precision/recall balance α.
    pub alpha: f64,
    /// Fragmentation penalty exponent β.
    pub beta: f64,
    /// Maximum fragmentation penalty γ.
    pub gamma: f64,
    /// Content versus function word weight δ.
    pub delta: f64,
    /// Weights of exact, stem, synonym and paraphrase matches.
    pub weights: [f64; MODULES],
}

impl Parameters {
    /// `-l en` (task `rank`): α 0.85, β 0.2, γ 0.6, δ 0.75, weights 1.0 0.6 0.8 0.6.
    pub const ENGLISH: Parameters = Parameters {
        alpha: 0.85,
        beta: 0.20,
        gamma: 0.60,
        delta: 0.75,
        weights: [1.0, 0.6, 0.8, 0.6],
    };
}

impl Default for Parameters {
    fn default() -> Self {
        Self::ENGLISH
    }
}

/// Sufficient statistics of a segment, or of a corpus (sums).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MeteorStats {
    /// Test (candidate) words.
    pub test_len: u64,
    /// Reference words.
    pub ref_len: u64,
    /// Test function words.
    pub test_function: u64,
    /// Reference function words.
    pub ref_function: u64,
    /// Matched test content words per module.
    pub test_content_matches: [u64; MODULES],
    /// Matched reference content words per module.
    pub ref_content_matches: [u64; MODULES],
    /// Matched test function words per module.
    pub test_function_matches: [u64; MODULES],
    /// Matched reference function words per module.
    pub ref_function_matches: [u64; MODULES],
    /// Chunks.
    pub chunks: u64,
    /// Matched test words (all modules).
    pub test_word_matches: u64,
    /// Matched reference words (all modules).
    pub ref_word_matches: u64,
}

/// The intermediate values of a score.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MeteorScore {
    /// Weighted precision.
    pub precision: f64,
    /// Weighted recall.
    pub recall: f64,
    /// Harmonic mean weighted by α.
    pub f_mean: f64,
    /// `γ frag^β`.
    pub frag_penalty: f64,
    /// The score.
    pub score: f64,
}

impl MeteorStats {
    /// Number of values in [`MeteorStats::to_array`] (the jar's statistics line).
    pub const LEN: usize = 23;

    /// Statistics of an alignment of `test` with `reference` (`is_function` tells function
    /// words).
    pub fn from_alignment(
        test: &[&str],
        reference: &[&str],
        alignment: &Alignment,
        is_function: impl Fn(&str) -> bool,
    ) -> Self {
        let fn1: Vec<bool> = test.iter().map(|w| is_function(w)).collect();
        let fn2: Vec<bool> = reference.iter().map(|w| is_function(w)).collect();
        let mut s = MeteorStats {
            test_len: test.len() as u64,
            ref_len: reference.len() as u64,
            test_function: fn1.iter().filter(|&&f| f).count() as u64,
            ref_function: fn2.iter().filter(|&&f| f).count() as u64,
            chunks: u64::from(alignment.chunks),
            ..Default::default()
        };
        for m in &alignment.matches {
            let module = m.module as usize;
            for i in m.test_start..m.test_start + m.test_len {
                if fn1[i as usize] {
                    s.test_function_matches[module] += 1;
                } else {
                    s.test_content_matches[module] += 1;
                }
            }
            for j in m.start..m.start + m.len {
                if fn2[j as usize] {
                    s.ref_function_matches[module] += 1;
                } else {
                    s.ref_content_matches[module] += 1;
                }
            }
        }
        s.test_word_matches = s.test_total_matches();
        s.ref_word_matches = s.ref_total_matches();
        s
    }

    /// Matched test words, summed over modules.
    pub fn test_total_matches(&self) -> u64 {
        self.test_content_matches.iter().sum::<u64>()
            + self.test_function_matches.iter().sum::<u64>()
    }

    /// Matched reference words, summed over modules.
    pub fn ref_total_matches(&self) -> u64 {
        self.ref_content_matches.iter().sum::<u64>() + self.ref_function_matches.iter().sum::<u64>()
    }

    /// Every word matched on both sides, in a single chunk.
    pub fn is_perfect(&self) -> bool {
        self.test_total_matches() == self.test_len
            && self.ref_total_matches() == self.ref_len
            && self.chunks == 1
    }

    /// Adds a segment's statistics (the jar leaves out the chunk of a perfect segment).
    pub fn add(&mut self, s: &MeteorStats) {
        self.test_len += s.test_len;
        self.ref_len += s.ref_len;
        self.test_function += s.test_function;
        self.ref_function += s.ref_function;
        for i in 0..MODULES {
            self.test_content_matches[i] += s.test_content_matches[i];
            self.ref_content_matches[i] += s.ref_content_matches[i];
            self.test_function_matches[i] += s.test_function_matches[i];
            self.ref_function_matches[i] += s.ref_function_matches[i];
        }
        if !s.is_perfect() {
            self.chunks += s.chunks;
        }
        self.test_word_matches += s.test_word_matches;
        self.ref_word_matches += s.ref_word_matches;
    }

    /// The values of the jar's statistics line, in its order: lengths, function words, per
    /// module (test content, reference content, test function, reference function), chunks,
    /// matched test words, matched reference words.
    pub fn to_array(&self) -> [u64; Self::LEN] {
        let mut a = [0u64; Self::LEN];
        a[..4].copy_from_slice(&[
            self.test_len,
            self.ref_len,
            self.test_function,
            self.ref_function,
        ]);
        for i in 0..MODULES {
            a[4 + 4 * i] = self.test_content_matches[i];
            a[5 + 4 * i] = self.ref_content_matches[i];
            a[6 + 4 * i] = self.test_function_matches[i];
            a[7 + 4 * i] = self.ref_function_matches[i];
        }
        a[20] = self.chunks;
        a[21] = self.test_word_matches;
        a[22] = self.ref_word_matches;
        a
    }

    /// Inverse of [`MeteorStats::to_array`].
    pub fn from_array(a: &[u64; Self::LEN]) -> Self {
        let mut s = MeteorStats {
            test_len: a[0],
            ref_len: a[1],
            test_function: a[2],
            ref_function: a[3],
            chunks: a[20],
            test_word_matches: a[21],
            ref_word_matches: a[22],
            ..Default::default()
        };
        for i in 0..MODULES {
            s.test_content_matches[i] = a[4 + 4 * i];
            s.ref_content_matches[i] = a[5 + 4 * i];
            s.test_function_matches[i] = a[6 + 4 * i];
            s.ref_function_matches[i] = a[7 + 4 * i];
        }
        s
    }

    /// The score of these statistics, in the jar's arithmetic.
    pub fn score(&self, p: &Parameters) -> MeteorScore {
        let f = |v: u64| v as f64;
        let d = p.delta;
        let test_weighted_len =
            (d * (f(self.test_len) - f(self.test_function))) + ((1.0 - d) * f(self.test_function));
        let ref_weighted_len =
            (d * (f(self.ref_len) - f(self.ref_function))) + ((1.0 - d) * f(self.ref_function));
        let mut test_weighted = 0.0;
        let mut ref_weighted = 0.0;
        for i in 0..MODULES {
            test_weighted += f(self.test_content_matches[i]) * p.weights[i] * d;
        }
        for i in 0..MODULES {
            ref_weighted += f(self.ref_content_matches[i]) * p.weights[i] * d;
        }
        for i in 0..MODULES {
            test_weighted += f(self.test_function_matches[i]) * p.weights[i] * (1.0 - d);
        }
        for i in 0..MODULES {
            ref_weighted += f(self.ref_function_matches[i]) * p.weights[i] * (1.0 - d);
        }
        let precision = test_weighted / test_weighted_len;
        let recall = ref_weighted / ref_weighted_len;
        let f_mean = 1.0 / (((1.0 - p.alpha) / precision) + (p.alpha / recall));
        let power = if self.is_perfect() {
            // frag = 0
            0f64.powf(p.beta)
        } else {
            let chunks = f(self.chunks);
            let matches = f(self.test_word_matches) + f(self.ref_word_matches);
            let frag = chunks / (matches / 2.0);
            if p.beta == 0.2 {
                pow::jvm_pow_fifth(chunks, matches, frag)
            } else {
                frag.powf(p.beta)
            }
        };
        let frag_penalty = p.gamma * power;
        let raw = f_mean * (1.0 - frag_penalty);
        let score = if raw.is_nan() {
            0.0
        } else if raw > 0.0 {
            raw
        } else {
            0.0
        };
        MeteorScore {
            precision,
            recall,
            f_mean,
            frag_penalty,
            score,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::meteor::matchers::{Match, Module};

    fn exact(start: u32, test_start: u32) -> Match {
        Match {
            start,
            len: 1,
            test_start,
            test_len: 1,
            module: Module::Exact as u8,
        }
    }

    #[test]
    fn counts_by_module_and_word_class() {
        let test = ["the", "cat", "sat"];
        let reference = ["the", "cat", "sits", "down"];
        let mut stem = exact(2, 2);
        stem.module = Module::Stem as u8;
        let a = Alignment {
            matches: vec![exact(0, 0), exact(1, 1), stem],
            chunks: 1,
        };
        let s = MeteorStats::from_alignment(&test, &reference, &a, |w| w == "the" || w == "down");
        assert_eq!(
            s.to_array(),
            [
                3, 4, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3
            ]
        );
        assert_eq!(MeteorStats::from_array(&s.to_array()), s);
        assert!(!s.is_perfect());
    }

    #[test]
    fn hand_worked_score() {
        // 3 test words (1 function), 4 reference words (2 function); exact: "the" (function)
        // and "cat" both sides, stem: "sat"/"sits"; one chunk.
        let s = MeteorStats::from_array(&[
            3, 4, 1, 2, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 3,
        ]);
        let r = s.score(&Parameters::ENGLISH);
        // P = (0.75 + 0.6 * 0.75 + 0.25) / (0.75 * 2 + 0.25) = 1.45 / 1.75
        let p =
            (1.0 * 1.0 * 0.75 + 1.0 * 0.6 * 0.75 + 1.0 * 1.0 * 0.25) / (0.75 * 2.0 + 0.25 * 1.0);
        // R = (0.75 + 0.45 + 0.25) / (0.75 * 2 + 0.25 * 2) = 1.45 / 2
        let r_ =
            (1.0 * 1.0 * 0.75 + 1.0 * 0.6 * 0.75 + 1.0 * 1.0 * 0.25) / (0.75 * 2.0 + 0.25 * 2.0);
        assert_eq!(r.precision, p);
        assert_eq!(r.recall, r_);
        let f_mean = 1.0 / (0.15000000000000002 / p + 0.85 / r_);
        assert_eq!(r.f_mean, f_mean);
        // frag = 1 / 3; penalty 0.6 * (1/3)^0.2 = 0.48164...
        assert!((r.frag_penalty - 0.6 * (1.0f64 / 3.0).powf(0.2)).abs() < 1e-15);
        assert!((r.score - f_mean * (1.0 - r.frag_penalty)).abs() < 1e-15);
        assert!(
            (r.score - 0.382_988_454_149_604_75).abs() < 1e-12,
            "{}",
            r.score
        );
    }

    #[test]
    fn perfect_segments_have_no_penalty_and_keep_their_chunk_out_of_sums() {
        let perfect = MeteorStats::from_array(&[
            2, 2, 0, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 2,
        ]);
        assert!(perfect.is_perfect());
        assert_eq!(perfect.score(&Parameters::ENGLISH).score, 1.0);
        let mut sum = MeteorStats::default();
        sum.add(&perfect);
        sum.add(&perfect);
        assert_eq!(sum.chunks, 0);
        assert_eq!(sum.test_len, 4);
    }

    #[test]
    fn degenerate_segments_score_zero() {
        // Empty candidate: 0/0 precision.
        let empty = MeteorStats::from_array(&[
            0, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(empty.score(&Parameters::ENGLISH).score, 0.0);
        // No matches: Fmean 0, fragmentation 0/0.
        let none = MeteorStats::from_array(&[
            2, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        assert_eq!(none.score(&Parameters::ENGLISH).score, 0.0);
    }
}
