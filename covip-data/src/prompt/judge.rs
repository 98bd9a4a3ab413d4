//! The judge prompt (text only): a description and one multiple-choice question.
use crate::prompt::messages::{Message, Role};
use crate::prompt::templates::{Templates, fill};
use crate::qa::{Letter, Qa};

/// The question block: the question and options A–D (a missing option renders empty).
pub fn judge_question(qa: &Qa, t: &Templates) -> String {
    let opt = |l: Letter| qa.option(l).unwrap_or("");
    fill(
        &t.judge_question,
        &[
            ("question", &qa.question),
            ("A", opt(Letter::A)),
            ("B", opt(Letter::B)),
            ("C", opt(Letter::C)),
            ("D", opt(Letter::D)),
        ],
    )
}

/// The judge's user text for `description` and `qa`.
pub fn judge_text(description: &str, qa: &Qa, t: &Templates) -> String {
    fill(
        &t.judge,
        &[
            ("description", description),
            ("question", &judge_question(qa, t)),
        ],
    )
}

/// The judge conversation: one user message of text.
pub fn judge_prompt(description: &str, qa: &Qa, t: &Templates) -> Vec<Message> {
    vec![Message::text(Role::User, judge_text(description, qa, t))]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn contains_description_and_options() {
        let qa = Qa::new(
            "Q1",
            "Where is Mina?",
            ["Park", "Beach", "Home"],
            "Cannot tell",
            Letter::A,
        );
        let text = judge_text("Mina sits in the park.", &qa, &Templates::default());
        assert!(text.contains("[Description]\nMina sits in the park.\n"));
        assert!(
            text.contains("Question: Where is Mina?\nA. Park\nB. Beach\nC. Home\nD. Cannot tell\n")
        );
        assert!(text.contains("\\boxed{X}"));
    }
}
