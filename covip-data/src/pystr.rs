//! Python's string semantics, where the reference implementations (pycocoevalcap, the released
//! training code) rely on them: which characters are white space (`str.isspace`, hence
//! `str.split()` and `str.strip()`), and lower-casing (`str.lower`).
//!
//! Rust's own notions differ at the edges: `char::is_whitespace` leaves out the four separators
//! U+001C–U+001F that Python counts as space, so `str::split_whitespace` and `str::trim` keep
//! them inside words. Every covip crate that must agree with a Python reference uses this
//! module; it needs nothing beyond `std`.

/// Python's `str.isspace` for one character: the Unicode `White_Space` characters plus the
/// information separators U+001C–U+001F (bidirectional class B or S).
pub fn is_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// [`is_space`] for an ASCII byte (tab, line feed, vertical tab, form feed, carriage return,
/// U+001C–U+001F and space). Bytes of multi-byte UTF-8 sequences are never space.
pub const fn is_space_ascii(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | 0x1c..=0x20)
}

/// Python's `str.split()` with no argument: the words between runs of white space, with no
/// empty words.
pub fn split_whitespace(s: &str) -> SplitWhitespace<'_> {
    SplitWhitespace {
        rest: s,
        ascii: s.is_ascii(),
    }
}

/// Python's `str.strip()` with no argument.
pub fn strip(s: &str) -> &str {
    s.trim_matches(is_space)
}

/// Python's `str.lstrip()` with no argument.
pub fn lstrip(s: &str) -> &str {
    s.trim_start_matches(is_space)
}

/// Python's `str.rstrip()` with no argument.
pub fn rstrip(s: &str) -> &str {
    s.trim_end_matches(is_space)
}

/// Python's `str.lower()`: full Unicode lower-casing (`İ` becomes two characters), with `Σ`
/// lower-cased by context (final `ς` at the end of a word, `σ` elsewhere).
///
/// `str::to_lowercase` implements the same mapping and the same `Final_Sigma` condition;
/// this function is the one place that relies on that, and its tests pin Python's outputs.
pub fn lower(s: &str) -> String {
    s.to_lowercase()
}

/// Whether [`lower`] may need the whole string: only a capital sigma is lower-cased by
/// context; every other character lower-cases on its own. Lets a caller that lower-cases
/// character by character (into its own buffer) stay exact.
pub fn lower_needs_context(s: &str) -> bool {
    !s.is_ascii() && s.contains('Σ')
}

/// The words of [`split_whitespace`]; byte by byte for ASCII text.
#[derive(Clone, Debug)]
pub struct SplitWhitespace<'a> {
    rest: &'a str,
    ascii: bool,
}

impl<'a> Iterator for SplitWhitespace<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.rest;
        let (start, end) = if self.ascii {
            let b = s.as_bytes();
            let Some(start) = b.iter().position(|&c| !is_space_ascii(c)) else {
                self.rest = "";
                return None;
            };
            let end = b[start..]
                .iter()
                .position(|&c| is_space_ascii(c))
                .map_or(b.len(), |p| start + p);
            (start, end)
        } else {
            let Some(start) = s.find(|c: char| !is_space(c)) else {
                self.rest = "";
                return None;
            };
            let end = s[start..].find(is_space).map_or(s.len(), |p| start + p);
            (start, end)
        };
        self.rest = &s[end..];
        Some(&s[start..end])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every character for which CPython 3.11 (Unicode 14) says `isspace()`.
    const PYTHON_SPACES: [u32; 29] = [
        0x9, 0xa, 0xb, 0xc, 0xd, 0x1c, 0x1d, 0x1e, 0x1f, 0x20, 0x85, 0xa0, 0x1680, 0x2000, 0x2001,
        0x2002, 0x2003, 0x2004, 0x2005, 0x2006, 0x2007, 0x2008, 0x2009, 0x200a, 0x2028, 0x2029,
        0x202f, 0x205f, 0x3000,
    ];

    #[test]
    fn space_set_is_pythons() {
        let ours: Vec<u32> = (0..=0x10FFFFu32)
            .filter_map(char::from_u32)
            .filter(|&c| is_space(c))
            .map(u32::from)
            .collect();
        assert_eq!(ours, PYTHON_SPACES);
        for b in 0..=0x7fu8 {
            assert_eq!(is_space_ascii(b), is_space(b as char), "{b:#x}");
        }
        for b in 0x80..=0xffu8 {
            assert!(!is_space_ascii(b), "{b:#x}");
        }
    }

    #[test]
    fn split_and_strip_as_python() {
        // Outputs of CPython 3.11.
        assert_eq!(
            split_whitespace(" a\x1cb\u{2003}c\u{200b}d  ").collect::<Vec<_>>(),
            ["a", "b", "c\u{200b}d"]
        );
        let s = " \x1f a b\u{85}";
        assert_eq!(strip(s), "a b");
        assert_eq!(rstrip(s), " \x1f a b");
        assert_eq!(lstrip(s), "a b\u{85}");
        for s in [
            "",
            "  ",
            "a b",
            " a\tb\x1c c\x0b",
            "x\u{a0}y \u{2003}z\u{85}",
            "\u{e9} \u{e9}",
        ] {
            let got: Vec<&str> = split_whitespace(s).collect();
            let want: Vec<&str> = s.split(is_space).filter(|w| !w.is_empty()).collect();
            assert_eq!(got, want, "{s:?}");
        }
    }

    #[test]
    fn lower_as_python() {
        // (input, CPython 3.11 `str.lower()`).
        for (s, want) in [
            ("ΟΔΟΣ", "\u{3bf}\u{3b4}\u{3bf}\u{3c2}"),
            (
                "ΟΔΟΣ ΟΔΟΣ.",
                "\u{3bf}\u{3b4}\u{3bf}\u{3c2} \u{3bf}\u{3b4}\u{3bf}\u{3c2}.",
            ),
            ("Σ", "\u{3c3}"),
            ("AΣ'B", "a\u{3c3}'b"),
            ("AΣ'", "a\u{3c2}'"),
            ("İstanbul", "i\u{307}stanbul"),
            ("ẞ", "\u{df}"),
            ("ǅ", "\u{1c6}"),
            ("ΑΣ\u{301} x", "\u{3b1}\u{3c2}\u{301} x"),
            ("x Σa", "x \u{3c3}a"),
        ] {
            assert_eq!(lower(s), want, "{s:?}");
        }
        assert!(lower_needs_context("ΟΔΟΣ"));
        assert!(!lower_needs_context("İstanbul"));
    }
}
