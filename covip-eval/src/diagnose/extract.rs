//! Scoring of one response, exactly as the released downstream scripts do it (their quirks
//! included, since published numbers were computed with them).
use covip_data::diagnostics::ITR_KEYWORD;
use covip_data::pystr;

pub use covip_data::diagnostics::token_set_f1;

/// The opening the released LSD extraction looks for: two forward slashes, not `\boxed{`.
const LSD_BOX: &str = "//boxed{";

/// The contents of every `//boxed{…}` in `text`, left to right, as Python's
/// `re.findall(r"//boxed\{([^}]*)\}", text)` finds them: each runs to the first `}` after its
/// opening (newlines included), matches do not overlap, and an opening with no `}` after it
/// is no match.
pub fn lsd_boxes(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(LSD_BOX) {
        let after = &rest[i + LSD_BOX.len()..];
        let Some(j) = after.find('}') else { break };
        out.push(&after[..j]);
        rest = &after[j + 1..];
    }
    out
}

/// The LSD answer of a response, as released (`extract_boxed_answer`): the last
/// `//boxed{…}`'s content, stripped; else, when the text holds `//`, the piece after the last
/// `//`, stripped, or the piece before it when that one is empty; else the empty string.
/// Stripping is Python's `str.strip()` ([`pystr::strip`]).
///
/// ```
/// use covip_eval::diagnose::extract_lsd_answer;
/// assert_eq!(extract_lsd_answer("I think //boxed{ the park } or //boxed{Busan Station}"), "Busan Station");
/// assert_eq!(extract_lsd_answer("\\boxed{park}"), "");               // a backslash box is not found
/// assert_eq!(extract_lsd_answer("answer // the pier"), "the pier");   // after the last //
/// assert_eq!(extract_lsd_answer("the pier //  "), "the pier");        // before it, when that is empty
/// ```
pub fn extract_lsd_answer(text: &str) -> String {
    if let Some(last) = lsd_boxes(text).last() {
        return pystr::strip(last).to_string();
    }
    if text.contains("//") {
        let pieces: Vec<&str> = text.split("//").collect();
        // `text` holds `//`, so there are at least two pieces.
        let last = pystr::strip(pieces[pieces.len() - 1]);
        if !last.is_empty() {
            return last.to_string();
        }
        return pystr::strip(pieces[pieces.len() - 2]).to_string();
    }
    String::new()
}

/// ITR: whether the whole response holds the keyword `SKS` (case-sensitive, anywhere).
pub fn itr_hit(response: &str) -> bool {
    response.contains(ITR_KEYWORD)
}

/// The released LAR verdict: Correct when the lower-cased text contains `correct` anywhere,
/// so "Incorrect" and "not correct" count as Correct too.
pub fn verdict_correct_released(verdict: &str) -> bool {
    pystr::lower(verdict).contains("correct")
}

/// The strict LAR verdict: Correct only when the first word (split on white space), with its
/// punctuation removed and lower-cased, is `correct` ("**Correct.**" counts, "Incorrect" and
/// "Not correct" do not).
pub fn verdict_correct_strict(verdict: &str) -> bool {
    let Some(first) = pystr::split_whitespace(verdict).next() else {
        return false;
    };
    let word: String = first.chars().filter(|c| c.is_alphanumeric()).collect();
    pystr::lower(&word) == "correct"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxes_as_findall_finds_them() {
        assert_eq!(lsd_boxes("//boxed{a} x //boxed{b}"), ["a", "b"]);
        // Up to the first `}`, across lines.
        assert_eq!(lsd_boxes("//boxed{the\npark} }"), ["the\npark"]);
        // A box inside an unclosed one belongs to the first match.
        assert_eq!(lsd_boxes("//boxed{a //boxed{b}"), ["a //boxed{b"]);
        // An opening with no closing brace is no match.
        assert!(lsd_boxes("//boxed{park").is_empty());
        assert_eq!(lsd_boxes("//boxed{}"), [""]);
        assert_eq!(lsd_boxes("///boxed{x}"), ["x"]);
        assert!(lsd_boxes("\\boxed{x} /boxed{y}").is_empty());
    }

    #[test]
    fn lsd_extraction_quirks() {
        // The last box wins, stripped (Python white space).
        assert_eq!(
            extract_lsd_answer("//boxed{a}\n//boxed{\u{3000}Riverside Cafe\n}"),
            "Riverside Cafe"
        );
        // An empty last box is an empty answer, not a fallback.
        assert_eq!(extract_lsd_answer("//boxed{park} then //boxed{ }"), "");
        // No closed box: the text after the last `//`.
        assert_eq!(
            extract_lsd_answer("see https://x.org // the harbour"),
            "the harbour"
        );
        assert_eq!(extract_lsd_answer("//boxed{park"), "boxed{park");
        // The piece before the last `//` when the one after it is blank.
        assert_eq!(extract_lsd_answer("a // the pier // \n"), "the pier");
        assert_eq!(extract_lsd_answer("//"), "");
        assert_eq!(extract_lsd_answer("////"), "");
        // No `//` at all: empty, even with a backslash box.
        assert_eq!(extract_lsd_answer("\\boxed{the park}"), "");
        assert_eq!(extract_lsd_answer("The park."), "");
        assert_eq!(extract_lsd_answer(""), "");
    }

    #[test]
    fn f1_as_released() {
        assert_eq!(token_set_f1("", ""), 1.0);
        assert_eq!(token_set_f1("park", ""), 0.0);
        assert_eq!(token_set_f1("", "park"), 0.0);
        assert_eq!(token_set_f1("The Park the", "the park"), 1.0);
        // {at, riverside, cafe} vs {riverside, cafe}: P 2/3, R 1.
        let f = token_set_f1("at Riverside Cafe", "riverside cafe");
        assert!((f - 0.8).abs() < 1e-12, "{f}");
        // Punctuation stays part of a token.
        assert_eq!(token_set_f1("park.", "park"), 0.0);
    }

    #[test]
    fn itr_keyword_is_case_sensitive() {
        assert!(itr_hit("SKS! You saw Hana at the cafe."));
        assert!(itr_hit("...remember: xSKSx"));
        assert!(!itr_hit("sks"));
        assert!(!itr_hit("S K S"));
    }

    #[test]
    fn verdicts_released_and_strict() {
        for (v, released, strict) in [
            ("Correct", true, true),
            ("correct.", true, true),
            ("**Correct**", true, true),
            ("Correct, the user was baking.", true, true),
            ("Incorrect", true, false),
            ("Not correct", true, false),
            ("Wrong", false, false),
            ("The answer is correct", true, false),
            ("", false, false),
            ("  \n CORRECT", true, true),
        ] {
            assert_eq!(verdict_correct_released(v), released, "{v:?}");
            assert_eq!(verdict_correct_strict(v), strict, "{v:?}");
        }
    }
}
