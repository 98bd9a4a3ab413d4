//! The Snowball English ("Porter2") stemmer exactly as METEOR 1.5 runs it: the generated
//! `org.tartarus.snowball.ext.englishStemmer` bundled in `meteor-1.5.jar`, called through
//! `SnowballStemmerWrapper` by the stem matcher.
//!
//! That class was generated from an older Snowball release, whose tables are not those of
//! every later `english.sbl` (for instance, only `arsen`, `commun` and `gener` fix R1 by hand,
//! and Step 2 knows no `ogist`), so stems can differ from other Porter2 implementations. This
//! module follows that class rule for rule; it is checked word for word against the jar by
//! `tests/meteor_text_parity.rs`.
//!
//! Positions are counted in UTF-16 code units, as Java's `StringBuffer` counts them: the
//! "shorter than three" test, the `hop` in `ies`/`ied` and the region marks give different
//! answers for words holding characters outside the Basic Multilingual Plane if counted in
//! Unicode scalar values. Every rule only matches ASCII letters, and every non-vowel unit
//! (upper case, digits, punctuation, any non-ASCII unit) counts as a consonant.
//!
//! The input is used as given: METEOR lower-cases before stemming under `-norm`/`-lower`, and
//! the rules (written for lower case) leave upper-case words mostly untouched, as the jar does.

/// The stem of one word.
pub fn stem(word: &str) -> String {
    // Whole-word exceptions are looked up before anything else, on the word as given.
    if let Some(fixed) = exceptional_form(word) {
        return fixed.to_string();
    }
    let units: Vec<u16> = word.encode_utf16().collect();
    // Words of fewer than three units are left alone (before the apostrophe is stripped).
    if units.len() < 3 {
        return word.to_string();
    }
    let mut w = Word {
        u: units,
        p1: 0,
        p2: 0,
    };
    let y_found = w.prelude();
    w.mark_regions();
    w.step_1a();
    // A few words are frozen once Step 1a has removed their plural `s`.
    if !w.is_invariant_after_1a() {
        w.step_1b();
        w.step_1c();
        w.step_2();
        w.step_3();
        w.step_4();
        w.step_5();
    }
    if y_found {
        // Undo the prelude's consonant marking (every `Y`, including any the input had).
        for c in &mut w.u {
            if *c == u16::from(b'Y') {
                *c = u16::from(b'y');
            }
        }
    }
    String::from_utf16_lossy(&w.u)
}

/// Whole words with fixed stems (Snowball's `exception1`); `None` for every other word.
fn exceptional_form(word: &str) -> Option<&'static str> {
    Some(match word {
        "skis" => "ski",
        "skies" => "sky",
        "dying" => "die",
        "lying" => "lie",
        "tying" => "tie",
        "idly" => "idl",
        "gently" => "gentl",
        "ugly" => "ugli",
        "early" => "earli",
        "only" => "onli",
        "singly" => "singl",
        // Invariant: would otherwise lose an `s`, an `e` or a `y`.
        "sky" => "sky",
        "news" => "news",
        "howe" => "howe",
        "atlas" => "atlas",
        "cosmos" => "cosmos",
        "bias" => "bias",
        "andes" => "andes",
        _ => return None,
    })
}

const Y: u16 = b'Y' as u16;
const LOWER_Y: u16 = b'y' as u16;
const APOSTROPHE: u16 = b'\'' as u16;

/// Snowball's `v`: the lower-case vowels, `y` included.
fn is_vowel(c: u16) -> bool {
    matches!(u8::try_from(c), Ok(b'a' | b'e' | b'i' | b'o' | b'u' | b'y'))
}

/// Snowball's `v_WXY`: vowels plus `w`, `x` and the consonant-marked `Y`; a short syllable may
/// not end in one of these.
fn is_vowel_wxy(c: u16) -> bool {
    is_vowel(c) || matches!(u8::try_from(c), Ok(b'w' | b'x' | b'Y'))
}

/// Snowball's `valid_LI`: the letters after which a final `li` is removed (Step 2).
fn is_valid_li(c: u16) -> bool {
    matches!(
        u8::try_from(c),
        Ok(b'c' | b'd' | b'e' | b'g' | b'h' | b'k' | b'm' | b'n' | b'r' | b't')
    )
}

/// A word being stemmed, with its regions: R1 starts at `p1`, R2 at `p2` (unit indices that
/// stay put while suffixes change, as in the Java class).
struct Word {
    u: Vec<u16>,
    p1: usize,
    p2: usize,
}

impl Word {
    fn len(&self) -> usize {
        self.u.len()
    }

    fn at(&self, i: usize) -> u16 {
        self.u[i]
    }

    fn ends_with(&self, suffix: &str) -> bool {
        let s = suffix.as_bytes();
        self.u.len() >= s.len()
            && self.u[self.u.len() - s.len()..]
                .iter()
                .zip(s)
                .all(|(&a, &b)| a == u16::from(b))
    }

    /// The longest of `table`'s suffixes that ends the word, with its payload. Snowball's
    /// `among` commits to the longest match: if its condition then fails, no shorter suffix is
    /// tried.
    fn longest_suffix<'t, T>(
        &self,
        table: &'t [(&'static str, T)],
    ) -> Option<&'t (&'static str, T)> {
        table
            .iter()
            .filter(|(s, _)| self.ends_with(s))
            .max_by_key(|(s, _)| s.len())
    }

    fn replace_suffix(&mut self, old_len: usize, new: &str) {
        let keep = self.u.len() - old_len;
        self.u.truncate(keep);
        self.u.extend(new.bytes().map(u16::from));
    }

    /// Where a suffix of `len` units starts.
    fn start_of(&self, suffix_len: usize) -> usize {
        self.u.len() - suffix_len
    }

    /// Strips one leading apostrophe and marks every `y` that acts as a consonant (word-initial,
    /// or after a vowel) as `Y`. Returns whether any `Y` was set, which decides the postlude.
    fn prelude(&mut self) -> bool {
        if self.u.first() == Some(&APOSTROPHE) {
            self.u.remove(0);
        }
        let mut y_found = false;
        if self.u.first() == Some(&LOWER_Y) {
            self.u[0] = Y;
            y_found = true;
        }
        // Left to right, so a `y` just marked `Y` is no longer a vowel for the next one
        // ("ayy" -> "aYy").
        for i in 1..self.u.len() {
            if self.u[i] == LOWER_Y && is_vowel(self.u[i - 1]) {
                self.u[i] = Y;
                y_found = true;
            }
        }
        y_found
    }

    /// The position just past the first non-vowel that follows a vowel, searching from `from`.
    fn after_vowel_consonant(&self, from: usize) -> Option<usize> {
        let v = (from..self.len()).find(|&i| is_vowel(self.at(i)))?;
        let c = (v + 1..self.len()).find(|&i| !is_vowel(self.at(i)))?;
        Some(c + 1)
    }

    /// R1 and R2 (both empty, at the end of the word, when not found). Three prefixes fix R1
    /// by hand so that e.g. "generous" and "general" share a stem.
    fn mark_regions(&mut self) {
        self.p1 = self.len();
        self.p2 = self.len();
        let special = ["gener", "commun", "arsen"].iter().find(|p| {
            self.u.len() >= p.len()
                && self
                    .u
                    .iter()
                    .zip(p.bytes())
                    .all(|(&a, b)| a == u16::from(b))
        });
        let p1 = match special {
            Some(p) => p.len(),
            None => match self.after_vowel_consonant(0) {
                Some(p) => p,
                None => return,
            },
        };
        self.p1 = p1;
        if let Some(p2) = self.after_vowel_consonant(p1) {
            self.p2 = p2;
        }
    }

    fn in_r1(&self, pos: usize) -> bool {
        pos >= self.p1
    }

    fn in_r2(&self, pos: usize) -> bool {
        pos >= self.p2
    }

    /// Whether the word up to `end` ends in a short syllable: non-vowel, vowel, then a
    /// non-vowel other than `w`, `x`, `Y`; or, for a two-unit word, vowel then non-vowel.
    fn ends_in_short_syllable(&self, end: usize) -> bool {
        if end >= 3 {
            !is_vowel_wxy(self.at(end - 1))
                && is_vowel(self.at(end - 2))
                && !is_vowel(self.at(end - 3))
        } else {
            end == 2 && !is_vowel(self.at(1)) && is_vowel(self.at(0))
        }
    }

    /// Possessive endings, then plural endings.
    fn step_1a(&mut self) {
        // "'s'", "'s" or "'" (longest first).
        for apostrophe in ["'s'", "'s", "'"] {
            if self.ends_with(apostrophe) {
                self.replace_suffix(apostrophe.len(), "");
                break;
            }
        }
        if self.ends_with("sses") {
            self.replace_suffix(4, "ss");
        } else if self.ends_with("ied") || self.ends_with("ies") {
            // "ties" -> "tie" but "cries" -> "cri": keep the `e` only after a single unit.
            let rest = self.start_of(3);
            self.replace_suffix(3, if rest >= 2 { "i" } else { "ie" });
        } else if self.ends_with("ss") || self.ends_with("us") {
            // Left alone ("kiss", "bus").
        } else if self.ends_with("s") {
            // Drop a plural `s` only if a vowel occurs before the unit preceding it
            // ("gaps" -> "gap", but "gas" and "this" stay).
            let before = self.len() - 1;
            if before >= 1 && self.u[..before - 1].iter().any(|&c| is_vowel(c)) {
                self.replace_suffix(1, "");
            }
        }
    }

    /// Snowball's `exception2`: words that end their stemming after Step 1a.
    fn is_invariant_after_1a(&self) -> bool {
        const FROZEN: [&str; 8] = [
            "inning", "outing", "canning", "herring", "earring", "proceed", "exceed", "succeed",
        ];
        FROZEN
            .iter()
            .any(|w| w.len() == self.len() && self.ends_with(w))
    }

    /// `eed`/`eedly` -> `ee` within R1; `ed`, `edly`, `ing`, `ingly` removed after a vowel,
    /// then the stem is tidied (`at`/`bl`/`iz` gain an `e`, a doubled consonant loses one,
    /// a short word gains an `e`).
    fn step_1b(&mut self) {
        enum Kind {
            Eed,
            Ed,
        }
        const SUFFIXES: [(&str, Kind); 6] = [
            ("eed", Kind::Eed),
            ("eedly", Kind::Eed),
            ("ed", Kind::Ed),
            ("edly", Kind::Ed),
            ("ing", Kind::Ed),
            ("ingly", Kind::Ed),
        ];
        let Some((suffix, kind)) = self.longest_suffix(&SUFFIXES) else {
            return;
        };
        let start = self.start_of(suffix.len());
        match kind {
            Kind::Eed => {
                if self.in_r1(start) {
                    self.replace_suffix(suffix.len(), "ee");
                }
            }
            Kind::Ed => {
                if !self.u[..start].iter().any(|&c| is_vowel(c)) {
                    return;
                }
                self.replace_suffix(suffix.len(), "");
                if self.ends_with("at") || self.ends_with("bl") || self.ends_with("iz") {
                    self.replace_suffix(0, "e");
                } else if ["bb", "dd", "ff", "gg", "mm", "nn", "pp", "rr", "tt"]
                    .iter()
                    .any(|d| self.ends_with(d))
                {
                    self.replace_suffix(1, "");
                } else if self.len() == self.p1 && self.ends_in_short_syllable(self.len()) {
                    // "hop(ing)" -> "hope": the stem is exactly R1's start and short.
                    self.replace_suffix(0, "e");
                }
            }
        }
    }

    /// Final `y`/`Y` -> `i` after a non-vowel that is not the word's first unit
    /// ("cry" -> "cri", "by" and "say" stay).
    fn step_1c(&mut self) {
        let n = self.len();
        if (self.ends_with("y") || self.ends_with("Y")) && n >= 3 && !is_vowel(self.at(n - 2)) {
            self.replace_suffix(1, "i");
        }
    }

    /// Derivational suffixes in R1 mapped to shorter ones.
    fn step_2(&mut self) {
        enum Rule {
            To(&'static str),
            /// `ogi` -> `og`, only after `l`.
            OgAfterL,
            /// `li` removed, only after a valid-li letter.
            DropAfterValidLi,
        }
        use Rule::{DropAfterValidLi, OgAfterL, To};
        const TABLE: [(&str, Rule); 24] = [
            ("tional", To("tion")),
            ("enci", To("ence")),
            ("anci", To("ance")),
            ("abli", To("able")),
            ("entli", To("ent")),
            ("izer", To("ize")),
            ("ization", To("ize")),
            ("ational", To("ate")),
            ("ation", To("ate")),
            ("ator", To("ate")),
            ("alism", To("al")),
            ("aliti", To("al")),
            ("alli", To("al")),
            ("fulness", To("ful")),
            ("ousli", To("ous")),
            ("ousness", To("ous")),
            ("iveness", To("ive")),
            ("iviti", To("ive")),
            ("biliti", To("ble")),
            ("bli", To("ble")),
            ("ogi", OgAfterL),
            ("fulli", To("ful")),
            ("lessli", To("less")),
            ("li", DropAfterValidLi),
        ];
        let Some((suffix, rule)) = self.longest_suffix(&TABLE) else {
            return;
        };
        let start = self.start_of(suffix.len());
        if !self.in_r1(start) {
            return;
        }
        match rule {
            To(new) => self.replace_suffix(suffix.len(), new),
            OgAfterL => {
                if start >= 1 && self.at(start - 1) == u16::from(b'l') {
                    self.replace_suffix(suffix.len(), "og");
                }
            }
            DropAfterValidLi => {
                if start >= 1 && is_valid_li(self.at(start - 1)) {
                    self.replace_suffix(suffix.len(), "");
                }
            }
        }
    }

    /// More derivational suffixes in R1; `ative` only in R2.
    fn step_3(&mut self) {
        const TABLE: [(&str, &str); 9] = [
            ("tional", "tion"),
            ("ational", "ate"),
            ("alize", "al"),
            ("icate", "ic"),
            ("iciti", "ic"),
            ("ical", "ic"),
            ("ful", ""),
            ("ness", ""),
            ("ative", ""),
        ];
        let Some((suffix, new)) = self.longest_suffix(&TABLE) else {
            return;
        };
        let start = self.start_of(suffix.len());
        if !self.in_r1(start) || (*suffix == "ative" && !self.in_r2(start)) {
            return;
        }
        self.replace_suffix(suffix.len(), new);
    }

    /// Residual suffixes deleted in R2; `ion` only after `s` or `t`.
    fn step_4(&mut self) {
        const TABLE: [(&str, ()); 18] = [
            ("al", ()),
            ("ance", ()),
            ("ence", ()),
            ("er", ()),
            ("ic", ()),
            ("able", ()),
            ("ible", ()),
            ("ant", ()),
            ("ement", ()),
            ("ment", ()),
            ("ent", ()),
            ("ism", ()),
            ("ate", ()),
            ("iti", ()),
            ("ous", ()),
            ("ive", ()),
            ("ize", ()),
            ("ion", ()),
        ];
        let Some((suffix, ())) = self.longest_suffix(&TABLE) else {
            return;
        };
        let start = self.start_of(suffix.len());
        if !self.in_r2(start) {
            return;
        }
        if *suffix == "ion"
            && !(start >= 1 && matches!(u8::try_from(self.at(start - 1)), Ok(b's' | b't')))
        {
            return;
        }
        self.replace_suffix(suffix.len(), "");
    }

    /// A final `e` goes in R2, or in R1 unless the rest ends in a short syllable; a final `l`
    /// goes in R2 after another `l`.
    fn step_5(&mut self) {
        let n = self.len();
        if n == 0 {
            return;
        }
        let start = n - 1;
        if self.ends_with("e") {
            if self.in_r2(start) || (self.in_r1(start) && !self.ends_in_short_syllable(start)) {
                self.replace_suffix(1, "");
            }
        } else if self.ends_with("l")
            && self.in_r2(start)
            && start >= 1
            && self.at(start - 1) == u16::from(b'l')
        {
            self.replace_suffix(1, "");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::stem;

    #[test]
    fn porter2_examples() {
        for (w, s) in [
            ("caresses", "caress"),
            ("ponies", "poni"),
            ("ties", "tie"),
            ("cats", "cat"),
            ("gas", "gas"),
            ("hopping", "hop"),
            ("hoping", "hope"),
            ("agreed", "agre"),
            ("feed", "feed"),
            ("running", "run"),
            ("happy", "happi"),
            ("relational", "relat"),
            ("generously", "generous"),
            ("communication", "communic"),
            ("playing", "play"),
            ("dog's", "dog"),
            ("dogs'", "dog"),
            ("adjustment", "adjust"),
            ("controlling", "control"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }

    #[test]
    fn exceptions_and_short_words() {
        for (w, s) in [
            ("skies", "sky"),
            ("dying", "die"),
            ("news", "news"),
            ("only", "onli"),
            ("innings", "inning"),
            ("proceeds", "proceed"),
            ("proceeding", "proceed"),
            ("by", "by"),
            ("'s", "'s"),
            ("", ""),
            ("yes", "yes"),
            // The second y follows a consonant-marked Y, so it stays a vowel and Step 1c takes it.
            ("ayy", "ayi"),
        ] {
            assert_eq!(stem(w), s, "{w}");
        }
    }

    #[test]
    fn counts_utf16_units() {
        // The astral letter counts as two units, so `hop 2` succeeds and "ies" -> "i".
        assert_eq!(stem("\u{1D538}ies"), "\u{1D538}i");
        assert_eq!(stem("\u{1D538}y"), "\u{1D538}i");
    }
}
