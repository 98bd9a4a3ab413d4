//! CoViP rewards, the degeneration filter, judges and policy losses (GSPO, GRPO, Dr.GRPO).
//!
//! - [`rewards`]: pure reward functions of text and sets (SPEC §4): recognition F1
//!   ([`recognition_reward`]), object consistency ([`consistency_reward`]), the degeneration
//!   filter ([`DegenerationFilter`]) and the retrieval reward ([`retrieval_reward`],
//!   [`caption_reward`]).
//! - [`records`]: reward records tagged by `task` (what `covip reward` reads) and their reward.
//! - `judge` (feature `judges`): the `Judge` abstraction and its OpenAI-compatible, lexical and
//!   cached implementations; `judge::score_caption` asks a judge only for non-degenerate
//!   captions.
//! - `loss` (feature `losses`): group advantages and the GSPO / GSPO-token / GRPO / Dr.GRPO
//!   losses on burn tensors (SPEC §5).
//!
//! Features, all on by default: `losses` (burn), `judges` (an HTTP client), `tokenizers`
//! (token counting with a `tokenizer.json`, `DegenerationFilter::with_tokenizer_file`), `data`
//! (covip-data's Parquet, image and assembly readers); `tls` adds HTTPS to the judge client.
//! With `default-features = false` the crate is the rewards, the degeneration filter and the
//! records alone, on serde and covip-data's schemas.
//!
//! ```
//! use covip_rl::{recognition_reward, consistency_reward, DegenerationFilter};
//! assert_eq!(recognition_reward("Answer: \\boxed{[1, 3]}", &[3, 1]), 1.0);
//! assert_eq!(recognition_reward("\\boxed{(3.0, 0b1)  # as Python reads it}", &[3, 1]), 1.0);
//! assert_eq!(consistency_reward("Yes, it is the same cup.", "yes"), 1.0);
//! let report = DegenerationFilter::default().report("A red kite over the river.").unwrap();
//! assert!(!report.degenerate);
//! ```
#[cfg(feature = "judges")]
pub mod judge;
#[cfg(feature = "losses")]
pub mod loss;
#[cfg(feature = "judges")]
pub mod openai;
pub mod records;
pub mod rewards;
#[cfg(feature = "trainer")]
pub mod trainer;

#[cfg(feature = "losses")]
pub use loss::{
    AdvantageScale, Advantages, LossError, LossStats, PolicyLoss, PolicyLossConfig,
    PolicyLossInput, PolicyLossKind, group_advantages, policy_loss,
};
pub use records::{RecordError, RecordReward, RewardRecord, RewardSettings};
pub use rewards::{
    CaptionAnswers, CaptionReward, DegenerationConfig, DegenerationFilter, DegenerationReport,
    RetrievalConfig, RetrievalScore, RewardError, TokenCountError, TokenCounter, caption_reward,
    caption_reward_with, consistency_reward, recognition_reward, retrieval_reward,
};
