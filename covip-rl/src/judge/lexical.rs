//! A deterministic offline judge: picks the option whose words the description contains.
use std::collections::HashSet;

use covip_data::Letter;

use super::{Judge, JudgeError, JudgePrompt, JudgeRequest};

/// Words that carry no evidence on their own.
const STOP_WORDS: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "at", "to", "for", "and", "or", "with", "by", "from", "is",
    "are", "was", "were", "be", "it", "its", "this", "that", "as", "into", "near", "s",
];

/// Answers from word overlap between the description and each option A–C.
///
/// An option's support is the share of its content words (lower-cased alphanumeric runs, minus a
/// few stop words) that occur in the description. The best-supported option wins when its
/// support is at least `min_support`; ties go to the option with more matched words, and a
/// remaining tie, or no option reaching `min_support`, answers `D`. The raw answer states the
/// supports and ends with `Answer: \boxed{X}`, like a model judge's.
///
/// ```
/// use covip_data::{Letter, Qa};
/// use covip_rl::judge::{Judge, JudgeRequest, LexicalJudge};
/// use covip_rl::rewards::answer_contains;
/// let judge = LexicalJudge::default();
/// let qa = Qa::new("q", "Where?", ["Busan station", "Jeju beach", "Seoul"], "cannot tell", Letter::A);
/// let a = judge.answer_batch(&[JudgeRequest { description: "Pino at Busan Station again.", qa: &qa }]);
/// assert!(answer_contains(a[0].as_ref().unwrap(), Letter::A));
/// let a = judge.answer_batch(&[JudgeRequest { description: "A quiet room.", qa: &qa }]);
/// assert!(answer_contains(a[0].as_ref().unwrap(), Letter::D));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LexicalJudge {
    /// Smallest support that counts as evidence (0.5).
    pub min_support: f64,
    prompt: JudgePrompt,
}

impl Default for LexicalJudge {
    fn default() -> Self {
        LexicalJudge {
            min_support: 0.5,
            prompt: JudgePrompt::default(),
        }
    }
}

fn content_words(text: &str) -> Vec<String> {
    text.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty() && !STOP_WORDS.contains(w))
        .map(str::to_string)
        .collect()
}

impl LexicalJudge {
    /// A lexical judge with a different support threshold.
    pub fn with_min_support(min_support: f64) -> Self {
        LexicalJudge {
            min_support,
            ..Default::default()
        }
    }

    /// (letter, matched words, option words) for A–C, and the chosen letter.
    fn decide(
        &self,
        description: &str,
        req: &JudgeRequest<'_>,
    ) -> (Vec<(Letter, usize, usize)>, Letter) {
        let desc: HashSet<String> = content_words(description).into_iter().collect();
        let mut rows = Vec::with_capacity(3);
        for l in [Letter::A, Letter::B, Letter::C] {
            let words: Vec<String> = {
                let mut w = content_words(req.qa.option(l).unwrap_or(""));
                w.sort();
                w.dedup();
                w
            };
            let hit = words.iter().filter(|w| desc.contains(*w)).count();
            rows.push((l, hit, words.len()));
        }
        let support = |&(_, hit, n): &(Letter, usize, usize)| {
            if n == 0 { 0.0 } else { hit as f64 / n as f64 }
        };
        let mut best: Option<(f64, usize, Letter)> = None;
        let mut tied = false;
        for row in &rows {
            let s = support(row);
            if s < self.min_support || row.1 == 0 {
                continue;
            }
            match best {
                None => best = Some((s, row.1, row.0)),
                Some((bs, bh, _)) => {
                    if s > bs || (s == bs && row.1 > bh) {
                        best = Some((s, row.1, row.0));
                        tied = false;
                    } else if s == bs && row.1 == bh {
                        tied = true;
                    }
                }
            }
        }
        let choice = match best {
            Some((_, _, l)) if !tied => l,
            _ => Letter::D,
        };
        (rows, choice)
    }
}

impl Judge for LexicalJudge {
    fn identity(&self) -> String {
        format!("lexical-v1(min_support={})", self.min_support)
    }

    fn prompt(&self, request: &JudgeRequest<'_>) -> Result<String, JudgeError> {
        self.prompt.render(request.description, request.qa)
    }

    fn answer_batch(&self, requests: &[JudgeRequest<'_>]) -> Vec<Result<String, JudgeError>> {
        requests
            .iter()
            .map(|r| {
                // Same validation as a model judge: a QA missing an option is an error.
                JudgePrompt::question_block(r.qa)?;
                let (rows, choice) = self.decide(r.description, r);
                let parts: Vec<String> = rows
                    .iter()
                    .map(|(l, hit, n)| format!("{l} {hit}/{n}"))
                    .collect();
                Ok(format!(
                    "Option words found in the description: {}.\nAnswer: \\boxed{{{choice}}}",
                    parts.join(", ")
                ))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rewards::boxed_content;
    use covip_data::Qa;

    fn ask(desc: &str, abc: [&str; 3]) -> String {
        let qa = Qa::new("q", "?", abc, "cannot tell", Letter::A);
        let j = LexicalJudge::default();
        let out = j.answer_batch(&[JudgeRequest {
            description: desc,
            qa: &qa,
        }]);
        boxed_content(out[0].as_ref().unwrap()).unwrap().to_string()
    }

    #[test]
    fn picks_supported_option_or_d() {
        assert_eq!(
            ask("We met in Jeju in 2019.", ["Seoul", "Jeju", "Busan"]),
            "B"
        );
        assert_eq!(
            ask("We met in Jeju in 2019.", ["2018", "2020", "2019"]),
            "C"
        );
        assert_eq!(ask("Nothing relevant.", ["Seoul", "Jeju", "Busan"]), "D");
        // Tie on support and hits: ambiguous -> D.
        assert_eq!(ask("Seoul and Busan.", ["Seoul", "Jeju", "Busan"]), "D");
        // Same support, more matched words wins.
        assert_eq!(
            ask("At Busan station.", ["Busan", "Busan station", "Jeju"]),
            "B"
        );
        // Stop words alone are no evidence.
        assert_eq!(ask("the the the", ["the", "a", "an"]), "D");
    }

    #[test]
    fn deterministic_and_identity_stable() {
        let a = ask("Mina in Seoul.", ["Mina", "Jun", "Ara"]);
        let b = ask("Mina in Seoul.", ["Mina", "Jun", "Ara"]);
        assert_eq!(a, b);
        assert_eq!(
            LexicalJudge::default().identity(),
            "lexical-v1(min_support=0.5)"
        );
    }
}
