//! BERTScore as the `bert_score` package (0.3.13) computes it: each sentence (stripped) is
//! tokenised with the model's special tokens (`[CLS] … [SEP]`, `<s> … </s>`; RoBERTa-style
//! tokenisers get a prefix space), encoded by the first `num_layers` layers, embeddings
//! L2-normalised; precision is the weighted mean over candidate tokens of their best cosine
//! against any reference token (special tokens included as match targets), recall the same
//! from the reference side, F = 2PR/(P+R). Weights are 1 (0 for `[CLS]`/`[SEP]`) or, with idf,
//! `ln((M+1)/(df+1))` over the M references (so the special tokens get 0), normalised per
//! sentence. With several references the maximum P, R and F (each separately) are kept. An
//! empty candidate or reference scores P = R = F = 0. Baseline rescaling maps x to
//! (x − b)/(1 − b) per P/R/F.
//!
//! Defaults follow bert_score for English: roberta-large, layer 17, with its baseline row
//! ([`ROBERTA_LARGE_L17_BASELINE`]); the model itself is the user's own download.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;

use super::bert::BertEncoder;
use super::error::MetricsError;
use super::ptb::py_is_space;

/// bert_score's `rescale_baseline/en/roberta-large.tsv`, row `LAYER 17`: P, R, F.
pub const ROBERTA_LARGE_L17_BASELINE: [f64; 3] = [0.83150584, 0.8314941, 0.83122575];

/// bert_score's default layer for roberta-large.
pub const ROBERTA_LARGE_DEFAULT_LAYER: usize = 17;

/// Precision, recall and F1 of one candidate.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Prf {
    /// Precision.
    pub p: f64,
    /// Recall.
    pub r: f64,
    /// F1.
    pub f: f64,
}

/// One encoded sentence: L2-normalised token embeddings and token ids.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// Token ids including the special tokens.
    pub ids: Vec<u32>,
    /// `ids.len() × dim`, rows normalised to unit length (f32, as torch keeps them).
    pub emb: Vec<f32>,
    /// Embedding width.
    pub dim: usize,
}

impl Encoded {
    /// Normalises the rows of `hidden` (`ids.len() × dim`).
    pub fn new(ids: Vec<u32>, mut hidden: Vec<f32>, dim: usize) -> Self {
        for row in hidden.chunks_mut(dim) {
            let n = row.iter().map(|x| x * x).sum::<f32>().sqrt();
            for x in row {
                *x /= n;
            }
        }
        Encoded {
            ids,
            emb: hidden,
            dim,
        }
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.emb[i * self.dim..(i + 1) * self.dim]
    }
}

/// Token weights: bert_score's idf dictionary, or 1 for every token but the special ones.
#[derive(Clone, Debug)]
pub enum Weights {
    /// 1 everywhere, 0 for the listed special ids.
    Uniform {
        /// `[CLS]` / `[SEP]` (or `<s>` / `</s>`).
        special: Vec<u32>,
    },
    /// `ln((M+1)/(df+1))`; unseen ids get `ln(M+1)`.
    Idf {
        /// Document frequency per id over the references.
        df: HashMap<u32, usize>,
        /// Number of references M.
        docs: usize,
    },
}

impl Weights {
    /// bert_score's `get_idf_dict` over the (tokenised) references.
    pub fn idf<'a>(refs: impl IntoIterator<Item = &'a [u32]>) -> Self {
        let mut df: HashMap<u32, usize> = HashMap::new();
        let mut docs = 0;
        for r in refs {
            docs += 1;
            let set: HashSet<u32> = r.iter().copied().collect();
            for id in set {
                *df.entry(id).or_insert(0) += 1;
            }
        }
        Weights::Idf { df, docs }
    }

    /// Weight of one token id (as the f32 bert_score stores).
    pub fn weight(&self, id: u32) -> f32 {
        match self {
            Weights::Uniform { special } => {
                if special.contains(&id) {
                    0.0
                } else {
                    1.0
                }
            }
            Weights::Idf { df, docs } => {
                let c = df.get(&id).copied().unwrap_or(0);
                ((*docs as f64 + 1.0) / (c as f64 + 1.0)).ln() as f32
            }
        }
    }
}

/// Greedy cosine matching of one candidate against one reference (`greedy_cos_idf`).
pub fn greedy_match(cand: &Encoded, reference: &Encoded, weights: &Weights) -> Prf {
    let (nc, nr) = (cand.ids.len(), reference.ids.len());
    let mut best_c = vec![f32::NEG_INFINITY; nc];
    let mut best_r = vec![f32::NEG_INFINITY; nr];
    for (i, bc) in best_c.iter_mut().enumerate() {
        let a = cand.row(i);
        for (j, br) in best_r.iter_mut().enumerate() {
            let s: f32 = a.iter().zip(reference.row(j)).map(|(x, y)| x * y).sum();
            if s > *bc {
                *bc = s;
            }
            if s > *br {
                *br = s;
            }
        }
    }
    let side = |best: &[f32], ids: &[u32]| -> f32 {
        let w: Vec<f32> = ids.iter().map(|&id| weights.weight(id)).collect();
        let total: f32 = w.iter().sum();
        best.iter().zip(&w).map(|(b, w)| b * (w / total)).sum()
    };
    let p = side(&best_c, &cand.ids);
    let r = side(&best_r, &reference.ids);
    let f = 2.0 * p * r / (p + r);
    // Only the special tokens: bert_score sets P and R to 0; F is NaN → 0 there and elsewhere.
    let (mut p, mut r) = (p as f64, r as f64);
    if nc == 2 || nr == 2 {
        p = 0.0;
        r = 0.0;
    }
    let f = if f.is_nan() { 0.0 } else { f as f64 };
    Prf { p, r, f }
}

/// Maximum P, R and F (each separately) over the references; then optional baseline rescaling.
pub fn score_candidate(
    cand: &Encoded,
    refs: &[&Encoded],
    weights: &Weights,
    baseline: Option<[f64; 3]>,
) -> Prf {
    let mut best = Prf {
        p: f64::NEG_INFINITY,
        r: f64::NEG_INFINITY,
        f: f64::NEG_INFINITY,
    };
    for r in refs {
        let s = greedy_match(cand, r, weights);
        best.p = best.p.max(s.p);
        best.r = best.r.max(s.r);
        best.f = best.f.max(s.f);
    }
    match baseline {
        Some(b) => rescale(best, b),
        None => best,
    }
}

/// `(x − b) / (1 − b)` for P, R and F.
pub fn rescale(s: Prf, b: [f64; 3]) -> Prf {
    // bert_score does this in float32 on float32 scores.
    let f = |x: f64, b: f64| ((x as f32 - b as f32) / (1.0f32 - b as f32)) as f64;
    Prf {
        p: f(s.p, b[0]),
        r: f(s.r, b[1]),
        f: f(s.f, b[2]),
    }
}

/// Options of [`BertScorer::score`].
#[derive(Clone, Debug, Default)]
pub struct BertScoreOptions {
    /// idf weighting from the references.
    pub idf: bool,
    /// Baseline (P, R, F) to rescale with.
    pub baseline: Option<[f64; 3]>,
    /// Sentences per encoder batch (0: 64).
    pub batch_size: usize,
}

/// Corpus result: per candidate P/R/F and their means.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BertScores {
    /// Per candidate, in input order.
    pub per_item: Vec<Prf>,
    /// Mean P, R, F.
    pub mean: Prf,
}

/// A loaded encoder and its tokenizer.
pub struct BertScorer<B: Backend> {
    /// The encoder.
    pub encoder: BertEncoder<B>,
    tokenizer: tokenizers::Tokenizer,
    special: Vec<u32>,
    prefix_space: bool,
    max_len: usize,
    dir: PathBuf,
}

fn tok_err(path: &Path, message: impl Into<String>) -> MetricsError {
    MetricsError::Record {
        path: path.to_path_buf(),
        record: "<tokenizer>".into(),
        field: String::new(),
        message: message.into(),
    }
}

impl<B: Backend> BertScorer<B> {
    /// Loads encoder (first `num_layers` layers) and `tokenizer.json` from `dir`.
    pub fn load(
        dir: &Path,
        num_layers: Option<usize>,
        device: &B::Device,
    ) -> Result<Self, MetricsError> {
        let encoder = BertEncoder::load(dir, num_layers, device)?;
        let tpath = dir.join("tokenizer.json");
        let mut tokenizer = tokenizers::Tokenizer::from_file(&tpath)
            .map_err(|e| tok_err(&tpath, format!("cannot load: {e}")))?;
        // Truncation as transformers applies `model_max_length` (tokenizer_config.json, else
        // what the position table allows).
        let roberta = encoder.config.is_roberta();
        let pos_limit = encoder.config.max_position_embeddings
            - if roberta {
                encoder.config.pad_token_id as usize + 1
            } else {
                0
            };
        let cfg_path = dir.join("tokenizer_config.json");
        let mut max_len = pos_limit;
        if let Ok(text) = std::fs::read_to_string(&cfg_path) {
            let v: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| MetricsError::Json {
                    path: cfg_path.clone(),
                    line: None,
                    message: e.to_string(),
                })?;
            if let Some(m) = v.get("model_max_length").and_then(|m| m.as_u64()) {
                max_len = max_len.min(m as usize);
            }
        }
        tokenizer
            .with_truncation(Some(tokenizers::TruncationParams {
                max_length: max_len,
                ..Default::default()
            }))
            .map_err(|e| tok_err(&tpath, e.to_string()))?;
        tokenizer.with_padding(None);
        let (cls, sep) = if roberta {
            ("<s>", "</s>")
        } else {
            ("[CLS]", "[SEP]")
        };
        let mut special = Vec::new();
        for t in [cls, sep] {
            special.push(
                tokenizer
                    .token_to_id(t)
                    .ok_or_else(|| tok_err(&tpath, format!("no {t} token")))?,
            );
        }
        Ok(BertScorer {
            encoder,
            tokenizer,
            special,
            prefix_space: roberta,
            max_len,
            dir: dir.to_path_buf(),
        })
    }

    /// bert_score's `sent_encode`: strip, special tokens, truncation.
    pub fn tokenize(&self, sent: &str) -> Result<Vec<u32>, MetricsError> {
        let s = sent.trim_matches(py_is_space);
        if s.is_empty() {
            return Ok(self.special.clone());
        }
        let text = if self.prefix_space {
            format!(" {s}")
        } else {
            s.to_string()
        };
        let enc = self
            .tokenizer
            .encode(text, true)
            .map_err(|e| tok_err(&self.dir.join("tokenizer.json"), e.to_string()))?;
        let ids = enc.get_ids().to_vec();
        debug_assert!(ids.len() <= self.max_len);
        Ok(ids)
    }

    /// Encodes distinct sentences (longest first, in batches) into normalised embeddings.
    pub fn encode_all(
        &self,
        sents: &[&str],
        batch_size: usize,
    ) -> Result<HashMap<String, Encoded>, MetricsError> {
        let mut uniq: Vec<&str> = sents.to_vec();
        uniq.sort_unstable();
        uniq.dedup();
        let mut toks: Vec<(&str, Vec<u32>)> = uniq
            .into_iter()
            .map(|s| Ok((s, self.tokenize(s)?)))
            .collect::<Result<_, MetricsError>>()?;
        toks.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
        let dim = self.encoder.config.hidden_size;
        let mut out = HashMap::with_capacity(toks.len());
        for chunk in toks.chunks(batch_size.max(1)) {
            let ids: Vec<Vec<u32>> = chunk.iter().map(|(_, t)| t.clone()).collect();
            let hidden = self.encoder.encode(&ids)?;
            for ((s, t), h) in chunk.iter().zip(hidden) {
                out.insert(s.to_string(), Encoded::new(t.clone(), h, dim));
            }
        }
        Ok(out)
    }

    /// BERTScore of `cands[i]` against `refs[i]` (one or more references each).
    pub fn score(
        &self,
        refs: &[Vec<String>],
        cands: &[String],
        opts: &BertScoreOptions,
    ) -> Result<BertScores, MetricsError> {
        if refs.len() != cands.len() {
            return Err(MetricsError::Mismatch {
                message: format!(
                    "BERTScore: {} reference lists for {} candidates",
                    refs.len(),
                    cands.len()
                ),
            });
        }
        let mut all: Vec<&str> = cands.iter().map(String::as_str).collect();
        all.extend(refs.iter().flatten().map(String::as_str));
        let bs = if opts.batch_size == 0 {
            64
        } else {
            opts.batch_size
        };
        let enc = self.encode_all(&all, bs)?;
        let weights = if opts.idf {
            Weights::idf(
                refs.iter()
                    .flatten()
                    .map(|r| enc[r.as_str()].ids.as_slice()),
            )
        } else {
            Weights::Uniform {
                special: self.special.clone(),
            }
        };
        let per_item: Vec<Prf> = cands
            .iter()
            .zip(refs)
            .map(|(c, rs)| {
                let rs: Vec<&Encoded> = rs.iter().map(|r| &enc[r.as_str()]).collect();
                score_candidate(&enc[c.as_str()], &rs, &weights, opts.baseline)
            })
            .collect();
        let n = per_item.len().max(1) as f64;
        let mean = Prf {
            p: per_item.iter().map(|s| s.p).sum::<f64>() / n,
            r: per_item.iter().map(|s| s.r).sum::<f64>() / n,
            f: per_item.iter().map(|s| s.f).sum::<f64>() / n,
        };
        Ok(BertScores { per_item, mean })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enc(ids: Vec<u32>, rows: Vec<Vec<f32>>) -> Encoded {
        let dim = rows[0].len();
        Encoded::new(ids, rows.concat(), dim)
    }

    #[test]
    fn identical_sentences_score_one_and_special_only_scores_zero() {
        let w = Weights::Uniform {
            special: vec![0, 1],
        };
        let a = enc(
            vec![0, 5, 6, 1],
            vec![vec![1., 0.], vec![0.3, 1.], vec![1., 1.], vec![0., 1.]],
        );
        let s = greedy_match(&a, &a, &w);
        assert!((s.p - 1.0).abs() < 1e-6 && (s.r - 1.0).abs() < 1e-6 && (s.f - 1.0).abs() < 1e-6);
        let empty = enc(vec![0, 1], vec![vec![1., 0.], vec![0., 1.]]);
        assert_eq!(greedy_match(&empty, &a, &w), Prf::default());
        assert_eq!(greedy_match(&a, &empty, &w), Prf::default());
    }

    #[test]
    fn idf_formula_and_rescale() {
        let w = Weights::idf([&[0u32, 7, 1][..], &[0, 8, 8, 1][..], &[0, 7, 1][..]]);
        assert_eq!(w.weight(0), 0.0);
        assert!((w.weight(7) as f64 - (4.0f64 / 3.0).ln()).abs() < 1e-6);
        assert!((w.weight(9) as f64 - 4.0f64.ln()).abs() < 1e-6);
        let r = rescale(
            Prf {
                p: 0.9,
                r: 0.8,
                f: 0.85,
            },
            [0.8, 0.8, 0.8],
        );
        assert!((r.p - 0.5).abs() < 1e-6 && r.r.abs() < 1e-6 && (r.f - 0.25).abs() < 1e-6);
    }
}
