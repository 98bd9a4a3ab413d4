//! Context assembly (SPEC §2.2): for each positive concept, its k nearest other concepts by
//! cosine similarity of their embeddings become negatives; positives and negatives are then
//! shuffled with a seed into the context of one sample.
use ndarray::{Array2, ArrayView1};

use crate::concept::Concept;
use crate::error::DataError;
use crate::image::ImageRef;
use crate::qa::Qa;
use crate::rng::SeededRng;
use crate::sample::{ContextEntry, Sample, TaskKind};

/// One concept of the bank with what a sample needs from it.
#[derive(Clone, Debug, PartialEq)]
pub struct BankEntry {
    pub concept: Concept,
    /// Rendered dialogue about the concept image.
    pub dialogue: String,
    /// The three QAs about that dialogue.
    pub qas: Vec<Qa>,
}

/// All concepts with one embedding row each (`embeddings`: [concepts, dim]).
#[derive(Clone, Debug)]
pub struct ConceptBank {
    pub entries: Vec<BankEntry>,
    pub embeddings: Array2<f32>,
}

/// Settings of `assemble`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AssemblyConfig {
    /// Negatives drawn for each positive (2 in the paper, so positives : negatives = 1 : 2).
    pub negatives_per_positive: usize,
    /// Seed of the context shuffle.
    pub seed: u64,
}

impl Default for AssemblyConfig {
    fn default() -> Self {
        AssemblyConfig {
            negatives_per_positive: 2,
            seed: 0,
        }
    }
}

fn cosine(a: ArrayView1<f32>, b: ArrayView1<f32>, norm_a: f32, norm_b: f32) -> f32 {
    a.dot(&b) / (norm_a * norm_b)
}

/// Negatives for `positives`: for each positive in order, the `k` most cosine-similar pool
/// rows that are neither a positive nor already chosen. Ties go to the lower index.
///
/// `embeddings`: [pool, dim]. Errors on an out-of-range positive, a zero vector, or a pool too
/// small to supply `k` negatives for every positive.
pub fn nearest_negatives(
    embeddings: &Array2<f32>,
    positives: &[usize],
    k: usize,
) -> Result<Vec<usize>, DataError> {
    let n = embeddings.nrows();
    let norms: Vec<f32> = embeddings
        .rows()
        .into_iter()
        .map(|r| r.dot(&r).sqrt())
        .collect();
    for (i, &p) in positives.iter().enumerate() {
        if p >= n {
            return Err(DataError::Other(format!(
                "positive {i} is concept {p}, but the bank has {n} concepts"
            )));
        }
        if positives[..i].contains(&p) {
            return Err(DataError::Other(format!(
                "concept {p} is listed twice among the positives"
            )));
        }
    }
    let mut taken = vec![false; n];
    for &p in positives {
        taken[p] = true;
    }
    let mut negatives = Vec::with_capacity(positives.len() * k);
    for &p in positives {
        if norms[p] == 0.0 {
            return Err(DataError::Other(format!(
                "concept {p} has a zero embedding: cosine similarity is undefined"
            )));
        }
        let mut scored: Vec<(f32, usize)> = (0..n)
            .filter(|&j| !taken[j] && norms[j] > 0.0)
            .map(|j| {
                let s = cosine(embeddings.row(p), embeddings.row(j), norms[p], norms[j]);
                (s, j)
            })
            .collect();
        if scored.len() < k {
            return Err(DataError::Other(format!(
                "only {} candidates left for the negatives of concept {p}, {k} needed",
                scored.len()
            )));
        }
        // Highest similarity first; equal scores keep index order.
        scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, j) in scored.iter().take(k) {
            taken[j] = true;
            negatives.push(j);
        }
    }
    Ok(negatives)
}

/// Assembles one sample: the positives' negatives by cosine top-k, then positives and negatives
/// shuffled with `config.seed`. `gold` lists where the positives landed, in `positives` order.
pub fn assemble(
    bank: &ConceptBank,
    id: impl Into<String>,
    positives: &[usize],
    query: ImageRef,
    task: TaskKind,
    config: AssemblyConfig,
) -> Result<Sample, DataError> {
    if bank.entries.len() != bank.embeddings.nrows() {
        return Err(DataError::Other(format!(
            "the bank has {} concepts but {} embedding rows",
            bank.entries.len(),
            bank.embeddings.nrows()
        )));
    }
    if positives.is_empty() {
        return Err(DataError::Other(
            "a sample needs at least one positive concept".into(),
        ));
    }
    let negatives = nearest_negatives(&bank.embeddings, positives, config.negatives_per_positive)?;
    let mut order: Vec<usize> = positives.iter().chain(negatives.iter()).copied().collect();
    SeededRng::new(config.seed).shuffle(&mut order);
    let gold = positives
        .iter()
        .map(|p| {
            order
                .iter()
                .position(|o| o == p)
                .expect("positive is in the order")
        })
        .collect();
    let context = order
        .iter()
        .map(|&c| ContextEntry {
            image: bank.entries[c].concept.image.clone(),
            dialogue: bank.entries[c].dialogue.clone(),
        })
        .collect();
    let qas = order.iter().map(|&c| bank.entries[c].qas.clone()).collect();
    Ok(Sample {
        id: id.into(),
        context,
        query,
        gold,
        qas,
        task,
        yes_no: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::concept::ConceptKind;
    use ndarray::array;

    #[test]
    fn picks_most_similar_non_positives_without_duplicates() {
        // Rows 0 and 1 are positives; 2 and 3 point along 0, 4 and 5 along 1.
        let e = array![
            [1.0, 0.0],
            [0.0, 1.0],
            [0.9, 0.1],
            [0.8, 0.3],
            [0.1, 0.9],
            [0.3, 0.8],
            [-1.0, 0.0],
        ];
        let neg = nearest_negatives(&e, &[0, 1], 2).unwrap();
        assert_eq!(neg, vec![2, 3, 4, 5]);
        // Both positives want row 2 first: the second one must move on.
        let e2 = array![
            [1.0, 0.0],
            [1.0, 0.01],
            [1.0, 0.02],
            [0.5, 0.5],
            [0.0, 1.0],
            [-1.0, 0.0]
        ];
        let neg2 = nearest_negatives(&e2, &[0, 1], 2).unwrap();
        assert_eq!(neg2, vec![2, 3, 4, 5]);
    }

    #[test]
    fn negatives_are_never_positives_nor_repeated() {
        let mut rng = SeededRng::new(99);
        for trial in 0..200 {
            let n = 8 + rng.below(40);
            let dim = 1 + rng.below(16);
            let values: Vec<f32> = (0..n * dim)
                .map(|_| rng.below(2001) as f32 / 1000.0 - 1.0 + 1e-3)
                .collect();
            let e = Array2::from_shape_vec((n, dim), values).unwrap();
            let k = 1 + rng.below(3);
            let max_pos = (n / (k + 1)).clamp(1, 4);
            let count = 1 + rng.below(max_pos);
            let positives = rng.sample_indices(n, count);
            let neg = nearest_negatives(&e, &positives, k).unwrap();
            assert_eq!(neg.len(), positives.len() * k, "trial {trial}");
            for (i, x) in neg.iter().enumerate() {
                assert!(
                    !positives.contains(x),
                    "trial {trial}: negative {x} is a positive"
                );
                assert!(!neg[..i].contains(x), "trial {trial}: negative {x} repeats");
            }
        }
    }

    #[test]
    fn errors_name_the_problem() {
        let e = array![[1.0, 0.0], [0.0, 0.0], [0.0, 1.0]];
        let err = nearest_negatives(&e, &[1], 1).unwrap_err().to_string();
        assert!(err.contains("zero embedding"), "{err}");
        let err = nearest_negatives(&e, &[0, 2], 2).unwrap_err().to_string();
        assert!(
            err.contains("only 0 candidates") || err.contains("only 1 candidates"),
            "{err}"
        );
        let err = nearest_negatives(&e, &[5], 1).unwrap_err().to_string();
        assert!(err.contains("bank has 3"), "{err}");
    }

    fn bank(n: usize) -> ConceptBank {
        let entries = (0..n)
            .map(|i| BankEntry {
                concept: Concept {
                    id: format!("c{i}"),
                    image: ImageRef::path(format!("c{i}.png")),
                    kind: ConceptKind::Pet,
                    name: format!("N{i}"),
                },
                dialogue: format!("dialogue {i}"),
                qas: vec![],
            })
            .collect();
        let embeddings = Array2::from_shape_fn((n, 3), |(i, j)| ((i * 7 + j * 3) % 5) as f32 + 0.5);
        ConceptBank {
            entries,
            embeddings,
        }
    }

    #[test]
    fn same_seed_same_sample_and_gold_points_at_positives() {
        let b = bank(12);
        let cfg = AssemblyConfig {
            negatives_per_positive: 2,
            seed: 42,
        };
        let q = ImageRef::path("q.png");
        let s1 = assemble(&b, "s", &[3, 7], q.clone(), TaskKind::Caption, cfg).unwrap();
        let s2 = assemble(&b, "s", &[3, 7], q.clone(), TaskKind::Caption, cfg).unwrap();
        assert_eq!(s1, s2);
        assert_eq!(s1.context.len(), 6);
        assert_eq!(s1.context[s1.gold[0]].dialogue, "dialogue 3");
        assert_eq!(s1.context[s1.gold[1]].dialogue, "dialogue 7");
        let other = assemble(
            &b,
            "s",
            &[3, 7],
            q,
            TaskKind::Caption,
            AssemblyConfig { seed: 43, ..cfg },
        )
        .unwrap();
        // Same members, (almost surely) another order.
        let mut a: Vec<_> = s1.context.iter().map(|c| c.dialogue.clone()).collect();
        let mut o: Vec<_> = other.context.iter().map(|c| c.dialogue.clone()).collect();
        assert_ne!(a, o);
        a.sort();
        o.sort();
        assert_eq!(a, o);
    }
}
