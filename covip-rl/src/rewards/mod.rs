//! The CoViP rewards (SPEC §4), all pure functions of text and sets.
//!
//! | task (`TaskKind`) | reward | function |
//! |---|---|---|
//! | `multi_vision` | recognition F1 r_vis | [`recognition_reward`] |
//! | `vision` | object consistency | [`consistency_reward`] |
//! | `caption` | δ(y) then r_ret | [`caption_reward`] (judge answers given) or [`crate::judge::score_caption`] |
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

/// Why a caption reward could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum RewardError {
    #[error(transparent)]
    TokenCount(#[from] TokenCountError),
    #[error(transparent)]
    AnswerCount(#[from] AnswerCountMismatch),
    #[error("judge: {0}")]
    Judge(#[from] crate::judge::JudgeError),
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
    if filter.is_degenerate(caption)? {
        return Ok(CaptionReward {
            reward: DEGENERATE_REWARD,
            degenerate: true,
            retrieval: None,
        });
    }
    let (Some(jp), Some(jn)) = (judge_pos, judge_neg) else {
        return Err(RewardError::MissingJudgeAnswers);
    };
    let score = retrieval_reward(pos, jp, neg, jn, config)?;
    Ok(CaptionReward {
        reward: score.reward,
        degenerate: false,
        retrieval: Some(score),
    })
}
