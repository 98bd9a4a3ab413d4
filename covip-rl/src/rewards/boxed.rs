//! `\boxed{...}` extraction and judge-answer parsing (SPEC §4.1, §4.3).
//!
//! The released training code takes the text between the *first* `\boxed{` and the *next* `}`
//! (possibly spanning lines). [`boxed_content`] does exactly that and is what the rewards use.
//! [`boxed_content_balanced`] is an alternative that follows nested braces, for callers that want
//! `\boxed{\text{A}}` to yield `\text{A}` instead of `\text{A`.
use covip_data::Letter;

const OPEN: &str = "\\boxed{";

/// The text between the first `\boxed{` and the next `}`, or `None` when there is no such box.
///
/// If the first `\boxed{` is never closed, no later one can be either, so the answer is `None`.
///
/// ```
/// use covip_rl::rewards::boxed::boxed_content;
/// assert_eq!(boxed_content("so... Answer: \\boxed{B} or \\boxed{C}"), Some("B"));
/// assert_eq!(boxed_content("\\boxed{\\text{A}}"), Some("\\text{A"));
/// assert_eq!(boxed_content("\\boxed{[0,\n 2]}"), Some("[0,\n 2]"));
/// assert_eq!(boxed_content("no box here"), None);
/// ```
pub fn boxed_content(text: &str) -> Option<&str> {
    let start = text.find(OPEN)? + OPEN.len();
    let rest = &text[start..];
    let end = rest.find('}')?;
    Some(&rest[..end])
}

/// Like [`boxed_content`] but matches nested braces: the content runs to the `}` that closes the
/// first `\boxed{`. `None` when there is no box or it is never closed.
///
/// ```
/// use covip_rl::rewards::boxed::boxed_content_balanced;
/// assert_eq!(boxed_content_balanced("\\boxed{\\text{A}} x"), Some("\\text{A}"));
/// assert_eq!(boxed_content_balanced("\\boxed{{a}"), None);
/// ```
pub fn boxed_content_balanced(text: &str) -> Option<&str> {
    let start = text.find(OPEN)? + OPEN.len();
    let rest = &text[start..];
    let mut depth = 0usize;
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return Some(&rest[..i]),
            '}' => depth -= 1,
            _ => {}
        }
    }
    None
}

/// A judge's answer to one multiple-choice question, as the reward reads it.
///
/// The answer is the content of the first box; with no box at all it is `D`. Letter `L` counts
/// when the upper-case `L` is contained anywhere in that content, so `A or D` counts for both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JudgeAnswer {
    /// The box content, or `"D"` when the raw output had no box.
    pub content: String,
    /// Whether the raw output had a box at all.
    pub boxed: bool,
}

impl JudgeAnswer {
    /// Parses a judge's raw output.
    ///
    /// ```
    /// use covip_data::Letter;
    /// use covip_rl::rewards::boxed::JudgeAnswer;
    /// let a = JudgeAnswer::parse("It says Seoul.\nAnswer: \\boxed{A or D}");
    /// assert!(a.contains(Letter::A) && a.contains(Letter::D) && !a.contains(Letter::B));
    /// let none = JudgeAnswer::parse("I cannot tell.");
    /// assert!(!none.boxed && none.contains(Letter::D));
    /// ```
    pub fn parse(raw: &str) -> JudgeAnswer {
        match boxed_content(raw) {
            Some(c) => JudgeAnswer {
                content: c.to_string(),
                boxed: true,
            },
            None => JudgeAnswer {
                content: "D".to_string(),
                boxed: false,
            },
        }
    }

    /// Whether the answer counts as `letter` (upper-case containment).
    pub fn contains(&self, letter: Letter) -> bool {
        self.content.contains(letter.as_char())
    }
}

/// Whether the judge's raw output counts as `letter`; shorthand for
/// `JudgeAnswer::parse(raw).contains(letter)` without allocating.
///
/// ```
/// use covip_data::Letter;
/// use covip_rl::rewards::boxed::answer_contains;
/// assert!(answer_contains("Answer: \\boxed{ b? no, B }", Letter::B));
/// assert!(answer_contains("no box", Letter::D));
/// assert!(!answer_contains("Answer: \\boxed{c}", Letter::C));
/// ```
pub fn answer_contains(raw: &str, letter: Letter) -> bool {
    match boxed_content(raw) {
        Some(c) => c.contains(letter.as_char()),
        None => letter == Letter::D,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_box_and_next_close_brace() {
        assert_eq!(boxed_content("\\boxed{A} \\boxed{B}"), Some("A"));
        assert_eq!(boxed_content("x \\boxed{} y"), Some(""));
        assert_eq!(boxed_content("\\boxed{A"), None);
        // An unclosed first box followed by a closed one: the next `}` after the first opening.
        assert_eq!(boxed_content("\\boxed{A \\boxed{B}"), Some("A \\boxed{B"));
        assert_eq!(boxed_content("\\boxed {A}"), None);
        assert_eq!(boxed_content("boxed{A}"), None);
    }

    #[test]
    fn unicode_and_whitespace_are_kept() {
        assert_eq!(boxed_content("答え：\\boxed{ Ｃ é\n}"), Some(" Ｃ é\n"));
        // A full-width C is not the letter C.
        assert!(!answer_contains("\\boxed{Ｃ}", Letter::C));
        assert!(answer_contains("😀\\boxed{\u{00a0}C\u{00a0}}😀", Letter::C));
    }

    #[test]
    fn nested_braces() {
        assert!(answer_contains("Answer: \\boxed{\\text{B}}", Letter::B));
        assert!(!answer_contains("Answer: \\boxed{\\text{B}}", Letter::D));
        assert_eq!(
            boxed_content_balanced("\\boxed{\\frac{1}{2}} tail"),
            Some("\\frac{1}{2}")
        );
        assert_eq!(boxed_content_balanced("no"), None);
    }

    #[test]
    fn empty_box_counts_for_nothing() {
        for l in Letter::ALL {
            assert!(!answer_contains("\\boxed{}", l));
        }
    }
}
