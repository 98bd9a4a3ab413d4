//! Judges: answer multiple-choice questions about an image from a description alone.
//!
//! A [`Judge`] turns a batch of (description, QA) pairs into raw text answers. It never parses
//! them: the rewards do ([`crate::rewards::boxed`]). Implementations:
//! - [`OpenAiJudge`]: any OpenAI-compatible chat-completions endpoint (vLLM, SGLang, …),
//! - [`LexicalJudge`]: a deterministic offline judge from word overlap, for tests and quick runs,
//! - [`CachedJudge`]: wraps another judge and remembers answers on disk by (judge identity,
//!   prompt), so a re-run asks nothing twice.
//!
//! The prompt is a [`JudgePrompt`] template, replaceable from a file.
pub mod cache;
pub mod lexical;
pub mod openai;
mod spec;

use std::path::{Path, PathBuf};

use covip_data::prompt::{self, Templates};
use covip_data::{Letter, Qa};

use crate::rewards::{
    CaptionAnswers, CaptionReward, DegenerationFilter, RetrievalConfig, RewardError,
    caption_reward_with,
};

pub use cache::CachedJudge;
pub use lexical::LexicalJudge;
pub use openai::{OpenAiJudge, OpenAiJudgeConfig};
pub use spec::JudgeSpec;

/// One question for the judge: answer `qa` from `description` alone.
#[derive(Clone, Copy, Debug)]
pub struct JudgeRequest<'a> {
    pub description: &'a str,
    pub qa: &'a Qa,
}

/// Why a judge could not answer. A judge never turns a failure into an answer.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// The prompt could not be built (a QA misses an option, a template lacks a placeholder).
    #[error("prompt: {0}")]
    Prompt(String),
    /// The request failed after every attempt.
    #[error("request to {url} failed after {attempts} attempt(s): {message}")]
    Request {
        url: String,
        attempts: u32,
        message: String,
    },
    /// The server answered, but not with a chat completion.
    #[error("bad response from {url}: {message}")]
    Response { url: String, message: String },
    /// The answer cache could not be read or written.
    #[error("cache {path}: {message}")]
    Cache { path: PathBuf, message: String },
    /// A [`JudgeSpec`] names no judge this library can build.
    #[error("{0}")]
    Spec(String),
}

/// Why [`score_caption`] could not score a caption: the reward or the judge failed.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    #[error(transparent)]
    Reward(#[from] RewardError),
    #[error("judge: {0}")]
    Judge(#[from] JudgeError),
}

/// Answers batches of questions with raw text.
pub trait Judge: Send + Sync {
    /// Who answers: model and sampling settings. Part of the cache key.
    fn identity(&self) -> String;

    /// The exact prompt this judge would use for `request`. Part of the cache key.
    fn prompt(&self, request: &JudgeRequest<'_>) -> Result<String, JudgeError>;

    /// Raw answers, one per request and in order; each one may fail on its own.
    fn answer_batch(&self, requests: &[JudgeRequest<'_>]) -> Vec<Result<String, JudgeError>>;
}

impl<J: Judge + ?Sized> Judge for Box<J> {
    fn identity(&self) -> String {
        (**self).identity()
    }
    fn prompt(&self, request: &JudgeRequest<'_>) -> Result<String, JudgeError> {
        (**self).prompt(request)
    }
    fn answer_batch(&self, requests: &[JudgeRequest<'_>]) -> Vec<Result<String, JudgeError>> {
        (**self).answer_batch(requests)
    }
}

/// The judge's text prompt (SPEC §3): covip-data's `judge` and `judge_question` templates, so
/// one wording serves the rewards, the evaluation and the prompt renderer. The `judge`
/// template has the placeholders `{{description}}` and `{{question}}` (the question followed by
/// its options, one per line as `A. …` to `D. …`); replace it to drop in the released wording.
///
/// ```
/// use covip_data::{Letter, Qa};
/// use covip_rl::judge::JudgePrompt;
/// let t = JudgePrompt::from_template("D: {{description}}\nQ: {{question}}").unwrap();
/// let qa = Qa::new("q1", "Where was it?", ["Seoul", "Jeju", "Busan"], "cannot tell", Letter::A);
/// let p = t.render("A dog in {{question}}.", &qa).unwrap();
/// assert_eq!(p, "D: A dog in {{question}}.\nQ: Question: Where was it?\nA. Seoul\nB. Jeju\nC. Busan\nD. cannot tell\n");
/// assert!(JudgePrompt::from_template("no placeholders").is_err());
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct JudgePrompt {
    templates: Templates,
}

impl JudgePrompt {
    /// A judge template; it must contain `{{description}}` and `{{question}}`.
    pub fn from_template(template: impl Into<String>) -> Result<Self, JudgeError> {
        let mut templates = Templates::default();
        templates
            .set("judge", template.into())
            .map_err(|e| JudgeError::Prompt(e.to_string()))?;
        Ok(JudgePrompt { templates })
    }

    /// Reads a template from a UTF-8 file.
    pub fn from_file(path: &Path) -> Result<Self, JudgeError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            JudgeError::Prompt(format!("cannot read template {}: {e}", path.display()))
        })?;
        Self::from_template(text)
            .map_err(|e| JudgeError::Prompt(format!("{}: {e}", path.display())))
    }

    /// Uses a full set of covip-data templates (their `judge` and `judge_question`).
    pub fn from_templates(templates: Templates) -> Self {
        JudgePrompt { templates }
    }

    pub fn template(&self) -> &str {
        &self.templates.judge
    }

    /// A QA the judge can be asked: all four options present.
    fn check_options(qa: &Qa) -> Result<(), JudgeError> {
        match Letter::ALL.into_iter().find(|l| qa.option(*l).is_none()) {
            Some(l) => Err(JudgeError::Prompt(format!(
                "QA {:?} has no option {l}",
                qa.id
            ))),
            None => Ok(()),
        }
    }

    /// The question block with the default wording: `Question: …` then `A. …` to `D. …`.
    pub fn question_block(qa: &Qa) -> Result<String, JudgeError> {
        Self::check_options(qa)?;
        Ok(prompt::judge_question(qa, &Templates::default()))
    }

    /// The judge's prompt for `description` and `qa` (placeholders filled in one pass).
    pub fn render(&self, description: &str, qa: &Qa) -> Result<String, JudgeError> {
        Self::check_options(qa)?;
        Ok(prompt::judge_text(description, qa, &self.templates))
    }
}

/// A caption's reward together with every judge answer it used.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgedCaption {
    pub reward: CaptionReward,
    /// Raw judge answers to the positive QAs, in order (empty when degenerate).
    pub judge_pos: Vec<String>,
    /// Raw judge answers to the negative QAs, in order (empty when degenerate).
    pub judge_neg: Vec<String>,
}

/// The caption reward, asking `judge`: −1 for a degenerate caption without any judge call,
/// otherwise r_ret from the judge's answers to every positive and negative QA (one batch).
/// Any failed judge call is an error.
///
/// ```
/// use covip_data::{Letter, Qa};
/// use covip_rl::judge::{score_caption, LexicalJudge};
/// use covip_rl::{DegenerationFilter, RetrievalConfig};
/// let pos = [Qa::new("p", "What is the dog called?", ["Pino", "Coco", "Max"], "cannot tell", Letter::A)];
/// let neg = [Qa::new("n", "Where was the cat?", ["Busan", "Seoul", "Jeju"], "cannot tell", Letter::B)];
/// let out = score_caption(&DegenerationFilter::default(), &LexicalJudge::default(),
///     "Pino the dog naps on a red sofa.", &pos, &neg, &RetrievalConfig::default()).unwrap();
/// assert_eq!(out.reward.retrieval.unwrap().sigma_pos, 1);
/// assert_eq!(out.reward.retrieval.unwrap().sigma_neg, 0);
/// ```
pub fn score_caption<J: Judge + ?Sized>(
    filter: &DegenerationFilter,
    judge: &J,
    caption: &str,
    pos: &[Qa],
    neg: &[Qa],
    config: &RetrievalConfig,
) -> Result<JudgedCaption, ScoreError> {
    let ask = || ask_about_caption(judge, caption, pos, neg).map_err(ScoreError::Judge);
    let (reward, answers) = caption_reward_with(filter, caption, pos, neg, config, ask)?;
    let answers = answers.unwrap_or_default();
    Ok(JudgedCaption {
        reward,
        judge_pos: answers.pos,
        judge_neg: answers.neg,
    })
}

/// The judge's answers to every positive then negative QA about `caption`, in one batch.
fn ask_about_caption<J: Judge + ?Sized>(
    judge: &J,
    caption: &str,
    pos: &[Qa],
    neg: &[Qa],
) -> Result<CaptionAnswers<String>, JudgeError> {
    let requests: Vec<JudgeRequest<'_>> = pos
        .iter()
        .chain(neg)
        .map(|qa| JudgeRequest {
            description: caption,
            qa,
        })
        .collect();
    let mut answers = judge
        .answer_batch(&requests)
        .into_iter()
        .collect::<Result<Vec<String>, JudgeError>>()?;
    if answers.len() != requests.len() {
        return Err(JudgeError::Response {
            url: judge.identity(),
            message: format!("{} answers for {} questions", answers.len(), requests.len()),
        });
    }
    let neg = answers.split_off(pos.len());
    Ok(CaptionAnswers { pos: answers, neg })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_template_renders_both_parts() {
        let qa = Qa::new("q", "Who?", ["Ann", "Bo", "Cy"], "cannot tell", Letter::C);
        let p = JudgePrompt::default().render("Cy waves.", &qa).unwrap();
        assert!(p.contains("[Description]\nCy waves.\n"));
        assert!(p.ends_with("Question: Who?\nA. Ann\nB. Bo\nC. Cy\nD. cannot tell\n"));
        assert!(p.contains("Answer: \\boxed{X}"));
    }

    #[test]
    fn missing_option_is_an_error_naming_the_qa() {
        let mut qa = Qa::new("q7", "Who?", ["Ann", "Bo", "Cy"], "d", Letter::C);
        qa.options.remove(&Letter::B);
        let e = JudgePrompt::default().render("x", &qa).unwrap_err();
        assert_eq!(e.to_string(), "prompt: QA \"q7\" has no option B");
    }

    #[test]
    fn template_from_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.txt");
        std::fs::write(&p, "{{question}}|{{description}}").unwrap();
        let t = JudgePrompt::from_file(&p).unwrap();
        let qa = Qa::new("q", "Q", ["a", "b", "c"], "d", Letter::A);
        assert_eq!(
            t.render("desc", &qa).unwrap(),
            "Question: Q\nA. a\nB. b\nC. c\nD. d\n|desc"
        );
        std::fs::write(&p, "{{description}} only").unwrap();
        let e = JudgePrompt::from_file(&p).unwrap_err().to_string();
        assert!(e.contains("t.txt") && e.contains("{{question}}"), "{e}");
    }
}
