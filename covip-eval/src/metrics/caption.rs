//! The caption-metric pipeline of pycocoevalcap's `COCOEvalCap`: PTB-tokenise the references
//! (one stream) and the candidates (another stream), then score with each requested metric.
//! Also reads the `REFS.json` / `CANDS.json` inputs of `covip metrics caption`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::error::MetricsError;
use super::meteor::{Meteor, resources};
use super::{bleu, cider, ngram, ptb, rouge};

/// A JSON object with its keys in document order (pycocoevalcap iterates dicts in insertion
/// order; the order decides how captions are laid out for the tokenizer).
#[derive(Debug, Clone, Default)]
pub struct OrderedObject(pub Vec<(String, serde_json::Value)>);

/// A JSON object's entries in document order, values of type `V`.
struct Ordered<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for Ordered<V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Entries<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for Entries<V> {
            type Value = Ordered<V>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Ordered<V>, A::Error> {
                let mut out = Vec::with_capacity(m.size_hint().unwrap_or(0));
                while let Some(kv) = m.next_entry::<String, V>()? {
                    out.push(kv);
                }
                Ok(Ordered(out))
            }
        }
        d.deserialize_map(Entries(std::marker::PhantomData))
    }
}

/// Reads a JSON object file keeping key order, values read as `V`; duplicate keys are an error.
fn read_ordered<V: serde::de::DeserializeOwned>(
    path: &Path,
) -> Result<Vec<(String, V)>, MetricsError> {
    let text = std::fs::read_to_string(path).map_err(|source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let Ordered(obj) = serde_json::from_str(&text).map_err(|e| MetricsError::Json {
        path: path.to_path_buf(),
        line: None,
        message: e.to_string(),
    })?;
    let mut seen = std::collections::HashSet::with_capacity(obj.len());
    for (k, _) in &obj {
        if !seen.insert(k.as_str()) {
            return Err(MetricsError::Record {
                path: path.to_path_buf(),
                record: k.clone(),
                field: "<key>".into(),
                message: "duplicate image id".into(),
            });
        }
    }
    Ok(obj)
}

/// Reads a JSON object file keeping key order; duplicate keys are an error.
pub fn read_ordered_object(path: &Path) -> Result<OrderedObject, MetricsError> {
    read_ordered(path).map(OrderedObject)
}

/// Aligned caption corpus: image ids (in reference order), references, one candidate each.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptionCorpus {
    /// Image ids, in the order of the references file.
    pub ids: Vec<String>,
    /// References per image (at least one each).
    pub refs: Vec<Vec<String>>,
    /// The candidate caption per image.
    pub cands: Vec<String>,
}

fn bad(path: &Path, record: &str, field: &str, message: impl Into<String>) -> MetricsError {
    MetricsError::Record {
        path: path.to_path_buf(),
        record: record.to_string(),
        field: field.to_string(),
        message: message.into(),
    }
}

/// One value of a `REFS.json` / `CANDS.json` object, as far as [`CaptionCorpus::load`] looks
/// at it (read straight from the text, without building a `serde_json::Value` tree).
enum Entry {
    Str(String),
    List(Vec<Entry>),
    /// Any other value (skipped).
    Other,
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Entry, E> {
                Ok(Entry::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Entry, E> {
                Ok(Entry::Str(v))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Entry, E> {
                Ok(Entry::Other)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Entry, E> {
                Ok(Entry::Other)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Entry, E> {
                Ok(Entry::Other)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Entry, E> {
                Ok(Entry::Other)
            }
            fn visit_unit<E>(self) -> Result<Entry, E> {
                Ok(Entry::Other)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Entry, A::Error> {
                let mut out = Vec::with_capacity(a.size_hint().unwrap_or(0));
                while let Some(x) = a.next_element()? {
                    out.push(x);
                }
                Ok(Entry::List(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Entry, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Entry::Other)
            }
        }
        d.deserialize_any(V)
    }
}

/// [`read_ordered_object`] for caption files: the same checks and errors, with the values
/// read as [`Entry`]s.
fn read_entries(path: &Path) -> Result<Vec<(String, Entry)>, MetricsError> {
    read_ordered(path)
}

impl CaptionCorpus {
    /// Reads `REFS.json` (image id → list of reference strings) and `CANDS.json` (image id →
    /// string or one-element list). Both must cover the same image ids.
    ///
    /// Also starts compiling the PTB tokenizer on another thread (for [`Self::tokenized`],
    /// the usual next step), so that it is ready when the files are read.
    pub fn load(refs_path: &Path, cands_path: &Path) -> Result<Self, MetricsError> {
        rayon::spawn(|| {
            ptb::PtbTokenizer::global();
        });
        let refs = read_entries(refs_path)?;
        let cands = read_entries(cands_path)?;
        let mut cand_map = std::collections::HashMap::with_capacity(cands.len());
        for (id, v) in cands {
            let s = match v {
                Entry::Str(s) => s,
                Entry::List(mut a) if a.len() == 1 => match a.pop() {
                    Some(Entry::Str(s)) => s,
                    _ => return Err(bad(cands_path, &id, "[0]", "expected a string")),
                },
                Entry::List(a) => {
                    return Err(bad(
                        cands_path,
                        &id,
                        "<value>",
                        format!("expected one candidate, got a list of {}", a.len()),
                    ));
                }
                Entry::Other => {
                    return Err(bad(
                        cands_path,
                        &id,
                        "<value>",
                        "expected a string or a one-element list of strings",
                    ));
                }
            };
            cand_map.insert(id, s);
        }
        let mut out = CaptionCorpus::default();
        let mut missing = Vec::new();
        for (id, v) in refs {
            let list = match v {
                Entry::List(a) if !a.is_empty() => a,
                Entry::List(_) => {
                    return Err(bad(refs_path, &id, "<value>", "empty reference list"));
                }
                Entry::Str(_) => {
                    return Err(bad(
                        refs_path,
                        &id,
                        "<value>",
                        "expected a list of reference strings, got a string",
                    ));
                }
                Entry::Other => {
                    return Err(bad(refs_path, &id, "<value>", "expected a list of strings"));
                }
            };
            let mut rs = Vec::with_capacity(list.len());
            for (i, r) in list.into_iter().enumerate() {
                match r {
                    Entry::Str(s) => rs.push(s),
                    _ => {
                        return Err(bad(refs_path, &id, &format!("[{i}]"), "expected a string"));
                    }
                }
            }
            match cand_map.remove(id.as_str()) {
                Some(c) => {
                    out.ids.push(id);
                    out.refs.push(rs);
                    out.cands.push(c);
                }
                None => missing.push(id),
            }
        }
        if !missing.is_empty() || !cand_map.is_empty() {
            let mut extra: Vec<&str> = cand_map.keys().map(String::as_str).collect();
            extra.sort_unstable();
            return Err(MetricsError::Mismatch {
                message: format!(
                    "references {} and candidates {} must cover the same image ids: {} id(s) without a candidate (first: {:?}), {} candidate id(s) without references (first: {:?})",
                    refs_path.display(),
                    cands_path.display(),
                    missing.len(),
                    missing.first(),
                    extra.len(),
                    extra.first()
                ),
            });
        }
        if out.ids.is_empty() {
            return Err(bad(refs_path, "<file>", "<root>", "no images"));
        }
        Ok(out)
    }

    /// PTB-tokenised copy (references as one stream, candidates as another, as
    /// `COCOEvalCap.evaluate` does).
    pub fn tokenized(&self) -> CaptionCorpus {
        // Two streams, as pycocoevalcap tokenises them, shared out between two threads.
        let cands: Vec<Vec<String>> = self.cands.iter().map(|c| vec![c.clone()]).collect();
        let mut out = ptb::tokenize_corpora(&[&self.refs, &cands]);
        let cands: Vec<String> = out
            .pop()
            .expect("two corpora")
            .into_iter()
            .map(|mut v| v.pop().unwrap_or_default())
            .collect();
        let refs = out.pop().expect("two corpora");
        CaptionCorpus {
            ids: self.ids.clone(),
            refs,
            cands,
        }
    }
}

/// A caption-quality metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CaptionMetric {
    /// BLEU-1..4 (`Bleu_1`..`Bleu_4`).
    Bleu,
    /// ROUGE-L (`ROUGE_L`).
    Rouge,
    /// CIDEr-D (`CIDEr`).
    Cider,
    /// METEOR 1.5 (`METEOR`; needs its resources, see [`CaptionOptions::meteor_data`]).
    Meteor,
    /// BERTScore (`BERTScore_P`, `BERTScore_R`, `BERTScore_F1`; see [`add_bertscore`]).
    BertScore,
    /// SPICE (`SPICE`): the official jar's parse, scored as SPICE 1.0 does; see [`add_spice`].
    Spice,
}

impl CaptionMetric {
    /// Parses a comma-separated list such as `bleu,rouge,cider`.
    pub fn parse_list(s: &str) -> Result<Vec<CaptionMetric>, MetricsError> {
        let mut out = Vec::new();
        for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let m = match name.to_ascii_lowercase().as_str() {
                "bleu" => CaptionMetric::Bleu,
                "rouge" | "rouge_l" | "rouge-l" => CaptionMetric::Rouge,
                "cider" | "cider-d" | "cider_d" => CaptionMetric::Cider,
                "meteor" => CaptionMetric::Meteor,
                "bertscore" => CaptionMetric::BertScore,
                "spice" => CaptionMetric::Spice,
                other => {
                    return Err(MetricsError::Unsupported(format!(
                        "unknown caption metric {other:?} (known: bleu, rouge, cider, meteor, bertscore, spice)"
                    )));
                }
            };
            if !out.contains(&m) {
                out.push(m);
            }
        }
        if out.is_empty() {
            return Err(MetricsError::Unsupported("no metric requested".into()));
        }
        Ok(out)
    }
}

/// Scores keyed by pycocoevalcap's names, corpus-level and per image.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaptionReport {
    /// (`Bleu_1`, value), ... in pycocoevalcap's order.
    pub corpus: Vec<(String, f64)>,
    /// Per image id (reference order): (metric name, value) pairs.
    pub per_image: Vec<(String, Vec<(String, f64)>)>,
}

impl CaptionReport {
    /// The JSON object printed by `covip metrics caption`: the corpus scores at top level and
    /// `per_image` mapping image id to its scores.
    pub fn to_json(&self) -> serde_json::Value {
        let mut top = serde_json::Map::new();
        for (k, v) in &self.corpus {
            top.insert(k.clone(), serde_json::json!(v));
        }
        let mut per = serde_json::Map::new();
        for (id, scores) in &self.per_image {
            let mut m = serde_json::Map::new();
            for (k, v) in scores {
                m.insert(k.clone(), serde_json::json!(v));
            }
            per.insert(id.clone(), serde_json::Value::Object(m));
        }
        top.insert("per_image".into(), serde_json::Value::Object(per));
        serde_json::Value::Object(top)
    }
}

/// What some caption metrics need besides the captions.
#[derive(Clone, Debug, Default)]
pub struct CaptionOptions {
    /// METEOR's resource directory; `None`: `$COVIP_METEOR_DATA`, else the per-user default
    /// that `covip metrics setup-meteor` fills (see [`super::meteor::resources`]). The
    /// resources are loaded once per process.
    pub meteor_data: Option<PathBuf>,
}

/// Scores `corpus` (already tokenised or not, as the caller decides) with `metrics`, METEOR
/// reading its resources from the default location.
pub fn score_captions(
    corpus: &CaptionCorpus,
    metrics: &[CaptionMetric],
) -> Result<CaptionReport, MetricsError> {
    score_captions_with(corpus, metrics, &CaptionOptions::default())
}

/// [`score_captions`] with options.
pub fn score_captions_with(
    corpus: &CaptionCorpus,
    metrics: &[CaptionMetric],
    options: &CaptionOptions,
) -> Result<CaptionReport, MetricsError> {
    score_captions_progress(corpus, metrics, options, &|_| {})
}

/// The parts [`score_captions_progress`] reports as they finish, for a progress display: one
/// per metric asked for among ROUGE-L, METEOR and BLEU/CIDEr-D (whose n-grams are counted
/// once).
pub fn progress_steps(metrics: &[CaptionMetric]) -> usize {
    usize::from(metrics.contains(&CaptionMetric::Rouge))
        + usize::from(metrics.contains(&CaptionMetric::Meteor))
        + usize::from(
            metrics.contains(&CaptionMetric::Bleu) || metrics.contains(&CaptionMetric::Cider),
        )
}

/// [`score_captions_with`] calling `done(part)` as each part finishes (`"ROUGE_L"`,
/// `"METEOR"`, `"n-grams"`; [`progress_steps`] says how many), from whichever thread ran it.
pub fn score_captions_progress(
    corpus: &CaptionCorpus,
    metrics: &[CaptionMetric],
    options: &CaptionOptions,
    done: &(dyn Fn(&str) + Sync),
) -> Result<CaptionReport, MetricsError> {
    let n = corpus.ids.len();
    let mut report = CaptionReport {
        corpus: Vec::new(),
        per_image: corpus
            .ids
            .iter()
            .map(|id| (id.clone(), Vec::new()))
            .collect(),
    };
    let push = |name: &str, total: f64, per: &[f64], report: &mut CaptionReport| {
        report.corpus.push((name.to_string(), total));
        for (i, v) in per.iter().enumerate().take(n) {
            report.per_image[i].1.push((name.to_string(), *v));
        }
    };
    // The metrics are independent pure functions, run as rayon tasks: ROUGE-L, METEOR (the
    // slowest; it spreads its images over the pool too), and the n-grams counted once for
    // BLEU and CIDEr-D. Each result is the same whatever the schedule; they are reported in
    // pycocoevalcap's order below.
    let (refs, cands) = (&corpus.refs, &corpus.cands);
    let meteor_scorer = if metrics.contains(&CaptionMetric::Meteor) {
        Some(Meteor::shared(&resources::resolve_dir(
            options.meteor_data.as_deref(),
        )?)?)
    } else {
        None
    };
    let (want_b, want_c) = (
        metrics.contains(&CaptionMetric::Bleu),
        metrics.contains(&CaptionMetric::Cider),
    );
    let want_r = metrics.contains(&CaptionMetric::Rouge);
    fn reported<'a, T>(done: &'a (dyn Fn(&str) + Sync), part: &'a str) -> impl FnOnce(T) -> T + 'a {
        move |r| {
            done(part);
            r
        }
    }
    let (rouge_s, (meteor_s, grams)) = rayon::join(
        || {
            want_r
                .then(|| rouge::rouge_l(refs, cands))
                .map(reported(done, "ROUGE_L"))
                .transpose()
        },
        || {
            rayon::join(
                || {
                    meteor_scorer
                        .as_ref()
                        .map(|m| m.score_corpus(refs, cands))
                        .map(reported(done, "METEOR"))
                        .transpose()
                },
                || {
                    (want_b || want_c)
                        .then(|| ngram::GramCorpus::build(refs, cands))
                        .map(reported(done, "n-grams"))
                        .transpose()
                },
            )
        },
    );
    let (mut rouge_s, mut meteor_s, grams) = (rouge_s?, meteor_s?, grams?);
    let mut bleu_s = grams.as_ref().filter(|_| want_b).map(bleu::bleu_grams);
    let mut cider_s = grams.as_ref().filter(|_| want_c).map(cider::cider_d_grams);
    // pycocoevalcap's order: Bleu, METEOR, ROUGE_L, CIDEr, SPICE.
    for m in [
        CaptionMetric::Bleu,
        CaptionMetric::Meteor,
        CaptionMetric::Rouge,
        CaptionMetric::Cider,
        CaptionMetric::Spice,
        CaptionMetric::BertScore,
    ] {
        if !metrics.contains(&m) {
            continue;
        }
        match m {
            CaptionMetric::Bleu => {
                let Some(s) = bleu_s.take() else { continue };
                for k in 0..4 {
                    let per: Vec<f64> = s.per_image.iter().map(|p| p[k]).collect();
                    push(&format!("Bleu_{}", k + 1), s.corpus[k], &per, &mut report);
                }
            }
            CaptionMetric::Rouge => {
                let Some((t, per)) = rouge_s.take() else {
                    continue;
                };
                push("ROUGE_L", t, &per, &mut report);
            }
            CaptionMetric::Cider => {
                let Some((t, per)) = cider_s.take() else {
                    continue;
                };
                push("CIDEr", t, &per, &mut report);
            }
            CaptionMetric::Meteor => {
                let Some(s) = meteor_s.take() else { continue };
                push("METEOR", s.corpus, &s.per_image, &mut report);
            }
            CaptionMetric::BertScore => {
                return Err(MetricsError::Unsupported(
                    "BERTScore needs an encoder: score it with caption::add_bertscore".into(),
                ));
            }
            CaptionMetric::Spice => {
                return Err(MetricsError::Unsupported(
                    "SPICE runs the official jar: score it with caption::add_spice".into(),
                ));
            }
        }
    }
    Ok(report)
}

/// How to run BERTScore (see [`add_bertscore`]; the encoder needs the `bertscore` feature).
#[derive(Clone, Debug)]
pub struct BertScoreSettings {
    /// Hugging Face folder of a BERT / RoBERTa model.
    pub model_dir: std::path::PathBuf,
    /// Layers to keep; `None`: 17 for roberta-large (bert_score's default), otherwise an error.
    pub num_layers: Option<usize>,
    /// idf weighting from the references.
    pub idf: bool,
    /// Rescale with the embedded roberta-large layer-17 baseline (`baseline` overrides it).
    pub rescale: bool,
    /// A bert_score baseline file (`LAYER,P,R,F` rows); its row `num_layers` is used.
    pub baseline_file: Option<std::path::PathBuf>,
    /// Sentences per encoder batch (0: 64).
    pub batch_size: usize,
}

/// Reads row `layer` of a bert_score baseline file (`LAYER,P,R,F` CSV).
pub fn read_baseline(path: &Path, layer: usize) -> Result<[f64; 3], MetricsError> {
    let text = std::fs::read_to_string(path).map_err(|source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    for (i, line) in text.lines().enumerate().skip(1) {
        let cols: Vec<&str> = line.split(',').map(str::trim).collect();
        if cols.len() != 4 {
            return Err(bad(
                path,
                &format!("line {}", i + 1),
                "<row>",
                "expected LAYER,P,R,F",
            ));
        }
        if cols[0].parse::<usize>().ok() == Some(layer) {
            let mut out = [0.0; 3];
            for (k, name) in ["P", "R", "F"].iter().enumerate() {
                out[k] = cols[k + 1]
                    .parse()
                    .map_err(|_| bad(path, &format!("line {}", i + 1), name, "not a number"))?;
            }
            return Ok(out);
        }
    }
    Err(bad(
        path,
        &format!("LAYER {layer}"),
        "<row>",
        "no such layer",
    ))
}

/// Without the `bertscore` feature there is no encoder: an error saying so.
#[cfg(not(feature = "bertscore"))]
pub fn add_bertscore(
    _report: &mut CaptionReport,
    _raw: &CaptionCorpus,
    _settings: &BertScoreSettings,
) -> Result<(), MetricsError> {
    Err(MetricsError::Unsupported(
        "BERTScore needs covip-eval's `bertscore` feature, which this build lacks".into(),
    ))
}

/// Adds `BERTScore_P`, `BERTScore_R`, `BERTScore_F1` (means and per image) to `report`,
/// computed on `raw` (untokenised captions, as bert_score is used) with burn's CPU backend.
#[cfg(feature = "bertscore")]
pub fn add_bertscore(
    report: &mut CaptionReport,
    raw: &CaptionCorpus,
    settings: &BertScoreSettings,
) -> Result<(), MetricsError> {
    use super::bert::BertConfig;
    use super::bertscore::{
        BertScoreOptions, BertScorer, ROBERTA_LARGE_DEFAULT_LAYER, ROBERTA_LARGE_L17_BASELINE,
    };
    let dir = &settings.model_dir;
    let cfg_path = dir.join("config.json");
    let cfg = BertConfig::from_file(&cfg_path)?;
    let roberta_large =
        cfg.model_type == "roberta" && cfg.hidden_size == 1024 && cfg.num_hidden_layers == 24;
    let layers = match settings.num_layers {
        Some(n) => n,
        None if roberta_large => ROBERTA_LARGE_DEFAULT_LAYER,
        None => {
            return Err(bad(
                &cfg_path,
                "<config>",
                "num_hidden_layers",
                "not roberta-large: say which layer to use (--bert-layers N)",
            ));
        }
    };
    let baseline = match (&settings.baseline_file, settings.rescale) {
        (Some(f), _) => Some(read_baseline(f, layers)?),
        (None, true) if roberta_large && layers == ROBERTA_LARGE_DEFAULT_LAYER => {
            Some(ROBERTA_LARGE_L17_BASELINE)
        }
        (None, true) => {
            return Err(MetricsError::Unsupported(format!(
                "{}: the embedded baseline is roberta-large layer 17 only; give a bert_score baseline file for this model and layer {layers}",
                dir.display()
            )));
        }
        (None, false) => None,
    };
    let device = Default::default();
    let scorer = BertScorer::<covip_model::device::Cpu>::load(dir, Some(layers), &device)?;
    let s = scorer.score(
        &raw.refs,
        &raw.cands,
        &BertScoreOptions {
            idf: settings.idf,
            baseline,
            batch_size: settings.batch_size,
        },
    )?;
    for (name, total, get) in [
        (
            "BERTScore_P",
            s.mean.p,
            (|x: &super::bertscore::Prf| x.p) as fn(&_) -> f64,
        ),
        ("BERTScore_R", s.mean.r, |x| x.r),
        ("BERTScore_F1", s.mean.f, |x| x.f),
    ] {
        report.corpus.push((name.to_string(), total));
        for (i, v) in s.per_item.iter().enumerate() {
            if let Some(slot) = report.per_image.get_mut(i) {
                slot.1.push((name.to_string(), get(v)));
            }
        }
    }
    Ok(())
}

/// Adds SPICE (`SPICE`, corpus and per image) to `report` by running the official SPICE 1.0
/// jar on `corpus` (pass the PTB-tokenised corpus for pycocoevalcap's numbers). The corpus value
/// is pycocoevalcap's mean of the images' `All` F-scores; per image it is that image's `All` F.
/// Call it after [`score_captions`] and before [`add_bertscore`] to keep pycocoevalcap's key
/// order (`…, CIDEr, SPICE`).
pub fn add_spice(
    report: &mut CaptionReport,
    corpus: &CaptionCorpus,
    jar: &super::spice::SpiceJar,
) -> Result<(), MetricsError> {
    let run = jar.run(&corpus.ids, &corpus.cands, &corpus.refs)?;
    let by_id: std::collections::HashMap<&str, f64> = run
        .corpus
        .image_ids
        .iter()
        .map(String::as_str)
        .zip(run.corpus.per_image.iter().map(|s| s.spice()))
        .collect();
    for (id, scores) in &mut report.per_image {
        let Some(v) = by_id.get(id.as_str()) else {
            return Err(MetricsError::Mismatch {
                message: format!("SPICE returned no score for image {id:?}"),
            });
        };
        scores.push(("SPICE".into(), *v));
    }
    report.corpus.push(("SPICE".into(), run.corpus.spice));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn progress_reports_each_part_once_and_scores_are_unchanged() {
        let corpus = CaptionCorpus {
            ids: vec!["a".into(), "b".into()],
            refs: vec![
                vec!["a dog runs on grass".into()],
                vec!["two cats sleep".into(), "cats asleep".into()],
            ],
            cands: vec!["a dog runs".into(), "two cats".into()],
        };
        let metrics = [
            CaptionMetric::Bleu,
            CaptionMetric::Rouge,
            CaptionMetric::Cider,
        ];
        assert_eq!(progress_steps(&metrics), 2);
        let calls = AtomicUsize::new(0);
        let with = score_captions_progress(&corpus, &metrics, &CaptionOptions::default(), &|_| {
            calls.fetch_add(1, Ordering::Relaxed);
        })
        .unwrap();
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        let without = score_captions(&corpus, &metrics).unwrap();
        assert_eq!(with.corpus, without.corpus);
        assert_eq!(progress_steps(&[CaptionMetric::Spice]), 0);
    }
}
