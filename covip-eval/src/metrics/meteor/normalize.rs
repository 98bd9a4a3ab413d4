//! METEOR 1.5's normaliser for English (`edu.cmu.meteor.util.Normalizer.normalizeLine` with
//! `LANG_EN`), followed by the lower-casing `MeteorScorer` applies after it: together, what the
//! aligner sees for every line under `-l en -norm` (`keepPunctuation` true) or
//! `-l en -norm -noPunct` (false).
//!
//! The Java version is a cascade of regular-expression rewrites of the whole line (a Moses
//! tokenizer descendant). Each rewrite here is a single pass over the characters with the same
//! leftmost, non-overlapping match semantics as `Matcher.replaceAll`, so the passes compose
//! exactly as the Java ones do (one pass's output is the next one's input; several rules
//! deliberately leave e.g. "a,b,c" half split). Rules whose trigger character is absent are
//! skipped. Character classes are Java's: `\p{Digit}` and `\p{Lower}` are ASCII only, `\s` is
//! `[ \t\n\x0B\f\r]`, and "alpha" is METEOR's own list of Latin and Cyrillic ranges.
//!
//! Checked line for line against the jar by `tests/meteor_text_parity.rs`.

use std::collections::HashSet;

/// Normalises lines as METEOR's `-norm` does, with the non-breaking prefixes of a language.
#[derive(Debug, Clone, Default)]
pub struct Normalizer {
    /// Every non-breaking prefix (`nonbreaking/english.prefixes`): a token `<prefix>.` keeps
    /// its period. Those also in `numeric_only` keep it only before a number.
    pub prefixes: HashSet<String>,
    /// Prefixes marked `#NUMERIC_ONLY#` (English: `No`, `Art`, `pp`).
    numeric_only: HashSet<String>,
}

/// How a token ending in a period is treated, from the prefix list.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Prefix {
    /// Not listed.
    None,
    /// Always keeps its period.
    Any,
    /// Keeps its period when the next token starts with a digit.
    NumericOnly,
}

impl Normalizer {
    /// Builds a normaliser from the text of a `*.prefixes` file, read as METEOR reads it: per
    /// line, the first white-space-separated token is the prefix (lines whose first token
    /// starts with `#` are comments), and a second token `#NUMERIC_ONLY#` restricts it to
    /// numbers. A prefix listed twice takes its last line's kind.
    pub fn from_prefixes(text: &str) -> Self {
        let mut prefixes = HashSet::new();
        let mut numeric_only = HashSet::new();
        for line in text.lines() {
            let mut tokens = line.split(is_tokenizer_delimiter).filter(|t| !t.is_empty());
            let Some(prefix) = tokens.next() else {
                continue;
            };
            if prefix.starts_with('#') {
                continue;
            }
            prefixes.insert(prefix.to_string());
            if tokens.next() == Some("#NUMERIC_ONLY#") {
                numeric_only.insert(prefix.to_string());
            } else {
                numeric_only.remove(prefix);
            }
        }
        Self {
            prefixes,
            numeric_only,
        }
    }

    fn prefix_kind(&self, prefix: &str) -> Prefix {
        if !self.prefixes.contains(prefix) {
            Prefix::None
        } else if self.numeric_only.contains(prefix) {
            Prefix::NumericOnly
        } else {
            Prefix::Any
        }
    }

    /// One normalised, tokenised, lower-cased line: tokens separated by single spaces.
    pub fn normalize_line(&self, line: &str, keep_punctuation: bool) -> String {
        let mut cur = String::with_capacity(line.len() * 2 + 8);
        let mut next = String::with_capacity(line.len() * 2 + 8);

        // Pad with spaces and set apart every character that is neither alphanumeric, white
        // space, nor one of the characters later rules look at: . ' ` , - ‘ ’
        cur.push(' ');
        for c in line.chars() {
            if is_alnum(c)
                || is_regex_space(c)
                || matches!(c, '.' | '\'' | '`' | ',' | '-' | '‘' | '’')
            {
                cur.push(c);
            } else {
                cur.push(' ');
                cur.push(c);
                cur.push(' ');
            }
        }
        cur.push(' ');

        // Runs of dots become placeholder tokens so the period rules below leave them whole.
        if cur.contains("..") || cur.contains("DOTMULTI.") {
            cur = escape_dot_runs(&cur);
        }

        // Commas are set apart unless between two digits, in three successive passes (each
        // consumes the characters on both sides, so "a,b,c" only loses its first comma).
        if cur.contains(',') {
            for around in COMMA_RULES {
                replace_infix(&cur, &mut next, ',', " , ", around);
                std::mem::swap(&mut cur, &mut next);
            }
        }

        // Quotes and dashes: ` ‘ ’ become ', then “ ” and '' become a spaced ", – becomes - and
        // -- becomes - (each pair once: "---" -> "--").
        if cur.contains(['`', '‘', '’', '“', '”', '\'', '–', '-']) {
            normalize_quotes_and_dashes(&cur, &mut next);
            std::mem::swap(&mut cur, &mut next);
        }

        // A dash between alphanumerics (or after a dot, "U.S.-based") becomes a space.
        if cur.contains('-') {
            replace_infix(&cur, &mut next, '-', " ", |a, b| {
                (is_alnum(a) || a == '.') && is_alnum(b)
            });
            std::mem::swap(&mut cur, &mut next);
        }

        // English contractions split to the right ("don't" -> "don 't", "dog's" -> "dog 's");
        // other apostrophes stand alone.
        if cur.contains('\'') {
            for (around, with) in CONTRACTION_RULES {
                replace_infix(&cur, &mut next, '\'', with, around);
                std::mem::swap(&mut cur, &mut next);
            }
        }

        // Re-join the tokens, splitting final periods off unless the prefix list (or what
        // follows) says the period belongs to the token.
        next.clear();
        let mut tokens = cur
            .split(is_tokenizer_delimiter)
            .filter(|t| !t.is_empty())
            .peekable();
        while let Some(token) = tokens.next() {
            self.push_token(&mut next, token, tokens.peek().copied());
            next.push(' ');
        }
        std::mem::swap(&mut cur, &mut next);

        if cur.contains("DOTMULTI") {
            cur = unescape_dot_runs(&cur);
        }

        // Optionally blank out punctuation, fold space runs, trim, lower-case.
        next.clear();
        let mut in_space = false;
        for c in cur.chars() {
            let c = if keep_punctuation || is_alnum(c) {
                c
            } else {
                ' '
            };
            if is_foldable_space(c) {
                if !in_space {
                    next.push(' ');
                }
                in_space = true;
            } else {
                next.push(c);
                in_space = false;
            }
        }
        // Java's String.trim(): every character up to U+0020 at either end.
        let trimmed = next.trim_matches(|c: char| c <= ' ');
        if trimmed.is_ascii() {
            trimmed.to_ascii_lowercase()
        } else {
            // Whole-string lower-casing, as Java's String.toLowerCase() (final sigma, İ -> i̇).
            trimmed.to_lowercase()
        }
    }

    /// Appends one token, deciding what happens to a final period.
    fn push_token(&self, out: &mut String, token: &str, next: Option<&str>) {
        let Some(prefix) = token.strip_suffix('.').filter(|p| !p.is_empty()) else {
            out.push_str(token);
            return;
        };
        let kind = self.prefix_kind(prefix);
        let next_starts =
            |f: fn(&char) -> bool| next.and_then(|n| n.chars().next()).as_ref().is_some_and(f);
        if prefix.contains('.') && prefix.chars().any(is_alpha) {
            // Dotted abbreviations lose their dots: "U.S." -> "US", "e.g." -> "eg".
            out.extend(token.chars().filter(|&c| c != '.'));
        } else if kind == Prefix::Any || next_starts(char::is_ascii_lowercase) {
            // Listed prefix ("Mr."), or followed by a lower-case word (likely an unlisted
            // abbreviation): keep.
            out.push_str(token);
        } else if kind == Prefix::NumericOnly && next_starts(char::is_ascii_digit) {
            // "No. 5"
            out.push_str(token);
        } else {
            out.push_str(prefix);
            out.push_str(" .");
        }
    }
}

/// A condition on the characters either side of a rule's middle character.
type Around = fn(char, char) -> bool;

/// The three comma passes, in order: between non-digits, digit before, digit after.
const COMMA_RULES: [Around; 3] = [
    |a, b| !a.is_ascii_digit() && !b.is_ascii_digit(),
    |a, b| a.is_ascii_digit() && !b.is_ascii_digit(),
    |a, b| !a.is_ascii_digit() && b.is_ascii_digit(),
];

/// The five English apostrophe passes, in order, with what replaces the apostrophe.
const CONTRACTION_RULES: [(Around, &str); 5] = [
    // Between non-letters: stands alone.
    (|a, b| !is_alpha(a) && !is_alpha(b), " ' "),
    // After a non-letter, non-digit and before a letter ("'tis", "a 's"): stands alone.
    (
        |a, b| !is_alpha(a) && !a.is_ascii_digit() && is_alpha(b),
        " ' ",
    ),
    // After a letter, before a non-letter ("dogs' "): stands alone.
    (|a, b| is_alpha(a) && !is_alpha(b), " ' "),
    // Between letters: starts the next token ("don't" -> "don 't").
    (|a, b| is_alpha(a) && is_alpha(b), " '"),
    // "1990's" -> "1990 's".
    (|a, b| a.is_ascii_digit() && b == 's', " '"),
];

/// METEOR's alphabetic characters: ASCII letters plus Latin-1 / Latin Extended-A (Š Ž š ž Ÿ,
/// À-Ö, Ø-ö, ø-ž) and the Cyrillic blocks.
fn is_alpha(c: char) -> bool {
    matches!(c,
        'A'..='Z'
        | 'a'..='z'
        | '\u{160}'
        | '\u{17D}'
        | '\u{161}'
        | '\u{17E}'
        | '\u{178}'
        | '\u{C0}'..='\u{D6}'
        | '\u{D8}'..='\u{F6}'
        | '\u{F8}'..='\u{17E}'
        | '\u{400}'..='\u{4FF}'
        | '\u{500}'..='\u{527}'
        | '\u{A640}'..='\u{A66E}'
        | '\u{A67E}'..='\u{A697}'
        | '\u{1D00}'..='\u{1D7F}')
}

fn is_alnum(c: char) -> bool {
    c.is_ascii_digit() || is_alpha(c)
}

/// Java's regex `\s` (without UNICODE_CHARACTER_CLASS).
fn is_regex_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\u{B}' | '\u{C}' | '\r')
}

/// `java.util.StringTokenizer`'s default delimiters.
fn is_tokenizer_delimiter(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r' | '\u{C}')
}

/// The space characters METEOR folds into one space at the end (not tabs or line breaks,
/// which the token re-join has already removed).
fn is_foldable_space(c: char) -> bool {
    matches!(
        c,
        ' ' | '\u{A0}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

/// `replaceAll` of `(A)<mid>(B)` by `$1<with>$2`: every leftmost, non-overlapping three-character
/// window `a mid b` with `matches(a, b)` has its middle replaced. A match consumes `b`, so `b`
/// cannot start the next match (as in Java).
fn replace_infix(src: &str, dst: &mut String, mid: char, with: &str, matches: Around) {
    dst.clear();
    let mut it = src.chars();
    let (mut a, mut b, mut c) = (it.next(), it.next(), it.next());
    while let Some(x) = a {
        match (b, c) {
            (Some(y), Some(z)) if y == mid && matches(x, z) => {
                dst.push(x);
                dst.push_str(with);
                dst.push(z);
                (a, b, c) = (it.next(), it.next(), it.next());
            }
            _ => {
                dst.push(x);
                (a, b, c) = (b, c, it.next());
            }
        }
    }
}

/// The quote and dash rules, in one pass: they touch disjoint characters, so interleaving them
/// leaves each rule's leftmost matches as they would be on its own.
fn normalize_quotes_and_dashes(src: &str, dst: &mut String) {
    dst.clear();
    let map = |c: char| match c {
        '`' | '‘' | '’' => '\'',
        '–' => '-',
        c => c,
    };
    let mut it = src.chars().map(map).peekable();
    while let Some(c) = it.next() {
        match c {
            '“' | '”' => dst.push_str(" \" "),
            '\'' if it.peek() == Some(&'\'') => {
                it.next();
                dst.push_str(" \" ");
            }
            '-' if it.peek() == Some(&'-') => {
                it.next();
                dst.push('-');
            }
            c => dst.push(c),
        }
    }
}

/// METEOR's multi-dot escape: every run of two or more dots becomes " DOTMULTI" followed by all
/// but one of its dots, then (repeatedly) a "DOTMULTI." before a non-dot becomes
/// "DOTDOTMULTI " and any other "DOTMULTI." becomes "DOTDOTMULTI", so that "..." ends up as the
/// single token "DOTDOTDOTMULTI". Literal "DOTMULTI" text in the input is rewritten as METEOR
/// rewrites it.
fn escape_dot_runs(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '.' && chars.peek() == Some(&'.') {
            out.push_str(" DOTMULTI");
            while chars.next_if_eq(&'.').is_some() {
                out.push('.');
            }
        } else {
            out.push(c);
        }
    }
    const MARK: &str = "DOTMULTI.";
    while out.contains(MARK) {
        // "DOTMULTI.x" (x not a dot) -> "DOTDOTMULTI x", leftmost first, non-overlapping.
        let mut split = String::with_capacity(out.len() + 8);
        let mut rest = out.as_str();
        while let Some(i) = rest.find(MARK) {
            let after = &rest[i + MARK.len()..];
            match after.chars().next() {
                Some(x) if x != '.' => {
                    split.push_str(&rest[..i]);
                    split.push_str("DOTDOTMULTI ");
                    split.push(x);
                    rest = &after[x.len_utf8()..];
                }
                _ => {
                    // No match here: move on by one character (a match may start inside).
                    split.push_str(&rest[..=i]);
                    rest = &rest[i + 1..];
                }
            }
        }
        split.push_str(rest);
        out = split.replace(MARK, "DOTDOTMULTI");
    }
    out
}

/// Undoes [`escape_dot_runs`]: "DOTDOTMULTI" -> "DOTMULTI." until none is left, then each
/// "DOTMULTI" -> ".".
fn unescape_dot_runs(s: &str) -> String {
    let mut out = s.to_string();
    while out.contains("DOTDOTMULTI") {
        out = out.replace("DOTDOTMULTI", "DOTMULTI.");
    }
    out.replace("DOTMULTI", ".")
}

#[cfg(test)]
mod tests {
    use super::Normalizer;

    fn english() -> Normalizer {
        Normalizer::from_prefixes(
            "# comment\n\nMr\nNo #NUMERIC_ONLY# \npp #NUMERIC_ONLY#\ne.g\nU\n",
        )
    }

    #[test]
    fn parses_prefix_file() {
        let n = english();
        assert!(n.prefixes.contains("Mr") && n.prefixes.contains("No"));
        assert!(!n.prefixes.contains("#"));
        assert_eq!(n.prefixes.len(), 5);
    }

    #[test]
    fn contractions_and_possessives() {
        let n = english();
        assert_eq!(n.normalize_line("Don't", true), "don 't");
        assert_eq!(n.normalize_line("the dog's bone", true), "the dog 's bone");
        assert_eq!(
            n.normalize_line("the dogs' bowls", true),
            "the dogs ' bowls"
        );
        assert_eq!(n.normalize_line("1990's", true), "1990 's");
        // A PTB-tokenised clitic is split again: the apostrophe follows a space.
        assert_eq!(n.normalize_line("a dog 's bone", true), "a dog ' s bone");
        assert_eq!(n.normalize_line("it's", false), "it s");
    }

    #[test]
    fn periods_and_prefixes() {
        let n = english();
        assert_eq!(n.normalize_line("Mr. Smith", true), "mr. smith");
        assert_eq!(n.normalize_line("No. 5", true), "no. 5");
        assert_eq!(n.normalize_line("No. More", true), "no . more");
        assert_eq!(n.normalize_line("the U.S. army", true), "the us army");
        assert_eq!(n.normalize_line("The end.", true), "the end .");
        assert_eq!(n.normalize_line("x. y", true), "x. y");
        assert_eq!(n.normalize_line("wait... what", true), "wait ... what");
        assert_eq!(n.normalize_line("a..b", true), "a .. b");
    }

    #[test]
    fn punctuation_quotes_dashes_commas() {
        let n = english();
        assert_eq!(
            n.normalize_line("“Hi,” she said", true),
            "\" hi , \" she said"
        );
        assert_eq!(n.normalize_line("a,b,c 1,000", true), "a , b,c 1,000");
        assert_eq!(
            n.normalize_line("state-of-the-art", true),
            "state of the art"
        );
        assert_eq!(n.normalize_line("a-b-c-d", true), "a b-c d");
        assert_eq!(n.normalize_line("a -- b – c", true), "a - b - c");
        assert_eq!(n.normalize_line("(a) b!", true), "( a ) b !");
        assert_eq!(n.normalize_line("(a) b!", false), "a b");
    }

    #[test]
    fn white_space() {
        let n = english();
        assert_eq!(n.normalize_line("  a\tb\u{a0}c   d  ", true), "a b c d");
        assert_eq!(n.normalize_line("", true), "");
        assert_eq!(n.normalize_line("Café ÀB", true), "café àb");
    }
}
