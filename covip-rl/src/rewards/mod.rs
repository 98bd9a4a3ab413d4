//! The CoViP rewards (SPEC §4), all pure functions of text and sets.
//!
//! | task (`TaskKind`) | reward | function |
//! |---|---|---|
//! | `multi_vision` | recognition F1 r_vis | [`recognition_reward`] |
//! | `vision` | object consistency | [`consistency_reward`] |
//! | `caption` | δ(y) then r_ret | [`caption_reward`] (judge answers given), [`caption_reward_with`] (answers asked for) |
//!
//! Nothing here knows about judges: a caller that asks one (the `judge` module) passes its
//! answers in.
pub mod boxed;
pub mod consistency;
pub mod degeneration;
pub mod pyliteral;
pub mod recognition;
pub mod retrieval;

use covip_data::Qa;

pub use boxed::{JudgeAnswer, answer_contains, boxed_content};
pub use consistency::consistency_reward;
pub use degeneration::{
    DegenerationConfig, DegenerationFilter, DegenerationReport, TokenCountError, TokenCounter,
};
pub use recognition::recognition_reward;
pub use retrieval::{AnswerCountMismatch, RetrievalConfig, RetrievalScore, retrieval_reward};

/// The reward of a degenerate caption.
pub const DEGENERATE_REWARD: f64 = -1.0;

/// The caption reward and what it came from.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct CaptionReward {
    /// −1 when degenerate, else r_ret.
    pub reward: f64,
    /// δ(y).
    pub degenerate: bool,
    /// The retrieval score; `None` when degenerate (no judge answers are read).
    pub retrieval: Option<RetrievalScore>,
}

impl CaptionReward {
    /// The reward of a caption that δ(y) rejects.
    pub const DEGENERATE: CaptionReward = CaptionReward {
        reward: DEGENERATE_REWARD,
        degenerate: true,
        retrieval: None,
    };

    /// The reward of a non-degenerate caption: r_ret.
    pub fn retrieved(score: RetrievalScore) -> CaptionReward {
        CaptionReward {
            reward: score.reward,
            degenerate: false,
            retrieval: Some(score),
        }
    }
}

/// A judge's raw answers about one caption, in QA order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CaptionAnswers<S> {
    /// Answers to the positive QAs, flattened in order.
    pub pos: Vec<S>,
    /// Answers to the negative QAs.
    pub neg: Vec<S>,
}

/// Why a caption reward could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    #[error(transparent)]
    TokenCount(#[from] TokenCountError),
    #[error(transparent)]
    AnswerCount(#[from] AnswerCountMismatch),
    /// A non-degenerate caption came without judge answers.
    #[error("caption is not degenerate but no judge answers were given")]
    MissingJudgeAnswers,
}

/// The caption reward from judge answers that are already known: −1 when `filter` finds the
/// caption degenerate (the answers are then not read and may be `None`), else r_ret.
///
/// ```
/// use covip_data::{Letter, Qa};
/// use covip_rl::{caption_reward, DegenerationFilter, RetrievalConfig};
/// let filter = DegenerationFilter::default();
/// let pos = [Qa::new("p", "Who?", ["Mina", "Jun", "Ara"], "cannot tell", Letter::A)];
/// let looping = "Mina smiles. ".repeat(8);
/// let r = caption_reward(&filter, &looping, &pos, None::<&[&str]>, &[] as &[Qa], None, &RetrievalConfig::default()).unwrap();
/// assert_eq!((r.reward, r.degenerate), (-1.0, true));
/// let r = caption_reward(&filter, "Mina smiles by the window.", &pos, Some(&["\\boxed{A}"][..]),
///                        &[] as &[Qa], Some(&[][..]), &RetrievalConfig::default()).unwrap();
/// assert!((r.reward - 1.0 / 3.0).abs() < 1e-12);
/// ```
pub fn caption_reward<S: AsRef<str>>(
    filter: &DegenerationFilter,
    caption: &str,
    pos: &[Qa],
    judge_pos: Option<&[S]>,
    neg: &[Qa],
    judge_neg: Option<&[S]>,
    config: &RetrievalConfig,
) -> Result<CaptionReward, RewardError> {
    let given = || match (judge_pos, judge_neg) {
        (Some(pos), Some(neg)) => Ok(CaptionAnswers {
            pos: pos.iter().collect(),
            neg: neg.iter().collect(),
        }),
        _ => Err(RewardError::MissingJudgeAnswers),
    };
    caption_reward_with(filter, caption, pos, neg, config, given).map(|(reward, _)| reward)
}

/// The caption reward, calling `answers` for the judge's answers only when `filter` finds the
/// caption not degenerate; returns the answers it used with the reward. What a caller that
/// asks a judge builds on (`judge::score_caption` with the `judges` feature): its
/// error type only has to take a [`RewardError`].
///
/// ```
/// use covip_data::{Letter, Qa};
/// use covip_rl::rewards::{caption_reward_with, CaptionAnswers, RewardError};
/// use covip_rl::{DegenerationFilter, RetrievalConfig};
/// let pos = [Qa::new("p", "Who?", ["Mina", "Jun", "Ara"], "cannot tell", Letter::B)];
/// let ask = || Ok::<_, RewardError>(CaptionAnswers { pos: vec!["\\boxed{B}"], neg: vec![] });
/// let (r, used) = caption_reward_with(&DegenerationFilter::default(), "Jun waves.", &pos, &[],
///                                     &RetrievalConfig::default(), ask).unwrap();
/// assert_eq!((r.degenerate, used.unwrap().pos), (false, vec!["\\boxed{B}"]));
/// ```
pub fn caption_reward_with<S, E>(
    filter: &DegenerationFilter,
    caption: &str,
    pos: &[Qa],
    neg: &[Qa],
    config: &RetrievalConfig,
    answers: impl FnOnce() -> Result<CaptionAnswers<S>, E>,
) -> Result<(CaptionReward, Option<CaptionAnswers<S>>), E>
where
    S: AsRef<str>,
    E: From<RewardError>,
{
    if filter.is_degenerate(caption).map_err(RewardError::from)? {
        return Ok((CaptionReward::DEGENERATE, None));
    }
    let answers = answers()?;
    let score = retrieval_reward(pos, &answers.pos, neg, &answers.neg, config)
        .map_err(RewardError::from)?;
    Ok((CaptionReward::retrieved(score), Some(answers)))
}
