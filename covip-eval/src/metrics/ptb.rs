//! PTB tokenisation as pycocoevalcap applies it.
//!
//! pycocoevalcap joins every caption of a corpus into one text (one caption per line, inner `\n`
//! replaced by a space), runs the Stanford CoreNLP 3.4.1 `PTBTokenizer` over that text with
//! `-preserveLines -lowerCase`, splits the printed output on `\n`, pairs the lines with the
//! captions in order, and finally drops the punctuation tokens listed in [`PUNCTUATIONS`].
//!
//! This module re-implements the lexer's behaviour in Rust: every lexer rule is expressed as a
//! regular expression; at each position all rules are tried, the longest match wins (trailing
//! context counts towards the length) and ties go to the earlier rule, exactly as a JFlex scanner
//! decides. Each rule then applies the same normalisation the lexer performs with its default
//! options (`-LRB-` brackets, LaTeX quotes, `--` dashes, `...` ellipses, currency and fraction
//! normalisation, split assimilations such as `gon na`, untokenisable characters deleted).
//!
//! Known limits: character classes follow the Unicode tables of the Rust `regex` crate rather
//! than the (older) Java tables the jar was generated with, so letters added to Unicode after
//! 2014 are words here and deleted by the jar; characters outside the Basic Multilingual Plane
//! are treated as untokenisable, as the jar does.

use std::sync::OnceLock;

use regex_automata::hybrid::dfa::{Cache, DFA, OverlappingState};
use regex_automata::{Anchored, Input, MatchKind};

/// The tokens pycocoevalcap removes after PTB tokenisation (compared case-sensitively, so the
/// lower-cased bracket tokens `-lrb-` etc. are kept, as in pycocoevalcap).
pub const PUNCTUATIONS: [&str; 17] = [
    "''", "'", "``", "`", "-LRB-", "-RRB-", "-LCB-", "-RCB-", ".", "?", "!", ",", ":", "-", "--",
    "...", ";",
];

/// What a rule does with the text it matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Act {
    /// Emit the matched text unchanged.
    Plain,
    /// Emit the text with soft hyphens removed.
    SoftHyphen,
    /// Consume without emitting (white space, untokenisable characters).
    Skip,
    /// A line break (`-preserveLines` turns it into a new output line).
    Newline,
    /// Emit all but the last `n` characters; they are lexed again.
    PushBack(usize),
    /// Emit the text followed by re-lexing the final period (abbreviation at sentence end).
    KeepAndRelexPeriod,
    /// Acronym before a sentence-initial word: `I.` → `I` + `.`, longer → `U.S.` + `.`.
    AcronymSentenceEnd,
    /// Emit a fixed string.
    Fixed(&'static str),
    /// Replace spaces by no-break spaces.
    SpaceToNbsp,
    /// Phone numbers: spaces to no-break spaces, brackets to `-LRB-`/`-RRB-`.
    Phone,
    /// Brackets inside smileys to `-LRB-`/`-RRB-`.
    Parens,
    /// `&amp;` → `&`.
    Amp,
    /// Vulgar fraction characters to `1/2` etc.
    Fraction,
    /// Currency signs normalised.
    Currency,
    /// Quote normalisation, probably an opening quote.
    QuoteLeft,
    /// Quote normalisation, probably a closing quote.
    QuoteRight,
    /// Two or more hyphens: `---`/`----` become `--`.
    Hyphens,
    /// Any ellipsis becomes `...`.
    Ellipsis,
}

struct Rule {
    main: String,
    look: Option<String>,
    act: Act,
}

/// Converts `\uXXXX` escapes (compact notation used below) into the regex crate's `\x{XXXX}`.
fn u(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 16);
    let b: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < b.len() {
        if b[i] == '\\' && i + 5 < b.len() && b[i + 1] == 'u' {
            let hex: String = b[i + 2..i + 6].iter().collect();
            out.push_str(&format!("\\x{{{hex}}}"));
            i += 6;
        } else if b[i] == '\\' && i + 1 < b.len() {
            out.push(b[i]);
            out.push(b[i + 1]);
            i += 2;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Builds the rule table (in the lexer's priority order).
fn rules() -> Vec<Rule> {
    // Java's `Character.isLetter` / `isDigit` on UTF-16 code units: BMP only.
    // The jar's tables were generated from Unicode 6.0 data: restrict to characters assigned
    // by then.
    let letter_cls = r"[\p{L}&&\p{Age=V6_0}&&[\x{0}-\x{FFFF}]]";
    let digit_cls = r"[\p{Nd}&&\p{Age=V6_0}&&[\x{0}-\x{FFFF}]]";
    let letdig_cls = r"[[\p{L}\p{Nd}]&&\p{Age=V6_0}&&[\x{0}-\x{FFFF}]]";
    let upper_cls = r"[\p{Lu}&&\p{Age=V6_0}&&[\x{0}-\x{FFFF}]]";

    let sgml = r#"<(?:[!?][A-Za-z\-][^>\r\n]*|[A-Za-z][A-Za-z0-9_:.\-]*(?:[ ]+(?:[A-Za-z][A-Za-z0-9_:.\-]*|[A-Za-z][A-Za-z0-9_:.\-]*[ ]*=[ ]*(?:'[^']*'|"[^"]*")))*[ ]*/?|/[A-Za-z][A-Za-z0-9_:.\-]*)[ ]*>"#.to_string();
    let spmdash = u(r"(?i:&(?:md|mdash|ndash);)|[\u0096\u0097\u2013\u2014\u2015]");
    let spamp = r"(?i:&amp;)".to_string();
    let sppunc = r"(?i:&(?:ht|tl|ur|lr|qc|ql|qr|odq|cdq|#[0-9]+);)".to_string();
    let splet = r"&[aeiouAEIOU](?i:acute|grave|uml);".to_string();
    let space = u(r"[ \t\u00A0\u2000-\u200A\u3000]");
    let spaces = format!("{space}+");
    let newline = u(r"(?:\r|\r?\n|\u2028|\u2029|\x0B|\x0C|\u0085)");
    let spacenl = format!("(?:{space}|{newline})");
    let spacenls = format!("{spacenl}+");
    let sentend = format!("{spacenl}(?:{spacenl}|{upper_cls}|{sgml})");
    let digit = format!(r"(?:{digit_cls}|[\x{{07C0}}-\x{{07C9}}])");
    let date = format!(r"{digit}{{1,2}}[\-/]{digit}{{1,2}}[\-/]{digit}{{2,4}}");
    let num = u(&format!(
        r"(?:{digit}+|{digit}*(?:[.:,\u00AD\u066B\u066C]{digit}+)+)"
    ));
    let number = format!(r"[\-+]?{num}");
    let subsupnum = u(
        r"[\u207A\u207B\u208A\u208B]?(?:[\u2070\u00B9\u00B2\u00B3\u2074-\u2079]+|[\u2080-\u2089]+)",
    );
    let frac = u(&format!(
        r"(?:{digit}{{1,4}}[\- \u00A0])?{digit}{{1,4}}(?:\\?/|\u2044){digit}{{1,4}}"
    ));
    let frac2 = u(r"[\u00BC\u00BD\u00BE\u2153-\u215E]");
    let dolsign = r"(?:[A-Z]*\$|#)".to_string();
    let dolsign2 = u(
        r"[\u00A2\u00A3\u00A4\u00A5\u0080\u20A0\u20AC\u060B\u0E3F\u20A4\uFFE0\uFFE1\uFFE5\uFFE6]",
    );
    let letter_extra = u(concat!(
        r"[\u00AD\u0237-\u024F\u02C2-\u02C5\u02D2-\u02DF\u02E5-\u02FF\u0300-\u036F\u0370-\u037D",
        r"\u0384\u0385\u03CF\u03F6\u03FC-\u03FF\u0483-\u0487\u04CF\u04F6-\u04FF\u0510-\u0525",
        r"\u055A-\u055F\u0591-\u05BD\u05BF\u05C1\u05C2\u05C4\u05C5\u05C7\u0615-\u061A\u063B-\u063F",
        r"\u064B-\u065E\u0670\u06D6-\u06EF\u06FA-\u06FF\u070F\u0711\u0730-\u074F\u0750-\u077F",
        r"\u07A6-\u07B1\u07CA-\u07F5\u07FA\u0900-\u0903\u093C\u093E-\u094E\u0951-\u0955",
        r"\u0962-\u0963\u0981-\u0983\u09BC-\u09C4\u09C7\u09C8\u09CB-\u09CD\u09D7\u09E2\u09E3",
        r"\u0A01-\u0A03\u0A3C\u0A3E-\u0A4F\u0A81-\u0A83\u0ABC-\u0ACF\u0B82\u0BBE-\u0BC2",
        r"\u0BC6-\u0BC8\u0BCA-\u0BCD\u0C01-\u0C03\u0C3E-\u0C56\u0D3E-\u0D44\u0D46-\u0D48",
        r"\u0E30-\u0E3A\u0E47-\u0E4E\u0EB1-\u0EBC\u0EC8-\u0ECD]"
    ));
    let letter = format!("(?:{letter_cls}|{splet}|{letter_extra})");
    let word = format!("{letter}(?:{letter}|{digit})*(?:[.!?]{letter}(?:{letter}|{digit})*)*");
    let filename_ext = "(?i:bat|bmp|c|class|cgi|cpp|dll|doc|docx|exe|gif|gz|h|htm|html|jar|java|jpeg|jpg|mov|mp3|pdf|php|pl|png|ppt|ps|py|sql|tar|txt|wav|x|xml|zip)";
    let filename =
        format!(r"(?:{letter}|{digit})+(?:[.](?:{letter}|{digit})+)*(?:[.]{filename_ext})");
    let apos = u(r"(?:['\u0092\u2019]|(?i:&apos;))");
    let aposetc = u(&format!(r"(?:{apos}|[`\u0091\u2018\u201B])"));
    let hyphen = u(r"[\-_\u058A\u2010\u2011]");
    let thing_part = format!("(?:[dDoOlL]{aposetc}{letdig_cls})?{letdig_cls}+");
    let thing = format!("{thing_part}(?:{hyphen}{thing_part})*");
    let thinga = r"[A-Z]+(?:(?:[+&]|(?i:&amp;))[A-Z]+)+".to_string();
    let thing3 =
        r"[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}(?:\\?/[A-Za-z0-9]+(?:-[A-Za-z]+){0,2}){1,2}".to_string();
    let acro_special = r"(?i:(?:canada|sino|korean|eu|japan|non)-u\.s|u\.s\.-(?:u\.k|u\.s\.s\.r))";
    let acro = format!(r"(?:[A-Za-z](?:\.[A-Za-z])*|{acro_special})");
    let acro2 = format!(r"(?:[A-Za-z](?:\.[A-Za-z])+|{acro_special})");
    let hthing = u(&format!(
        r"[A-Za-z0-9][A-Za-z0-9.,\u00AD]*(?:-(?:[A-Za-z0-9\u00AD]+|{acro2}\.))+"
    ));
    let redaux = format!("{apos}(?:[msdMSD]|(?i:re|ve|ll))");
    let sword = u(r"[A-Za-z\u00AD]*[A-MO-Za-mo-z]\u00AD*");
    let sredaux = format!("(?i:n){aposetc}(?i:t)");
    let l = letter_cls;
    let apoword = [
        format!("{apos}(?i:n){apos}?"),
        format!("[lLdDjJ]{apos}"),
        format!("(?i:dunkin){apos}"),
        format!("(?i:somethin){apos}"),
        format!("(?i:ol){apos}"),
        format!("{apos}(?i:em)"),
        format!("[A-HJ-XZn]{aposetc}{l}{{2}}{l}*"),
        format!("{apos}[2-9](?i:0s)"),
        format!("{apos}(?i:till?)"),
        format!("{l}{l}*[aeiouyAEIOUY]{aposetc}[aeiouA-Z]{l}*"),
        format!("{apos}(?i:cause)"),
        r"(?i:cont'd\.?|'twas|nor'easter|c'mon|e'er|s'mores|ev'ry|li'l|nat'l)".to_string(),
        format!("(?i:o){aposetc}(?i:o)"),
    ]
    .join("|");
    let apoword2 = format!("(?i:y){apos}");
    let fullurl = r#"(?i:https?)://[^ \t\n\f\r"<>|(){}]+[^ \t\n\f\r"<>|.!?(){},\-]"#.to_string();
    let likelyurl = r#"(?:(?:(?i:www)\.(?:[^ \t\n\f\r"<>|.!?(){},]+\.)+[a-zA-Z]{2,4})|(?:(?:[^ \t\n\f\r"`'<>|.!?(){}\x2C-\x5F$]+\.)+(?i:com|net|org|edu)))(?:/[^ \t\n\f\r"<>|()]+[^ \t\n\f\r"<>|.!?(){},\-])?"#.to_string();
    let email = u(
        r#"(?:(?i:&lt;)|<)?[a-zA-Z0-9][^ \t\n\f\r"<>|()\u00A0{}]*@(?:[^ \t\n\f\r"<>|(){}.\u00A0]+\.)*(?:[^ \t\n\f\r"<>|(){}.\u00A0]+)(?:(?i:&gt;)|>)?"#,
    );
    let twitter = format!("@[a-zA-Z_][a-zA-Z_0-9]*|#{letter}+");

    let abmonth = "(?i:jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)";
    let abdays = "(?i:mon|tue|tues|wed|thu|thurs|fri)";
    let abstate = "(?i:ala|ariz)|A(?i:z)|A(?i:rk)|(?i:calif|colo|conn|ct|dak)|D(?i:el)|(?i:fla|ga)|I(?i:ll)|(?i:ind|kans?|ky)|L(?i:a)|M(?i:ass)|(?i:md|mich|minn)|M(?i:iss)|(?i:mo|mont|neb|nev|okla)|O(?i:re)|P(?i:a)|(?i:penn|tenn)|T(?i:ex)|(?i:va|vt)|W(?i:ash)|(?i:wisc?|wyo)";
    let abcomp =
        "(?i:inc|cos?|corp)|(?i:pp?t)[ye](?i:s)?|(?i:ltd|plc|rt|bancorp|bhd|assn|univ|intl|sys)";
    let abnum = "(?i:tel|est|ext|sq)";
    let abptit = r"(?i:jr|sr|bros|(?:ed|ph)\.d|blvd|rd|esq)";
    let abbrev1 = format!(
        r"(?:{abmonth}|{abdays}|{abstate}|{abcomp}|{abnum}|{abptit}|(?i:etc|al|seq|bldg))\."
    );
    let abtitle = "(?i:mr|mrs|ms)|M(?i:iss)|(?i:drs?|profs?|sens?|reps?|attys?|lt|col|gen|messrs|govs?|adm|rev|maj|sgt|cpl|pvt|capt|ste?|ave|pres|lieut|hon|brig|co?mdr|pfc|spc|supts?|det|mt|ft|adj|adv|asst|assoc|ens|insp|mlle|mme|msgr|sfc)";
    let abcomp2 = "(?i:invt|elec|natl)|(?i:m)[ft](?i:g)|(?i:dept)";
    let abbrev4 =
        format!(r"(?:{abtitle}|(?i:vs|alex|wm|jos|cie|a\.k\.a|cf|treas|ph)|{acro}|{abcomp2})");
    let abbrev2 = format!(r"{abbrev4}\.");
    let acronym = format!(r"{acro}\.");
    let abbrev3 = r"(?i:ca|figs?|prop|nos?|art|bldg|pp|op)\.".to_string();
    let phone = u(concat!(
        r"(?:\([0-9]{2,3}\)[ \u00A0]?|(?:\+\+?)?(?:[0-9]{2,4}[\- \u00A0])?[0-9]{2,4}[\- \u00A0])",
        r"[0-9]{3,4}[\- \u00A0]?[0-9]{3,5}|(?:(?:\+\+?)?[0-9]{2,4}\.)?[0-9]{2,4}\.[0-9]{3,4}\.[0-9]{3,5}"
    ));
    let ldots = u(r"\.{3,5}|(?:\.[ \u00A0]){2,4}\.|[\u0085\u2026]");
    let fnmarks = "@+|#+|_+";
    let asts = r"\*+|(?:\\\*){1,3}";
    let insentp = u(r"[,;:\u3001]");
    let quotes = u(&format!(
        r"{apos}|''|[`\u2018\u2019\u201A\u201B\u201C\u201D\u0091\u0092\u0093\u0094\u201E\u201F\u2039\u203A\u00AB\u00BB]{{1,2}}"
    ));
    let dblquot = r#""|(?i:&quot;)"#;
    let tbspec = format!(
        r"(?i:-(?:rrb|lrb|rcb|lcb|rsb|lsb)-|c\.d\.s|pro-|anti-|s(?:&|&amp;)p-500|s(?:&|&amp;)ls)|(?i:cap){apos}(?i:n)|(?i:c){apos}(?i:est)"
    );
    let tbspec2 = format!("{apos}[0-9][0-9]");
    let smiley = r"[<>]?[:;=][\-o\*']?[()DPdpO\\{@|\[\]]";
    let asiansmiley = r"[\^x=~<>]\.\[\^x=~<>\]|[\-\^x=~<>']_[\-\^x=~<>']|\([\-\^x=~<>'][_.]?[\-\^x=~<>']\)|\([\^x=~<>']-[\^x=~<>'`]\)";
    let miscsymbol = u(concat!(
        r"[+%\&\~\^|\\\u00A6\u00A7\u00A8\u00A9\u00AC\u00AE\u00AF\u00B0-\u00B3\u00B4-\u00BA\u00D7\u00F7",
        r"\u0387\u05BE\u05C0\u05C3\u05C6\u05F3\u05F4\u0600-\u0603\u0606-\u060A\u060C\u0614\u061B",
        r"\u061E\u066A\u066D\u0703-\u070D\u07F6\u07F7\u07F8\u0964\u0965\u0E4F\u1FBD\u2016\u2017",
        r"\u2020-\u2023\u2030-\u2038\u203B\u203E-\u2042\u2044\u207A-\u207F\u208A-\u208E\u2100-\u214F",
        r"\u2190-\u21FF\u2200-\u2BFF\u3012\u30FB\uFF01-\uFF0F\uFF1A-\uFF20\uFF3B-\uFF40\uFF5B-\uFF65]"
    ));
    let sent_words = "A(?i:bout)|A(?i:ccording)|A(?i:dditionally)|A(?i:fter)|A(?i:n)|A|A(?i:s)|A(?i:t)|B(?i:ut)|E(?i:arlier)|H(?i:e)|H(?i:er)|H(?i:ere)|H(?i:owever)|I(?i:f)|I(?i:n)|I(?i:t)|L(?i:ast)|M(?i:any)|M(?i:ore)|M(?i:r)\\.|M(?i:s)\\.|N(?i:ow)|O(?i:nce)|O(?i:ne)|O(?i:ther)|O(?i:ur)|S(?i:he)|S(?i:ince)|S(?i:o)|S(?i:ome)|S(?i:uch)|T(?i:hat)|T(?i:he)|T(?i:heir)|T(?i:hen)|T(?i:here)|T(?i:hese)|T(?i:hey)|T(?i:his)|W(?i:e)|W(?i:hen)|W(?i:hile)|W(?i:hat)|Y(?i:et)|Y(?i:ou)";

    let r = |main: String, act: Act| Rule {
        main,
        look: None,
        act,
    };
    let rl = |main: String, look: String, act: Act| Rule {
        main,
        look: Some(look),
        act,
    };
    vec![
        r(r"(?i:c)\+\+".into(), Act::Plain),
        r("(?i:c|f)#".into(), Act::Plain),
        r("(?i:cannot)".into(), Act::PushBack(3)),
        r("(?i:'twas)".into(), Act::PushBack(3)),
        r("(?i:'tis)".into(), Act::PushBack(2)),
        r(
            "(?i:gonna|gotta|lemme|gimme|wanna)".into(),
            Act::PushBack(2),
        ),
        r(sgml.clone(), Act::SpaceToNbsp),
        r(spmdash, Act::Fixed("--")),
        r(spamp, Act::Amp),
        r(sppunc, Act::Plain),
        rl(word.clone(), redaux.clone(), Act::SoftHyphen),
        rl(sword, sredaux.clone(), Act::SoftHyphen),
        r(word.clone(), Act::SoftHyphen),
        r(apoword, Act::Plain),
        rl(apoword2, letter_cls.to_string(), Act::Plain),
        r(fullurl, Act::Plain),
        r(likelyurl, Act::Plain),
        r(email, Act::Plain),
        r(twitter, Act::Plain),
        rl(redaux.clone(), "[^A-Za-z]".into(), Act::QuoteRight),
        rl(sredaux.clone(), "[^A-Za-z]".into(), Act::QuoteRight),
        r(date, Act::Plain),
        r(number, Act::SoftHyphen),
        r(subsupnum, Act::Plain),
        r(frac, Act::SpaceToNbsp),
        r(frac2, Act::Fraction),
        r(tbspec, Act::Amp),
        r(thing3, Act::Plain),
        r(dolsign, Act::Plain),
        r(dolsign2, Act::Currency),
        rl(
            acronym.clone(),
            format!("{spacenls}(?:{sent_words}|{sgml}){spacenl}"),
            Act::AcronymSentenceEnd,
        ),
        rl(abbrev3, format!("{spacenl}?{digit_cls}"), Act::Plain),
        rl(
            r"(?:(?i:pt)[eyEY]|(?i:co))\.".into(),
            format!("{space}(?i:ltd|lim)"),
            Act::Plain,
        ),
        rl(abbrev1.clone(), sentend, Act::KeepAndRelexPeriod),
        rl(abbrev1.clone(), "(?s:..)".into(), Act::Plain),
        r(abbrev1, Act::KeepAndRelexPeriod),
        r(abbrev2, Act::Plain),
        rl(abbrev4, space.clone(), Act::Plain),
        rl(acro, spacenl.clone(), Act::Plain),
        rl(tbspec2, spacenl.clone(), Act::Plain),
        rl(filename, format!("(?:{spacenl}|[.?!,])"), Act::Plain),
        rl(format!(r"{word}\."), insentp.clone(), Act::SoftHyphen),
        r(phone, Act::Phone),
        rl(dblquot.into(), "[A-Za-z0-9$]".into(), Act::QuoteLeft),
        r(dblquot.into(), Act::QuoteRight),
        r(r"\x7F".into(), Act::Skip),
        r("<|(?i:&lt;)".into(), Act::Fixed("<")),
        r(">|(?i:&gt;)".into(), Act::Fixed(">")),
        rl(smiley.into(), "[^A-Za-z0-9]".into(), Act::Parens),
        r(asiansmiley.into(), Act::Parens),
        r(r"\{".into(), Act::Fixed("-LCB-")),
        r(r"\}".into(), Act::Fixed("-RCB-")),
        r(r"\[".into(), Act::Fixed("-LSB-")),
        r(r"\]".into(), Act::Fixed("-RSB-")),
        r(r"\(".into(), Act::Fixed("-LRB-")),
        r(r"\)".into(), Act::Fixed("-RRB-")),
        r(r"\-+".into(), Act::Hyphens),
        r(ldots, Act::Ellipsis),
        r(fnmarks.into(), Act::Plain),
        r(asts.into(), Act::Plain),
        r(insentp.clone(), Act::Plain),
        r("[?!]+".into(), Act::Plain),
        r(
            u(r"[.\u00A1\u00BF\u037E\u0589\u061F\u06D4\u0700-\u0702\u07FA\u3002]"),
            Act::Plain,
        ),
        r("=".into(), Act::Plain),
        r("/".into(), Act::Plain),
        rl(format!(r"{hthing}\."), insentp.clone(), Act::SoftHyphen),
        r(hthing, Act::SoftHyphen),
        rl(format!(r"{thing}\."), insentp.clone(), Act::Plain),
        r(thing, Act::Plain),
        rl(format!(r"{thinga}\."), insentp, Act::Amp),
        r(thinga, Act::Amp),
        rl("'".into(), u(r"[A-Za-z][^ \t\n\r\u00A0]"), Act::QuoteLeft),
        r(redaux, Act::QuoteRight),
        r(sredaux, Act::QuoteRight),
        r(quotes, Act::QuoteRight),
        r("<<|>>".into(), Act::Plain),
        r(miscsymbol, Act::Plain),
        r(
            u(&format!(r"\x00|{spaces}|[\u200B\u200E-\u200F\uFEFF]")),
            Act::Skip,
        ),
        r(newline, Act::Newline),
        r("(?i:&nbsp;)".into(), Act::Skip),
        r(r"[^\n]".into(), Act::Skip),
    ]
}

/// A compiled PTB lexer. Build once (see [`PtbTokenizer::global`]) and reuse.
pub struct PtbTokenizer {
    dfa: DFA,
    rules: Vec<Rule>,
    /// For trailing-context rules: `\A(?:main)\z` and `\A(?:look)\z`, compiled on first use.
    splits: Vec<OnceLock<(regex::Regex, regex::Regex)>>,
    /// Lazy-DFA caches handed back by finished calls (the states they hold are reused).
    caches: std::sync::Mutex<Vec<Cache>>,
}

impl std::fmt::Debug for PtbTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PtbTokenizer")
            .field("rules", &self.rules.len())
            .finish()
    }
}

impl PtbTokenizer {
    /// Compiles the lexer (tens of milliseconds).
    pub fn new() -> Self {
        let rules = rules();
        let patterns: Vec<String> = rules
            .iter()
            .map(|r| match &r.look {
                Some(look) => format!("(?:{})(?:{})", r.main, look),
                None => r.main.clone(),
            })
            .collect();
        let dfa = DFA::builder()
            .configure(
                DFA::config()
                    .match_kind(MatchKind::All)
                    .cache_capacity(32 << 20),
            )
            .build_many(&patterns)
            .expect("PTB lexer rules compile");
        let splits = rules.iter().map(|_| OnceLock::new()).collect();
        PtbTokenizer {
            dfa,
            rules,
            splits,
            caches: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The anchored body / trailing-context regexes of a trailing-context rule.
    fn split_regexes(&self, rule: usize) -> Option<&(regex::Regex, regex::Regex)> {
        let r = &self.rules[rule];
        let look = r.look.as_ref()?;
        Some(self.splits[rule].get_or_init(|| {
            (
                regex::Regex::new(&format!(r"\A(?:{})\z", r.main)).expect("PTB rule compiles"),
                regex::Regex::new(&format!(r"\A(?:{look})\z")).expect("PTB rule compiles"),
            )
        }))
    }

    /// The process-wide lexer, compiled on first use.
    pub fn global() -> &'static PtbTokenizer {
        static TOK: OnceLock<PtbTokenizer> = OnceLock::new();
        TOK.get_or_init(PtbTokenizer::new)
    }

    /// Tokenises `text` as `PTBTokenizer -preserveLines -lowerCase` prints it: one output line
    /// per input line (lines split at every line-break sequence the lexer knows: `\n`, `\r\n`,
    /// `\r`, U+2028, U+2029, U+000B, U+000C, U+0085), tokens lower-cased and joined by a space.
    pub fn tokenize_lines(&self, text: &str) -> Vec<String> {
        self.tokenize_lines_with(text, true)
    }

    /// [`Self::tokenize_lines`] with the fast path for plain text switched on or off (off: every
    /// token goes through the full rule set; the two must print the same lines).
    pub fn tokenize_lines_with(&self, text: &str, fast_path: bool) -> Vec<String> {
        self.lex(text, 0, text.len(), fast_path, false).lines
    }

    /// Lexes `text` from byte `from` (the lexer sees all of `text`, so trailing contexts
    /// reach past `stop`) until the first token boundary at or after `stop`: the printed lines
    /// (the first one begun at `from`; with `drop`, the [`PUNCTUATIONS`] dropped as
    /// [`drop_punctuation`] does) and that boundary.
    fn lex(&self, text: &str, from: usize, stop: usize, fast_path: bool, drop: bool) -> Lexed {
        let mut cache: Option<Cache> = self.caches.lock().ok().and_then(|mut v| v.pop());
        let mut period_memo: std::collections::HashMap<&str, bool> =
            std::collections::HashMap::new();
        // Lines start with room for a typical caption (fewer reallocations as tokens come).
        let mut lines = Vec::with_capacity((stop - from) / 48 + 1);
        lines.push(String::with_capacity(LINE_CAPACITY));
        let mut out = Sink {
            drop,
            lines,
            raw_len: 0,
            starts: if drop { vec![from] } else { Vec::new() },
            exotic: Vec::new(),
        };
        let mut pos = from;
        let bytes = text.as_bytes();
        while pos < stop {
            if fast_path {
                let mut fast = fast_token(bytes, pos);
                if let Fast::WordBeforePeriod(end) = fast {
                    let w = &text[pos..end];
                    let safe = match period_memo.get(w) {
                        Some(&v) => v,
                        None => {
                            let cache = cache.get_or_insert_with(|| Cache::new(&self.dfa));
                            let v = self.period_safe(cache, w);
                            period_memo.insert(w, v);
                            v
                        }
                    };
                    fast = if safe { Fast::Token(end) } else { Fast::No };
                }
                match fast {
                    Fast::Token(end) | Fast::WordBeforePeriod(end) => {
                        out.ascii_token(&text[pos..end]);
                        pos = end;
                        continue;
                    }
                    Fast::Skip(end) => {
                        pos = end;
                        continue;
                    }
                    Fast::Newline => {
                        pos += 1;
                        out.newline(pos);
                        continue;
                    }
                    Fast::No => {}
                }
            }
            let cache = cache.get_or_insert_with(|| Cache::new(&self.dfa));
            let (rule, end) = self.longest(cache, text, pos);
            let Some(rule_idx) = rule else {
                // Cannot happen (the last rule matches any character but \n, and \n is a
                // newline); advance one character defensively.
                let ch = text[pos..].chars().next().map_or(1, char::len_utf8);
                pos += ch;
                continue;
            };
            let r = &self.rules[rule_idx];
            // The token text proper (trailing context excluded).
            let tok_end = match self.split_regexes(rule_idx) {
                Some((m, l)) => split_point(text, pos, end, m, l),
                None => end,
            };
            let yytext = &text[pos..tok_end];
            let mut next = tok_end;
            let emitted: Option<String> = match r.act {
                Act::Plain => Some(yytext.to_string()),
                Act::SoftHyphen => Some(remove_soft_hyphens(yytext)),
                Act::Skip => None,
                Act::Newline => {
                    out.newline(next);
                    None
                }
                Act::PushBack(n) => {
                    let cut = char_back(yytext, n);
                    next = pos + cut;
                    Some(yytext[..cut].to_string())
                }
                Act::KeepAndRelexPeriod => {
                    next = tok_end - 1;
                    Some(yytext.to_string())
                }
                Act::AcronymSentenceEnd => {
                    if yytext.chars().count() == 2 {
                        next = tok_end - 1;
                        Some(yytext[..yytext.len() - 1].to_string())
                    } else {
                        next = tok_end - 1;
                        Some(yytext.to_string())
                    }
                }
                Act::Fixed(s) => Some(s.to_string()),
                Act::SpaceToNbsp => Some(yytext.replace(' ', "\u{00A0}")),
                Act::Phone => Some(
                    yytext
                        .replace(' ', "\u{00A0}")
                        .replace('(', "-LRB-")
                        .replace(')', "-RRB-"),
                ),
                Act::Parens => Some(yytext.replace('(', "-LRB-").replace(')', "-RRB-")),
                Act::Amp => Some(normalize_amp(yytext)),
                Act::Fraction => Some(
                    yytext
                        .replace('\u{00BC}', "1/4")
                        .replace('\u{00BD}', "1/2")
                        .replace('\u{00BE}', "3/4")
                        .replace('\u{2153}', "1/3")
                        .replace('\u{2154}', "2/3"),
                ),
                Act::Currency => Some(
                    yytext
                        .replace('\u{00A2}', "cents")
                        .replace('\u{00A3}', "#")
                        .replace(['\u{0080}', '\u{00A4}', '\u{20A0}', '\u{20AC}'], "$"),
                ),
                Act::QuoteLeft => Some(latex_quotes(yytext, true)),
                Act::QuoteRight => Some(latex_quotes(yytext, false)),
                Act::Hyphens => {
                    let n = yytext.len();
                    Some(if (3..=4).contains(&n) {
                        "--".to_string()
                    } else {
                        yytext.to_string()
                    })
                }
                Act::Ellipsis => Some("...".to_string()),
            };
            if let Some(tok) = emitted {
                out.token(&java_lowercase(&tok));
            }
            debug_assert!(next > pos, "lexer must advance");
            pos = if next > pos { next } else { end.max(pos + 1) };
        }
        if let (Some(c), Ok(mut v)) = (cache, self.caches.lock()) {
            v.push(c);
        }
        let fresh = out.raw_len == 0;
        let Sink {
            mut lines,
            starts,
            exotic,
            ..
        } = out;
        // Lines with a token that makes dropping on the fly inexact: lex them again as
        // printed and drop the punctuation from the printed line.
        for i in exotic {
            let to = starts.get(i + 1).copied().unwrap_or(pos);
            let printed = self.lex(text, starts[i], to, fast_path, false).lines;
            lines[i] = drop_punctuation(&printed[0]);
        }
        Lexed {
            lines,
            end: pos,
            fresh,
        }
    }

    /// Whether the letter run `w` (1..=7 ASCII letters) before a plain period is printed as
    /// it is: no abbreviation rule (`etc.`, `Mr.`, `no. 5`, `Co. Ltd`, acronyms) matches it.
    /// Those rules need no trailing context, a digit, or ` ltd`/` lim` after the period, so
    /// the three probes cover them; every other rule stops before such a period.
    fn period_safe(&self, cache: &mut Cache, w: &str) -> bool {
        [format!("{w}."), format!("{w}. 5"), format!("{w}. ltd")]
            .iter()
            .all(|probe| {
                let (rule, end) = self.longest(cache, probe, 0);
                let Some(r) = rule else { return false };
                let tok_end = match self.split_regexes(r) {
                    Some((m, l)) => split_point(probe, 0, end, m, l),
                    None => end,
                };
                tok_end == w.len() && matches!(self.rules[r].act, Act::Plain | Act::SoftHyphen)
            })
    }

    /// Longest match at `pos` over all rules; ties go to the earliest rule.
    fn longest(&self, cache: &mut Cache, text: &str, pos: usize) -> (Option<usize>, usize) {
        let input = Input::new(text).range(pos..).anchored(Anchored::Yes);
        let mut state = OverlappingState::start();
        let mut best: Option<(usize, usize)> = None; // (end, rule)
        loop {
            self.dfa
                .try_search_overlapping_fwd(cache, &input, &mut state)
                .expect("lazy DFA search does not fail on these rules");
            let Some(hm) = state.get_match() else { break };
            let (pid, end) = (hm.pattern().as_usize(), hm.offset());
            if end == pos {
                continue;
            }
            best = match best {
                None => Some((end, pid)),
                Some((be, bp)) if end > be || (end == be && pid < bp) => Some((end, pid)),
                b => b,
            };
        }
        match best {
            Some((end, pid)) => (Some(pid), end),
            None => (None, pos),
        }
    }
}

/// Initial capacity of a printed line.
const LINE_CAPACITY: usize = 64;

/// What [`PtbTokenizer::lex`] returns.
struct Lexed {
    lines: Vec<String>,
    /// Where the lexer stopped (a token boundary).
    end: usize,
    /// Whether the last printed line is empty (nothing printed since the last line break).
    fresh: bool,
}

/// The lines [`PtbTokenizer::lex`] prints.
struct Sink {
    /// Drop the [`PUNCTUATIONS`] as tokens come (see [`Sink::token`]).
    drop: bool,
    lines: Vec<String>,
    /// Length of the current line as printed (without dropping).
    raw_len: usize,
    /// With `drop`: where each line begins in the text, and the lines that hold a token that
    /// dropping on the fly cannot handle exactly.
    starts: Vec<usize>,
    exotic: Vec<usize>,
}

impl Sink {
    /// Appends a token to the current line. Printed lines are the tokens joined by a space;
    /// [`drop_punctuation`] right-strips a line, splits it at spaces and drops the
    /// punctuation tokens, so as long as no token is empty, holds a space or ends in white
    /// space, dropping punctuation tokens as they come gives the same line. Lines with such
    /// a token are marked, to be redone.
    fn token(&mut self, tok: &str) {
        let line = self.lines.last_mut().expect("at least one line");
        self.raw_len += usize::from(self.raw_len > 0) + tok.len();
        if self.drop {
            let b = tok.as_bytes();
            if b.is_empty() || b.contains(&b' ') || tok.ends_with(py_is_space) {
                let i = self.lines.len() - 1;
                if self.exotic.last() != Some(&i) {
                    self.exotic.push(i);
                }
                return;
            }
            if is_punctuation(b) {
                return;
            }
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(tok);
    }

    /// [`Sink::token`] for a token of ASCII letters or punctuation (lower-cased here; never
    /// empty, no white space).
    fn ascii_token(&mut self, tok: &str) {
        self.raw_len += usize::from(self.raw_len > 0) + tok.len();
        if self.drop && is_punctuation(tok.as_bytes()) {
            return;
        }
        let line = self.lines.last_mut().expect("at least one line");
        if !line.is_empty() {
            line.push(' ');
        }
        let start = line.len();
        line.push_str(tok);
        line[start..].make_ascii_lowercase();
    }

    /// A line break; the next line begins at `next`.
    fn newline(&mut self, next: usize) {
        self.lines.push(String::with_capacity(LINE_CAPACITY));
        self.raw_len = 0;
        if self.drop {
            self.starts.push(next);
        }
    }
}

/// What the fast path decided at one position.
enum Fast {
    /// Emit `text[pos..end]` (ASCII, lower-cased on output) and continue at `end`.
    Token(usize),
    /// Consume `text[pos..end]` silently.
    Skip(usize),
    /// A `\n` line break.
    Newline,
    /// `[A-Za-z]{1,7}` ending at `end` before a plain period: a token unless an abbreviation
    /// rule claims it (decided by [`PtbTokenizer::period_safe`]).
    WordBeforePeriod(usize),
    /// Not plain text: use the full rule set.
    No,
}

/// Words that an earlier rule splits (`cannot` → `can not`, `gonna` → `gon na`, ...).
fn is_split_word(w: &[u8]) -> bool {
    const SPLIT: [&[u8]; 6] = [b"cannot", b"gonna", b"gotta", b"lemme", b"gimme", b"wanna"];
    SPLIT.iter().any(|s| s.eq_ignore_ascii_case(w))
}

/// The lexer's decision for the commonest plain-text shapes, taken without the rule set when it
/// provably equals the full longest-match result:
///
/// * `[A-Za-z]+` followed by a space, `\n` or the end: no rule can match across the space
///   (rules containing a space start with `<`, a digit, `(`, `+` or need a `.` before it) and
///   every rule matching exactly the run (word, acronym, abbreviation) prints it unchanged;
///   the earlier splitting rules (`cannot`, `gonna`, ...) are excluded. Likewise before a `,`
///   that is followed by a space, `\n` or the end (no e-mail, URL or number can continue), and
///   before a plain period (see [`plain_period`]) when the run has 8 letters or more.
/// * a run of ASCII spaces (skipped; no rule starts with a space but the skip rule);
/// * `\n` (a line break; `\r\n` is left to the rules);
/// * `,` `;` `:` or a `?`/`!` run followed by a space, `\n` or the end (no number, no smiley),
///   also right after a letter run;
/// * `.` followed by `\n`, the end, or a space and then neither `.` nor U+00A0 (no number, no
///   spaced ellipsis `. . .`).
fn fast_token(b: &[u8], pos: usize) -> Fast {
    let c = b[pos];
    let boundary = |i: usize| i >= b.len() || b[i] == b' ' || b[i] == b'\n';
    if c.is_ascii_alphabetic() {
        let mut end = pos + 1;
        while end < b.len() && b[end].is_ascii_alphabetic() {
            end += 1;
        }
        if is_split_word(&b[pos..end]) {
            return Fast::No;
        }
        if boundary(end) || plain_punct_end(b, end).is_some() {
            return Fast::Token(end);
        }
        // Abbreviation rules (`etc.`, `Mr.`, `bancorp.`, single-letter acronyms) only cover
        // letter runs of at most 7 letters; longer ones end before a plain period.
        if b[end] == b'.' && plain_period(b, end) {
            return if end - pos >= 8 {
                Fast::Token(end)
            } else {
                Fast::WordBeforePeriod(end)
            };
        }
        return Fast::No;
    }
    if let Some(end) = plain_punct_end(b, pos) {
        return Fast::Token(end);
    }
    match c {
        b' ' => {
            let mut end = pos + 1;
            while end < b.len() && b[end] == b' ' {
                end += 1;
            }
            Fast::Skip(end)
        }
        b'\n' => Fast::Newline,
        b'.' if plain_period(b, pos) => Fast::Token(pos + 1),
        _ => Fast::No,
    }
}

/// `,` `;` `:` or a run of `?`/`!` at `pos` followed by a space, `\n` or the end: the lexer
/// prints it as one token (no number, smiley, URL or e-mail can continue it). Returns its end.
fn plain_punct_end(b: &[u8], pos: usize) -> Option<usize> {
    let boundary = |i: usize| i >= b.len() || b[i] == b' ' || b[i] == b'\n';
    let end = match b.get(pos)? {
        b',' | b';' | b':' => pos + 1,
        b'?' | b'!' => {
            let mut e = pos + 1;
            while e < b.len() && matches!(b[e], b'?' | b'!') {
                e += 1;
            }
            e
        }
        _ => return None,
    };
    boundary(end).then_some(end)
}

/// A `.` at `pos` that the lexer prints as a token of its own: followed by `\n`, the end, or a
/// space and then neither `.` nor U+00A0 (no number `.5`, no spaced ellipsis `. . .`, no
/// continuation such as `.com` or `.jpg`).
fn plain_period(b: &[u8], pos: usize) -> bool {
    let n = pos + 1;
    if n >= b.len() || b[n] == b'\n' {
        return true;
    }
    if b[n] == b' ' {
        // U+00A0 is the two bytes C2 A0; `.` and the NBSP lead byte are both excluded.
        let after = b.get(n + 1).copied();
        return after != Some(b'.') && after != Some(0xC2);
    }
    false
}

impl Default for PtbTokenizer {
    fn default() -> Self {
        Self::new()
    }
}

/// The longest prefix of `text[pos..end]` matching the rule body with the rest matching its
/// trailing context.
fn split_point(
    text: &str,
    pos: usize,
    end: usize,
    main: &regex::Regex,
    look: &regex::Regex,
) -> usize {
    let s = &text[pos..end];
    let mut cut = s.len();
    loop {
        if s.is_char_boundary(cut)
            && cut > 0
            && main.is_match(&s[..cut])
            && look.is_match(&s[cut..])
        {
            return pos + cut;
        }
        if cut == 0 {
            return end;
        }
        cut -= 1;
    }
}

/// Byte index that leaves `n` characters off the end of `s`.
fn char_back(s: &str, n: usize) -> usize {
    let mut idx = s.len();
    for _ in 0..n {
        match s[..idx].char_indices().next_back() {
            Some((i, _)) => idx = i,
            None => break,
        }
    }
    idx
}

fn remove_soft_hyphens(s: &str) -> String {
    if !s.contains('\u{00AD}') {
        return s.to_string();
    }
    let out: String = s.chars().filter(|&c| c != '\u{00AD}').collect();
    if out.is_empty() { "-".to_string() } else { out }
}

fn normalize_amp(s: &str) -> String {
    // Case-insensitive `&amp;` → `&`.
    let lower = s.to_ascii_lowercase();
    if !lower.contains("&amp;") {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if lower[i..].starts_with("&amp;") {
            out.push('&');
            i += 5;
        } else {
            let c = s[i..].chars().next().expect("in bounds");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

fn latex_quotes(s: &str, probably_left: bool) -> String {
    let (single, double) = if probably_left {
        ("`", "``")
    } else {
        ("'", "''")
    };
    let s = s.replace("&apos;", single).replace('\'', single);
    let s = s.replace('"', double).replace("&quot;", double);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\u{0091}' | '\u{2018}' | '\u{201B}' | '\u{2039}' => out.push('`'),
            '\u{0092}' | '\u{2019}' | '\u{203A}' => out.push('\''),
            '\u{0093}' | '\u{201C}' | '\u{00AB}' => out.push_str("``"),
            '\u{0094}' | '\u{201D}' | '\u{00BB}' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out
}

/// `String.toLowerCase(Locale.ENGLISH)`: per-character Unicode lower-casing, with Java's
/// final-sigma rule (Σ → ς only when a cased letter precedes it within the same word and none
/// follows it within that word; a "word" here is a run of letters, digits and marks).
fn java_lowercase(s: &str) -> String {
    if s.is_ascii() {
        return s.to_ascii_lowercase();
    }
    let chars: Vec<char> = s.chars().collect();
    let in_word = |c: char| c.is_alphanumeric() || is_mark(c);
    let cased =
        |c: char| c.is_lowercase() || c.is_uppercase() || c != c.to_lowercase().next().unwrap_or(c);
    let mut out = String::with_capacity(s.len());
    for (i, &c) in chars.iter().enumerate() {
        if c == '\u{03A3}' {
            let before = chars[..i]
                .iter()
                .rev()
                .take_while(|&&p| in_word(p))
                .any(|&p| cased(p));
            let after = chars[i + 1..]
                .iter()
                .take_while(|&&n| in_word(n))
                .any(|&n| cased(n));
            out.push(if before && !after {
                '\u{03C2}'
            } else {
                '\u{03C3}'
            });
        } else {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Combining marks (general categories Mn, Mc, Me), approximated by the main combining blocks.
fn is_mark(c: char) -> bool {
    matches!(c as u32, 0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F)
}

/// Tokenises a corpus exactly as pycocoevalcap's `PTBTokenizer.tokenize` does: all captions
/// (in the given order) joined into one text, one caption per line, tokenised as one stream,
/// output lines paired with the captions in order, and the [`PUNCTUATIONS`] tokens dropped.
///
/// Returns one tokenised string per input caption (same nesting as the input). Like
/// pycocoevalcap, a caption containing a line break the lexer recognises other than `\n`
/// (`\r`, U+2028, ...) shifts the lines of every later caption; where the lexer prints fewer
/// lines than captions (not possible with this lexer) the missing captions would be empty.
pub fn tokenize_corpus(captions: &[Vec<String>]) -> Vec<Vec<String>> {
    tokenize_corpora(&[captions]).pop().expect("one corpus")
}

/// [`tokenize_corpus`] of each corpus (each one stream, as pycocoevalcap tokenises references
/// and candidates in two calls), with the text of all of them shared out between two threads.
///
/// The lexer's only state is its position, so a stream can be lexed in pieces that start at
/// line starts; pieces are stitched where the lexer of the previous piece stopped exactly at
/// the next piece's start, on a fresh line (always, unless a token spans a line break); a
/// stream where that fails is lexed again in one piece.
pub fn tokenize_corpora(corpora: &[&[Vec<String>]]) -> Vec<Vec<Vec<String>>> {
    let texts: Vec<String> = corpora.iter().map(|c| join_stream(c)).collect();
    let total: usize = texts.iter().map(String::len).sum();
    let lines = lex_texts(&texts, (total >= 4096).then_some(total / 2));
    corpora
        .iter()
        .zip(lines)
        .map(|(caps, lines)| {
            let mut it = lines.into_iter();
            caps.iter()
                .map(|c| c.iter().map(|_| it.next().unwrap_or_default()).collect())
                .collect()
        })
        .collect()
}

/// The lines of each text, punctuation dropped; with `cut`, the concatenated texts are cut
/// at the first line start at or after byte `cut` and the two parts are lexed on two threads.
fn lex_texts(texts: &[String], cut: Option<usize>) -> Vec<Vec<String>> {
    let tok = PtbTokenizer::global();
    let mut target = cut;
    let mut pieces: Vec<(usize, usize, usize)> = Vec::new(); // (text, from, stop)
    let mut first_half = 0; // pieces of the first thread
    for (t, text) in texts.iter().enumerate() {
        let len = text.len();
        match target {
            Some(h) if h < len => {
                let cut = text.as_bytes()[h..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(len, |p| h + p + 1);
                pieces.push((t, 0, cut));
                first_half = pieces.len();
                if cut < len {
                    pieces.push((t, cut, len));
                }
                target = None;
            }
            Some(h) => {
                pieces.push((t, 0, len));
                target = Some(h - len);
            }
            None => pieces.push((t, 0, len)),
        }
    }
    let lex = |&(t, from, stop): &(usize, usize, usize)| {
        let l = tok.lex(&texts[t], from, stop, true, true);
        (l.lines, l.end, l.fresh)
    };
    let lexed: Vec<(Vec<String>, usize, bool)> = if first_half == 0 || first_half == pieces.len() {
        pieces.iter().map(lex).collect()
    } else {
        // Two halves as two rayon tasks (one thread when the pool has one).
        let (mut out, second) = rayon::join(
            || pieces[..first_half].iter().map(lex).collect::<Vec<_>>(),
            || pieces[first_half..].iter().map(lex).collect::<Vec<_>>(),
        );
        out.extend(second);
        out
    };
    // Stitch the pieces of each text: the previous piece must have stopped exactly where this
    // one starts, on a fresh line (which this piece's first line continues).
    let mut lines: Vec<Vec<String>> = vec![Vec::new(); texts.len()];
    let mut ok = vec![true; texts.len()];
    let mut prev: Option<(usize, bool)> = None; // (end, fresh) of the previous piece
    for (&(t, from, _), (piece, end, fresh)) in pieces.iter().zip(lexed) {
        if from > 0 {
            match prev {
                Some((e, true)) if e == from => {
                    lines[t].pop();
                }
                _ => ok[t] = false,
            }
        }
        lines[t].extend(piece);
        prev = Some((end, fresh));
    }
    for (t, text) in texts.iter().enumerate() {
        if !ok[t] {
            lines[t] = tok.lex(text, 0, text.len(), true, true).lines;
        }
    }
    lines
}

/// pycocoevalcap's text of a caption stream: the captions one per line, inner `\n` replaced
/// by a space.
fn join_stream(captions: &[Vec<String>]) -> String {
    let mut out = String::with_capacity(captions.iter().flatten().map(|c| c.len() + 1).sum());
    for (i, c) in captions.iter().flatten().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if c.contains('\n') {
            out.push_str(&c.replace('\n', " "));
        } else {
            out.push_str(c);
        }
    }
    out
}

/// Whether `w` is one of the [`PUNCTUATIONS`].
fn is_punctuation(w: &[u8]) -> bool {
    matches!(
        w.first(),
        Some(b'\'' | b'`' | b'-' | b'.' | b'?' | b'!' | b',' | b':' | b';')
    ) && PUNCTUATIONS.iter().any(|p| p.as_bytes() == w)
}

/// Drops the [`PUNCTUATIONS`] tokens from one printed line (pycocoevalcap splits the
/// right-stripped line on single spaces and re-joins the kept tokens with single spaces).
pub fn drop_punctuation(line: &str) -> String {
    let trimmed = line.trim_end_matches(py_is_space);
    let mut out = String::with_capacity(trimmed.len());
    for (i, w) in trimmed
        .split(' ')
        .filter(|w| !is_punctuation(w.as_bytes()))
        .enumerate()
    {
        if i > 0 {
            out.push(' ');
        }
        out.push_str(w);
    }
    out
}

// Python's white space (`str.isspace`, `str.split()`), as pycocoevalcap applies it: the one
// copy lives in covip-data; these names are what the metrics modules import.
pub use covip_data::pystr::{
    SplitWhitespace as PySplit, is_space as py_is_space, split_whitespace as py_split_whitespace,
};

#[cfg(test)]
mod tests {
    use super::*;

    fn tok(s: &str) -> String {
        PtbTokenizer::global().tokenize_lines(s).join("\n")
    }

    #[test]
    fn basic_quirks() {
        assert_eq!(
            tok("A man's dog doesn't like it."),
            "a man 's dog does n't like it ."
        );
        assert_eq!(tok("(with brackets)"), "-lrb- with brackets -rrb-");
        assert_eq!(tok("I can't go"), "i ca n't go");
        assert_eq!(tok("gonna"), "gon na");
        assert_eq!(tok("\"Quoted\" text"), "`` quoted '' text");
    }

    #[test]
    fn punctuation_list_is_case_sensitive() {
        assert_eq!(drop_punctuation("a -lrb- b -LRB- . c"), "a -lrb- b c");
    }

    #[test]
    fn stream_pieces_stitch_like_one_stream() {
        // Line-crossing tokens (an SGML tag with a quoted line break, `\r\n`), trailing
        // contexts that look at the next line, punctuation-only lines, empty lines.
        let lines = [
            "A man's dog doesn't like it.",
            "<a href='x",
            "y'> tag",
            "U.S.",
            "The end. etc.",
            "",
            "Mr.",
            "Smith \r",
            "-- ...",
            "'tis gonna rain (cannot) 3 1/2 :)",
            "e.g. foo@bar.com http://x.org/a.",
            "caf\u{e9} \u{3a3}\u{39f}\u{3a6}\u{399}\u{391} end",
            // A token ending in white space (U+001C): the printed line is right-stripped.
            "mail a@b\u{1c}",
            "a@b\u{1c} . x",
        ];
        let text = lines.join("\n");
        let tok = PtbTokenizer::global();
        let whole: Vec<String> = tok
            .tokenize_lines(&text)
            .iter()
            .map(|l| drop_punctuation(l))
            .collect();
        assert!(
            whole[1].contains('\n'),
            "a token spans a line break: {whole:?}"
        );
        assert_eq!(whole[whole.len() - 2..], ["mail a@b", "a@b\u{1c} x"]);
        for cut in 0..=text.len() + 1 {
            let texts = vec![text.clone()];
            assert_eq!(
                lex_texts(&texts, Some(cut)),
                vec![whole.clone()],
                "cut {cut}"
            );
            // Across two texts: the cut falls in the second one.
            let two = vec![text.clone(), text.clone()];
            let got = lex_texts(&two, Some(text.len() + cut));
            assert_eq!(
                got,
                vec![whole.clone(), whole.clone()],
                "second text, cut {cut}"
            );
        }
    }

    #[test]
    fn punctuation_dropping_keeps_pycocoevalcap_joins() {
        for line in [
            "a . b",
            ". a",
            "a .",
            " a  b ",
            "a -- b\u{a0}",
            ". .",
            "",
            "-lrb- ''",
        ] {
            let reference: Vec<&str> = line
                .trim_end_matches(py_is_space)
                .split(' ')
                .filter(|w| !PUNCTUATIONS.contains(w))
                .collect();
            assert_eq!(drop_punctuation(line), reference.join(" "), "{line:?}");
        }
    }

    #[test]
    fn corpus_pairs_lines() {
        let caps = vec![
            vec!["A dog.".to_string(), "Two\ncats!".to_string()],
            vec![String::new()],
        ];
        assert_eq!(
            tokenize_corpus(&caps),
            vec![
                vec!["a dog".to_string(), "two cats".to_string()],
                vec![String::new()]
            ]
        );
    }
}
