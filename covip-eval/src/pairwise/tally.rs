//! `tally`: un-blinding exported choices with the key, and counting them.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;
use serde_json::Value;

use super::{Criterion, KEY_FORMAT, PairwiseError, SheetKey, Source, read_bounded};

/// Format tag of the page's export.
pub const CHOICES_FORMAT: &str = "covip-pairwise-choices/1";
/// The largest export or key read.
pub const MAX_CHOICES_FILE_BYTES: u64 = 64 << 20;
/// The normal quantile of a two-sided 95 % interval, Φ⁻¹(0.975).
pub const WILSON_Z95: f64 = 1.959_963_984_540_054;

/// An answer as the page gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    A,
    B,
    Tie,
}

/// One pair's answers in an export; `None` where the rater gave none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChoiceRow {
    pub pair: String,
    pub context: Option<Answer>,
    pub description: Option<Answer>,
}

impl ChoiceRow {
    fn answer(&self, c: Criterion) -> Option<Answer> {
        match c {
            Criterion::Context => self.context,
            Criterion::Description => self.description,
        }
    }
}

/// One rater's export, as the page's export button writes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChoicesExport {
    pub sheet_id: String,
    /// What the rater typed in the name field (may be empty).
    pub rater: String,
    pub choices: Vec<ChoiceRow>,
}

/// How strict [`tally`] is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TallyOptions {
    /// Count the answers given and report the rest as unanswered, instead of failing when
    /// an export leaves a question of the key unanswered.
    pub allow_incomplete: bool,
}

/// The counts of one criterion, un-blinded.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CriterionTally {
    pub question: String,
    /// Judgements preferring the first caption file given to `make`.
    pub a_file_wins: u64,
    /// Judgements preferring the second.
    pub b_file_wins: u64,
    pub ties: u64,
    pub unanswered: u64,
    /// `a_file_wins / (a_file_wins + b_file_wins)`: ties excluded; `null` with no non-tie
    /// judgement.
    pub a_file_share: Option<f64>,
    /// The 95 % Wilson score interval of `a_file_share`.
    pub ci_low: Option<f64>,
    pub ci_high: Option<f64>,
}

/// How the interval is computed, stated in the output.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct IntervalInfo {
    pub method: &'static str,
    pub level: f64,
    pub z: f64,
    pub of: &'static str,
}

/// The tally of one sheet over one or more exports (judgements pooled).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tally {
    pub sheet_id: String,
    pub a_file: String,
    pub b_file: String,
    pub data: String,
    pub pairs: usize,
    /// The exports counted, in order, with the rater name each gave.
    pub exports: Vec<ExportInfo>,
    pub interval: IntervalInfo,
    /// `context` and `description`.
    pub criteria: BTreeMap<&'static str, CriterionTally>,
}

/// One export counted.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ExportInfo {
    pub file: String,
    pub rater: String,
}

/// The Wilson score interval (Wilson 1927) for `successes` out of `n` at normal quantile `z`;
/// `None` when `n` is 0. Unlike the Wald interval it stays inside [0, 1] and is usable for the
/// small counts a human study gives.
pub fn wilson_interval(successes: u64, n: u64, z: f64) -> Option<(f64, f64)> {
    if n == 0 || successes > n {
        return None;
    }
    let n = n as f64;
    let p = successes as f64 / n;
    let z2 = z * z;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = z / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At 0 and n successes the bound is exactly 0 or 1; rounding would leave 1e-16 off.
    let low = if successes == 0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if p == 1.0 {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    Some((low, high))
}

fn parse_answer(v: Option<&Value>) -> Result<Option<Answer>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s == "A" => Ok(Some(Answer::A)),
        Some(Value::String(s)) if s == "B" => Ok(Some(Answer::B)),
        Some(Value::String(s)) if s == "Tie" => Ok(Some(Answer::Tie)),
        Some(other) => {
            let mut shown = other.to_string();
            if shown.len() > 40 {
                let cut = (0..=40)
                    .rev()
                    .find(|&i| shown.is_char_boundary(i))
                    .unwrap_or(0);
                shown.truncate(cut);
                shown.push('…');
            }
            Err(format!("{shown} is not \"A\", \"B\", \"Tie\" or null"))
        }
    }
}

/// Reads a choices export, checking its shape: the format tag, the sheet id, one row per pair
/// at most, and every answer `"A"`, `"B"`, `"Tie"` or `null`.
pub fn read_choices(path: &Path) -> Result<ChoicesExport, PairwiseError> {
    let bytes = read_bounded(path, MAX_CHOICES_FILE_BYTES, "choices file")?;
    let bad = |m: String| PairwiseError::invalid(path, m);
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(bad("not a choices export: expected a JSON object".into()));
    };
    match obj.get("format") {
        Some(Value::String(f)) if f == CHOICES_FORMAT => {}
        Some(Value::String(f)) if f == KEY_FORMAT => {
            return Err(bad(
                "this is a sheet key, not a choices export (pass the key with --key)".into(),
            ));
        }
        Some(other) => {
            return Err(bad(format!(
                "format {other} is not {CHOICES_FORMAT:?}: not an export of a covip pairwise sheet"
            )));
        }
        None => {
            return Err(bad(
                "no \"format\" field: not an export of a covip pairwise sheet".into(),
            ));
        }
    }
    let sheet_id = match obj.get("sheet_id") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        _ => return Err(bad("\"sheet_id\" missing or not a non-empty string".into())),
    };
    let rater = match obj.get("rater") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(bad("\"rater\" is not a string".into())),
    };
    let Some(Value::Array(rows)) = obj.get("choices") else {
        return Err(bad("\"choices\" missing or not an array".into()));
    };
    let mut seen = HashSet::new();
    let mut choices = Vec::with_capacity(rows.len());
    for (i, row) in rows.iter().enumerate() {
        let Value::Object(row) = row else {
            return Err(bad(format!("choices[{i}]: not an object")));
        };
        let pair = match row.get("pair") {
            Some(Value::String(p)) => p.clone(),
            _ => {
                return Err(bad(format!(
                    "choices[{i}]: \"pair\" missing or not a string"
                )));
            }
        };
        if !seen.insert(pair.clone()) {
            return Err(bad(format!("choices[{i}]: pair {pair:?} appears twice")));
        }
        let field = |c: Criterion| {
            parse_answer(row.get(c.key()))
                .map_err(|m| bad(format!("choices[{i}] (pair {pair:?}): {}: {m}", c.key())))
        };
        let context = field(Criterion::Context)?;
        let description = field(Criterion::Description)?;
        choices.push(ChoiceRow {
            pair,
            context,
            description,
        });
    }
    Ok(ChoicesExport {
        sheet_id,
        rater,
        choices,
    })
}

/// Reads `sheet.key.json` and checks it is whole: its format, an id, unique pair ids, and
/// two different files on the two sides of every pair.
pub fn read_key(path: &Path) -> Result<SheetKey, PairwiseError> {
    let bytes = read_bounded(path, MAX_CHOICES_FILE_BYTES, "key file")?;
    let bad = |m: String| PairwiseError::invalid(path, m);
    let v: Value =
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
    match v.get("format") {
        Some(Value::String(f)) if f == KEY_FORMAT => {}
        Some(Value::String(f)) if f == CHOICES_FORMAT => {
            return Err(bad(
                "this is a choices export, not the sheet's key (sheet.key.json)".into(),
            ));
        }
        _ => {
            return Err(bad(format!(
                "not a covip pairwise key: \"format\" is not {KEY_FORMAT:?}"
            )));
        }
    }
    let key: SheetKey =
        serde_json::from_value(v).map_err(|e| bad(format!("malformed key: {e}")))?;
    if key.sheet_id.is_empty() {
        return Err(bad("empty \"sheet_id\"".into()));
    }
    if key.pairs.is_empty() {
        return Err(bad("the key lists no pair".into()));
    }
    let mut seen = HashSet::new();
    for (i, p) in key.pairs.iter().enumerate() {
        if !seen.insert(p.pair.as_str()) {
            return Err(bad(format!("pairs[{i}]: pair {:?} appears twice", p.pair)));
        }
        if p.side_a == p.side_b {
            return Err(bad(format!(
                "pairs[{i}] (pair {:?}): both sides show the same file",
                p.pair
            )));
        }
    }
    Ok(key)
}

/// Un-blinds and counts `exports` (`(label, export)`, the label naming the file in errors)
/// against `key`. An export for another sheet, a pair the key does not hold, or (unless
/// `allow_incomplete`) a question left unanswered is an error naming the export and the pair.
/// Judgements of several exports are pooled: each rater's answer to each pair counts once.
pub fn tally(
    key: &SheetKey,
    exports: &[(String, ChoicesExport)],
    options: TallyOptions,
) -> Result<Tally, PairwiseError> {
    if exports.is_empty() {
        return Err(PairwiseError::Other("no choices file to tally".into()));
    }
    let by_pair: HashMap<&str, &super::KeyPair> =
        key.pairs.iter().map(|p| (p.pair.as_str(), p)).collect();
    let mut counts: BTreeMap<Criterion, [u64; 4]> =
        Criterion::ALL.iter().map(|c| (*c, [0; 4])).collect();
    for (label, export) in exports {
        let bad = |m: String| PairwiseError::invalid(Path::new(label), m);
        if export.sheet_id != key.sheet_id {
            return Err(bad(format!(
                "choices for sheet {:?}, but the key is for sheet {:?}: a different sheet",
                export.sheet_id, key.sheet_id
            )));
        }
        let mut rows: HashMap<&str, &ChoiceRow> = HashMap::new();
        for row in &export.choices {
            if !by_pair.contains_key(row.pair.as_str()) {
                return Err(bad(format!(
                    "pair {:?} is not in the key of sheet {:?}",
                    row.pair, key.sheet_id
                )));
            }
            rows.insert(row.pair.as_str(), row);
        }
        let mut missing = Vec::new();
        for kp in &key.pairs {
            let row = rows.get(kp.pair.as_str());
            for c in Criterion::ALL {
                let slot = counts.get_mut(&c).expect("every criterion has counts");
                match row.and_then(|r| r.answer(c)) {
                    None => {
                        slot[3] += 1;
                        missing.push(format!("{} {}", kp.pair, c.key()));
                    }
                    Some(Answer::Tie) => slot[2] += 1,
                    Some(side) => {
                        let src = if side == Answer::A {
                            kp.side_a
                        } else {
                            kp.side_b
                        };
                        match src {
                            Source::AFile => slot[0] += 1,
                            Source::BFile => slot[1] += 1,
                        }
                    }
                }
            }
        }
        if !missing.is_empty() && !options.allow_incomplete {
            let shown: Vec<&str> = missing.iter().take(10).map(String::as_str).collect();
            let more = if missing.len() > 10 {
                format!(" and {} more", missing.len() - 10)
            } else {
                String::new()
            };
            return Err(bad(format!(
                "{} answer(s) missing: {}{more} (--allow-incomplete counts the answers given)",
                missing.len(),
                shown.join(", ")
            )));
        }
    }
    let criteria = counts
        .into_iter()
        .map(|(c, [a, b, ties, unanswered])| {
            let share = (a + b > 0).then(|| a as f64 / (a + b) as f64);
            let ci = wilson_interval(a, a + b, WILSON_Z95);
            (
                c.key(),
                CriterionTally {
                    question: c.question().to_string(),
                    a_file_wins: a,
                    b_file_wins: b,
                    ties,
                    unanswered,
                    a_file_share: share,
                    ci_low: ci.map(|x| x.0),
                    ci_high: ci.map(|x| x.1),
                },
            )
        })
        .collect();
    Ok(Tally {
        sheet_id: key.sheet_id.clone(),
        a_file: key.a_file.clone(),
        b_file: key.b_file.clone(),
        data: key.data.clone(),
        pairs: key.pairs.len(),
        exports: exports
            .iter()
            .map(|(label, e)| ExportInfo {
                file: label.clone(),
                rater: e.rater.clone(),
            })
            .collect(),
        interval: IntervalInfo {
            method: "Wilson score interval",
            level: 0.95,
            z: WILSON_Z95,
            of: "a_file_share = a_file_wins / (a_file_wins + b_file_wins): ties and unanswered excluded",
        },
        criteria,
    })
}

/// The tally as a Markdown table, with the files named and the interval explained.
pub fn render_table(t: &Tally) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Sheet {}: {} pair(s), {} export(s). A file: {}. B file: {}.\n",
        t.sheet_id,
        t.pairs,
        t.exports.len(),
        t.a_file,
        t.b_file
    );
    s.push_str(
        "| criterion | A-file wins | B-file wins | ties | unanswered | A-file share | 95% CI (Wilson) |\n\
         |---|---:|---:|---:|---:|---:|---|\n",
    );
    for c in Criterion::ALL {
        let Some(ct) = t.criteria.get(c.key()) else {
            continue;
        };
        let share = ct
            .a_file_share
            .map_or_else(|| "–".to_string(), |p| format!("{p:.3}"));
        let ci = match (ct.ci_low, ct.ci_high) {
            (Some(l), Some(h)) => format!("[{l:.3}, {h:.3}]"),
            _ => "–".to_string(),
        };
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {share} | {ci} |",
            c.title(),
            ct.a_file_wins,
            ct.b_file_wins,
            ct.ties,
            ct.unanswered
        );
    }
    s.push_str(
        "\nA-file share = A-file wins / (A-file wins + B-file wins), ties excluded; the interval \
         is the 95% Wilson score interval of that share.\n",
    );
    s
}
