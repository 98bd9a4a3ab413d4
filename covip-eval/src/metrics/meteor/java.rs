//! The few `java.lang` behaviours METEOR's results depend on, so that the port gives the jar's
//! answers on any input, not only on tidy ASCII:
//! - words are compared by `String.hashCode` (UTF-16 code units), so two different words with the
//!   same hash count as an exact match, and a stem or synonym match needs different hashes;
//! - `StringTokenizer` splits on exactly space, tab, newline, carriage return and form feed
//!   (a no-break space stays inside a word);
//! - `String.trim` strips every character up to U+0020, control characters included;
//! - `String.split` drops trailing empty pieces.

/// `String.hashCode`: `h = 31 h + unit` over the UTF-16 code units, wrapping.
pub fn string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// `String.length`: UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

/// The default delimiters of `java.util.StringTokenizer`.
fn is_tokenizer_delimiter(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{c}')
}

/// The tokens `new StringTokenizer(s)` yields.
pub fn tokens(s: &str) -> impl Iterator<Item = &str> {
    s.split(is_tokenizer_delimiter).filter(|t| !t.is_empty())
}

/// `String.trim`: strips characters `<= U+0020` at both ends.
pub fn trim(s: &str) -> &str {
    s.trim_matches(|c: char| c <= ' ')
}

/// `s.split(regex)` for a literal separator: the pieces, trailing empty pieces dropped (all of
/// them when every piece is empty, as Java does for a non-empty input).
pub fn split_literal<'a>(s: &'a str, sep: &str) -> Vec<&'a str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    if s.is_empty() {
        return parts;
    }
    while parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_javas() {
        assert_eq!(string_hash(""), 0);
        assert_eq!(string_hash("a"), 97);
        assert_eq!(string_hash("dog"), 99644);
        // Known collisions, and a value past i32::MAX that wraps.
        assert_eq!(string_hash("Aa"), string_hash("BB"));
        assert_eq!(string_hash("polygenelubricants"), i32::MIN);
        // Non-BMP characters hash as their two surrogates.
        assert_eq!(string_hash("😀"), 0xD83D * 31 + 0xDE00);
    }

    #[test]
    fn tokenizer_keeps_unicode_spaces_inside_words() {
        let t: Vec<&str> = tokens(" a\u{a0}b\tc\r\nd\u{c}e  ").collect();
        assert_eq!(t, ["a\u{a0}b", "c", "d", "e"]);
        assert_eq!(tokens("").count(), 0);
    }

    #[test]
    fn trim_strips_control_characters() {
        assert_eq!(trim("\u{1}\t x \u{7f}"), "x \u{7f}");
        assert_eq!(trim(" \u{a0}x"), "\u{a0}x");
    }

    #[test]
    fn split_drops_trailing_empty_pieces() {
        assert_eq!(split_literal("a|||b||||||", "|||"), ["a", "b"]);
        assert_eq!(split_literal("|||a", "|||"), ["", "a"]);
        assert!(split_literal("||||||", "|||").is_empty());
        assert_eq!(split_literal("", "|||"), [""]);
        assert_eq!(
            split_literal("SCORE ||| r ||| ", "|||"),
            ["SCORE ", " r ", " "]
        );
    }
}
