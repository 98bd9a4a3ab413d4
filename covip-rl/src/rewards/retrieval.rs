//! Retrieval reward r_ret for task `caption` (SPEC §4.3), from the judge's raw answers.
use covip_data::{Letter, Polarity, Qa};

use super::boxed::answer_contains;

/// Weights of r_ret = σ+/`pos_divisor` − α·σ−/N−.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct RetrievalConfig {
    /// α, the weight of the negative term (1).
    pub alpha: f64,
    /// The divisor of σ+ (3: QAs per concept, so a fully answered concept is worth 1).
    pub pos_divisor: f64,
}

impl Default for RetrievalConfig {
    fn default() -> Self {
        RetrievalConfig {
            alpha: 1.0,
            pos_divisor: 3.0,
        }
    }
}

/// σ+, σ−, the counts they come from, and r_ret.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct RetrievalScore {
    /// Positive QAs whose answer contains the correct letter.
    pub sigma_pos: usize,
    /// Number of positive QAs.
    pub n_pos: usize,
    /// Negative QAs whose answer does not contain `D`.
    pub sigma_neg: usize,
    /// N−, the number of negative QAs.
    pub n_neg: usize,
    /// r_ret.
    pub reward: f64,
}

/// The judge answers do not line up with the QAs; the message names the record field
/// (`judge_pos` or `judge_neg`) that holds the answers.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{}: {answers} answers for {qas} {} QAs",
    answers_field(*polarity),
    polarity_word(*polarity)
)]
pub struct AnswerCountMismatch {
    /// Which QAs the answers were for.
    pub polarity: Polarity,
    pub answers: usize,
    pub qas: usize,
}

/// The reward record's field holding the answers to QAs of `polarity`.
fn answers_field(polarity: Polarity) -> &'static str {
    match polarity {
        Polarity::Positive => "judge_pos",
        Polarity::Negative => "judge_neg",
    }
}

fn polarity_word(polarity: Polarity) -> &'static str {
    match polarity {
        Polarity::Positive => "positive",
        Polarity::Negative => "negative",
    }
}

/// r_ret from the judge's raw outputs. `pos` are the positive QAs flattened in order (all
/// ground-truth concepts, 3 each) with `judge_pos[i]` answering `pos[i]`; `neg` and `judge_neg`
/// likewise. The negative term is 0 when there are no negative QAs.
///
/// ```
/// use covip_data::{Letter, Qa};
/// use covip_rl::{retrieval_reward, RetrievalConfig};
/// let qa = |c| Qa::new("q", "Where?", ["Seoul", "Busan", "Jeju"], "cannot tell", c);
/// let pos = [qa(Letter::A), qa(Letter::B), qa(Letter::C)];
/// let neg = [qa(Letter::A), qa(Letter::B)];
/// let judge_pos = ["\\boxed{A}", "\\boxed{C}", "\\boxed{C}"];
/// let judge_neg = ["\\boxed{D}", "no box, so D"];
/// let s = retrieval_reward(&pos, &judge_pos, &neg, &judge_neg, &RetrievalConfig::default()).unwrap();
/// assert_eq!((s.sigma_pos, s.sigma_neg), (2, 0));
/// assert!((s.reward - 2.0 / 3.0).abs() < 1e-12);
/// ```
pub fn retrieval_reward<P, N, S, T>(
    pos: &[P],
    judge_pos: &[S],
    neg: &[N],
    judge_neg: &[T],
    config: &RetrievalConfig,
) -> Result<RetrievalScore, AnswerCountMismatch>
where
    P: std::borrow::Borrow<Qa>,
    N: std::borrow::Borrow<Qa>,
    S: AsRef<str>,
    T: AsRef<str>,
{
    if pos.len() != judge_pos.len() {
        return Err(AnswerCountMismatch {
            polarity: Polarity::Positive,
            answers: judge_pos.len(),
            qas: pos.len(),
        });
    }
    if neg.len() != judge_neg.len() {
        return Err(AnswerCountMismatch {
            polarity: Polarity::Negative,
            answers: judge_neg.len(),
            qas: neg.len(),
        });
    }
    let sigma_pos = pos
        .iter()
        .zip(judge_pos)
        .filter(|(qa, a)| answer_contains(a.as_ref(), qa.borrow().correct_answer))
        .count();
    let sigma_neg = judge_neg
        .iter()
        .filter(|a| !answer_contains(a.as_ref(), Letter::D))
        .count();
    Ok(score(sigma_pos, pos.len(), sigma_neg, neg.len(), config))
}

/// r_ret from the counts alone.
///
/// ```
/// use covip_rl::rewards::retrieval::score;
/// use covip_rl::RetrievalConfig;
/// let s = score(6, 6, 3, 12, &RetrievalConfig::default());
/// assert_eq!(s.reward, 2.0 - 0.25);
/// ```
pub fn score(
    sigma_pos: usize,
    n_pos: usize,
    sigma_neg: usize,
    n_neg: usize,
    config: &RetrievalConfig,
) -> RetrievalScore {
    let neg_term = if n_neg == 0 {
        0.0
    } else {
        config.alpha * sigma_neg as f64 / n_neg as f64
    };
    RetrievalScore {
        sigma_pos,
        n_pos,
        sigma_neg,
        n_neg,
        reward: sigma_pos as f64 / config.pos_divisor - neg_term,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn qa(c: Letter) -> Qa {
        Qa::new("q", "q?", ["a", "b", "c"], "d", c)
    }

    #[test]
    fn hand_worked() {
        // Two concepts (6 positive QAs), 4 negatives.
        let pos: Vec<Qa> = [
            Letter::A,
            Letter::B,
            Letter::C,
            Letter::A,
            Letter::A,
            Letter::B,
        ]
        .into_iter()
        .map(qa)
        .collect();
        let jp = [
            "\\boxed{A}",         // yes
            "\\boxed{A or B}",    // yes (contains B)
            "Answer: C",          // no box -> D: no
            "\\boxed{\\text{A}}", // yes
            "\\boxed{a}",         // lower case: no
            "\\boxed{D}",         // no
        ];
        let neg: Vec<Qa> = (0..4).map(|_| qa(Letter::A)).collect();
        let jn = ["\\boxed{D}", "\\boxed{A}", "nothing", "\\boxed{B, D}"];
        let s = retrieval_reward(&pos, &jp, &neg, &jn, &RetrievalConfig::default()).unwrap();
        assert_eq!((s.sigma_pos, s.n_pos, s.sigma_neg, s.n_neg), (3, 6, 1, 4));
        assert!((s.reward - (1.0 - 0.25)).abs() < 1e-12);
        let half = RetrievalConfig {
            alpha: 0.5,
            ..Default::default()
        };
        let s = retrieval_reward(&pos, &jp, &neg, &jn, &half).unwrap();
        assert!((s.reward - (1.0 - 0.125)).abs() < 1e-12);
    }

    #[test]
    fn no_negatives_and_mismatch() {
        let pos = [qa(Letter::B)];
        let s = retrieval_reward(
            &pos,
            &["\\boxed{B}"],
            &[] as &[Qa],
            &[] as &[&str],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(s.reward, 1.0 / 3.0);
        let e = retrieval_reward(
            &pos,
            &[] as &[&str],
            &[] as &[Qa],
            &[] as &[&str],
            &Default::default(),
        )
        .unwrap_err();
        assert_eq!(e.polarity, Polarity::Positive);
        assert_eq!(e.to_string(), "judge_pos: 0 answers for 1 positive QAs");
    }

    #[test]
    fn range_is_minus_one_to_concepts() {
        let pos: Vec<Qa> = (0..9).map(|_| qa(Letter::C)).collect();
        let neg: Vec<Qa> = (0..5).map(|_| qa(Letter::C)).collect();
        let best = retrieval_reward(
            &pos,
            &["\\boxed{C}"; 9],
            &neg,
            &["\\boxed{D}"; 5],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(best.reward, 3.0);
        let worst = retrieval_reward(
            &pos,
            &["\\boxed{A}"; 9],
            &neg,
            &["\\boxed{A}"; 5],
            &Default::default(),
        )
        .unwrap();
        assert_eq!(worst.reward, -1.0);
    }
}
