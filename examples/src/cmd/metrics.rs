//! `covip metrics ...`: caption-quality and hallucination metrics. Parses arguments, reads the
//! input files, calls `covip_eval::metrics` and prints one JSON object.
use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use covip_eval::metrics::caption::{
    BertScoreSettings, add_bertscore, add_spice, read_ordered_object,
};
use covip_eval::metrics::chair::Chair;
use covip_eval::metrics::meteor::{resources as meteor_resources, setup as meteor_setup};
use covip_eval::metrics::mmhal::{self, MmhalRecord};
use covip_eval::metrics::pope;
use covip_eval::metrics::spice::SpiceJar;
use covip_eval::metrics::{CaptionCorpus, CaptionMetric, CaptionOptions, score_captions_with};
use serde_json::{Value, json};

#[derive(Subcommand)]
pub enum MetricsCommand {
    /// BLEU-1..4, METEOR, ROUGE-L, CIDEr-D, SPICE as pycocoevalcap 1.2 prints them
    /// (PTB-tokenised); BERTScore as the bert_score package computes it.
    Caption(CaptionArgs),
    /// Installs METEOR's English resources (word lists, WordNet, paraphrase table) from the
    /// pycocoevalcap 1.2 package: `pip download`s it (nothing else is downloaded) unless
    /// --from gives local files, and writes them to --dest, else $COVIP_METEOR_DATA, else
    /// ~/.local/share/covip/meteor-1.5 ($XDG_DATA_HOME/covip/meteor-1.5; on Windows
    /// %LOCALAPPDATA%\covip\meteor-1.5). Does nothing when they are already there.
    SetupMeteor(SetupMeteorArgs),
    /// POPE accuracy, precision, recall, F1 and yes-ratio (released yes/no parsing).
    Pope(PopeArgs),
    /// CHAIR_s and CHAIR_i over the 80 COCO categories.
    Chair(ChairArgs),
    /// MMHal-Bench from judge outputs (average rating, hallucination rate, per type), or the
    /// judge prompts to send.
    Mmhal(MmhalArgs),
}

#[derive(Args)]
pub struct CaptionArgs {
    /// JSON object: image id -> list of reference captions.
    #[arg(long)]
    refs: PathBuf,
    /// JSON object: image id -> candidate caption (a string or a one-element list).
    #[arg(long)]
    cands: PathBuf,
    /// Comma-separated metrics: bleu, meteor, rouge, cider, spice, bertscore.
    #[arg(long, default_value = "bleu,rouge,cider")]
    metrics: String,
    /// METEOR: resource directory (default: $COVIP_METEOR_DATA, else the per-user location
    /// that `covip metrics setup-meteor` fills).
    #[arg(long, value_name = "DIR")]
    meteor_data: Option<PathBuf>,
    /// SPICE: the official `spice-1.0.jar` (pycocoevalcap's `spice/` folder, with the Stanford
    /// CoreNLP 3.6.0 jars in its `lib/`); needs Java 8 to 14.
    #[arg(long, value_name = "JAR")]
    spice_jar: Option<PathBuf>,
    /// SPICE: the jar's parse cache folder (created when missing; none by default).
    #[arg(long, value_name = "DIR")]
    spice_cache: Option<PathBuf>,
    /// SPICE: the Java executable.
    #[arg(long, value_name = "JAVA", default_value = "java")]
    spice_java: PathBuf,
    /// SPICE: the JVM's maximum heap (`-Xmx`).
    #[arg(long, value_name = "SIZE", default_value = "8G")]
    spice_memory: String,
    /// Score the raw strings without PTB tokenisation (BERTScore always sees the raw strings).
    #[arg(long)]
    no_tokenize: bool,
    /// BERTScore: Hugging Face folder of a BERT/RoBERTa model (config.json, model.safetensors,
    /// tokenizer.json). bert_score's English default is roberta-large (layer 17): download it
    /// yourself, e.g. `huggingface-cli download FacebookAI/roberta-large --local-dir DIR`.
    #[arg(long)]
    bert_model: Option<PathBuf>,
    /// BERTScore: layer whose hidden states are used (default 17 for roberta-large; required
    /// for other models).
    #[arg(long)]
    bert_layers: Option<usize>,
    /// BERTScore: idf weighting computed from the references.
    #[arg(long)]
    bert_idf: bool,
    /// BERTScore: rescale with bert_score's baseline (embedded for roberta-large layer 17; other
    /// models/layers need --bert-baseline).
    #[arg(long)]
    bert_rescale: bool,
    /// BERTScore: a bert_score baseline file (`LAYER,P,R,F`); implies rescaling.
    #[arg(long)]
    bert_baseline: Option<PathBuf>,
}

#[derive(Args)]
pub struct SetupMeteorArgs {
    /// Local pycocoevalcap files instead of the package index: the 1.2 wheel, its source
    /// archive, an installed `pycocoevalcap` (or its `meteor`) folder, or meteor-1.5.jar and
    /// paraphrase-en.gz (repeat --from for the two).
    #[arg(long, value_name = "PATH")]
    from: Vec<PathBuf>,
    /// Where to install (default: $COVIP_METEOR_DATA, else the per-user location).
    #[arg(long, value_name = "DIR")]
    dest: Option<PathBuf>,
    /// Python interpreter that runs `pip download` (default: python3, then python).
    #[arg(long, value_name = "PYTHON")]
    python: Option<PathBuf>,
}

#[derive(Args)]
pub struct PopeArgs {
    /// JSONL answers; each line has the answer in `answer`, `text` or `response`.
    #[arg(long)]
    answers: PathBuf,
    /// JSONL labels with `label` (`yes`/`no`); paired with answers line by line (checked by
    /// `question_id` where both files have it).
    #[arg(long)]
    labels: PathBuf,
}

#[derive(Args)]
pub struct ChairArgs {
    /// JSON object: image id -> caption (a string or a one-element list).
    #[arg(long)]
    captions: PathBuf,
    /// JSON object: image id -> list of ground-truth object names (COCO names or synonyms).
    #[arg(long, required_unless_present = "coco_instances")]
    gt: Option<PathBuf>,
    /// COCO `instances_*.json`: ground-truth categories from its annotations.
    #[arg(long)]
    coco_instances: Option<PathBuf>,
    /// COCO `captions_*.json`: objects mentioned in the human captions are added to the truth.
    #[arg(long)]
    coco_captions: Option<PathBuf>,
}

#[derive(Args)]
pub struct MmhalArgs {
    /// JSON list of MMHal-Bench records with `question_type`, `image_content`, `question`,
    /// `gt_answer`, `model_answer`.
    #[arg(long)]
    responses: PathBuf,
    /// JSON list of judge outputs (strings), one per record. Without it the judge prompts are
    /// printed instead of scores.
    #[arg(long)]
    judge_outputs: Option<PathBuf>,
    /// Judge prompt template with {image_content} {question} {gt_answer} {response}.
    #[arg(long)]
    prompt_template: Option<PathBuf>,
    /// Ask an OpenAI-compatible judge (base URL, e.g. http://localhost:8000/v1) instead of
    /// reading --judge-outputs; the raw outputs are kept in the result as `judge_outputs`.
    #[arg(long, conflicts_with = "judge_outputs")]
    judge: Option<String>,
    /// Model name sent to the judge.
    #[arg(long, default_value = "Qwen/Qwen3-30B-A3B-Instruct-2507-FP8")]
    judge_model: String,
    /// Judge sampling temperature (0: deterministic ratings).
    #[arg(long, default_value_t = 0.0)]
    judge_temperature: f64,
    /// Judge requests in flight at once.
    #[arg(long, default_value_t = 8)]
    judge_concurrency: usize,
}

pub fn run(cmd: MetricsCommand) -> anyhow::Result<ExitCode> {
    let out = match cmd {
        MetricsCommand::Caption(a) => caption(a)?,
        MetricsCommand::SetupMeteor(a) => setup_meteor(a)?,
        MetricsCommand::Pope(a) => pope_cmd(a)?,
        MetricsCommand::Chair(a) => chair(a)?,
        MetricsCommand::Mmhal(a) => mmhal_cmd(a)?,
    };
    println!("{}", serde_json::to_string(&out)?);
    Ok(ExitCode::SUCCESS)
}

fn caption(a: CaptionArgs) -> anyhow::Result<Value> {
    let metrics = CaptionMetric::parse_list(&a.metrics)?;
    let spice = if metrics.contains(&CaptionMetric::Spice) {
        let Some(jar_path) = a.spice_jar.clone() else {
            bail!(
                "--metrics spice needs --spice-jar PATH (pycocoevalcap's spice/spice-1.0.jar, with the Stanford CoreNLP 3.6.0 jars that its get_stanford_models.py downloads into lib/; Java 8 to 14)"
            );
        };
        let mut jar = SpiceJar::new(jar_path);
        jar.cache_dir = a.spice_cache.clone();
        jar.java = a.spice_java.clone();
        jar.max_memory = a.spice_memory.clone();
        Some(jar)
    } else {
        None
    };
    let bert = if metrics.contains(&CaptionMetric::BertScore) {
        let Some(dir) = a.bert_model.clone() else {
            bail!(
                "--metrics bertscore needs --bert-model DIR (a Hugging Face BERT/RoBERTa folder; bert_score's default is roberta-large, layer 17, which you download yourself)"
            );
        };
        Some(BertScoreSettings {
            model_dir: dir,
            num_layers: a.bert_layers,
            idf: a.bert_idf,
            rescale: a.bert_rescale,
            baseline_file: a.bert_baseline.clone(),
            batch_size: 0,
        })
    } else {
        None
    };
    let raw = CaptionCorpus::load(&a.refs, &a.cands)?;
    let others: Vec<CaptionMetric> = metrics
        .iter()
        .copied()
        .filter(|m| !matches!(m, CaptionMetric::BertScore | CaptionMetric::Spice))
        .collect();
    let options = CaptionOptions {
        meteor_data: a.meteor_data.clone(),
    };
    let tokenized;
    let scored = if a.no_tokenize {
        &raw
    } else {
        tokenized = raw.tokenized();
        &tokenized
    };
    let mut report = score_captions_with(scored, &others, &options)?;
    if let Some(jar) = spice {
        add_spice(&mut report, scored, &jar)?;
    }
    if let Some(settings) = bert {
        add_bertscore(&mut report, &raw, &settings)?;
    }
    Ok(report.to_json())
}

fn setup_meteor(a: SetupMeteorArgs) -> anyhow::Result<Value> {
    let dest = match a.dest {
        Some(d) => d,
        None => meteor_resources::resolve_dir(None)?,
    };
    let source = if a.from.is_empty() {
        meteor_setup::Source::Registry { python: a.python }
    } else {
        meteor_setup::Source::Paths(a.from)
    };
    let r = meteor_setup::setup(&source, &dest)?;
    // Parse the paraphrase table once now, which leaves its binary cache beside it, so that
    // the first scoring run loads as fast as the later ones.
    covip_eval::metrics::meteor::paraphrase::ParaphraseTable::load_gz_cached(
        &dest.join(meteor_resources::PARAPHRASES),
    )?;
    Ok(json!({
        "dest": r.dest.display().to_string(),
        "installed": r.installed,
        "source": r.source,
    }))
}

fn read_jsonl(path: &Path) -> anyhow::Result<Vec<Value>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("{}: cannot read", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(
            serde_json::from_str(line)
                .with_context(|| format!("{}: line {}: invalid JSON", path.display(), i + 1))?,
        );
    }
    if out.is_empty() {
        bail!("{}: no records", path.display());
    }
    Ok(out)
}

fn pope_cmd(a: PopeArgs) -> anyhow::Result<Value> {
    let answers = read_jsonl(&a.answers)?;
    let labels = read_jsonl(&a.labels)?;
    if answers.len() != labels.len() {
        bail!(
            "{} has {} answers but {} has {} labels",
            a.answers.display(),
            answers.len(),
            a.labels.display(),
            labels.len()
        );
    }
    let mut ans = Vec::new();
    let mut lab = Vec::new();
    for (i, (x, l)) in answers.iter().zip(&labels).enumerate() {
        let text = ["answer", "text", "response"]
            .iter()
            .find_map(|k| x.get(*k).and_then(Value::as_str))
            .with_context(|| {
                format!(
                    "{}: line {}: field \"answer\"/\"text\"/\"response\": missing or not a string",
                    a.answers.display(),
                    i + 1
                )
            })?;
        let label = l.get("label").and_then(Value::as_str).with_context(|| {
            format!(
                "{}: line {}: field \"label\": missing or not a string",
                a.labels.display(),
                i + 1
            )
        })?;
        if let (Some(q1), Some(q2)) = (x.get("question_id"), l.get("question_id"))
            && q1 != q2
        {
            bail!(
                "line {}: question_id {q1} in {} but {q2} in {}",
                i + 1,
                a.answers.display(),
                a.labels.display()
            );
        }
        ans.push(text.to_string());
        lab.push(label.to_string());
    }
    let s = pope::pope(&ans, &lab);
    Ok(json!({
        "accuracy": s.accuracy, "precision": s.precision, "recall": s.recall, "f1": s.f1,
        "yes_ratio": s.yes_ratio, "TP": s.tp, "FP": s.fp, "TN": s.tn, "FN": s.fn_, "n": s.n,
    }))
}

fn single_caption(path: &Path, id: &str, v: &Value) -> anyhow::Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Array(a) if a.len() == 1 && a[0].is_string() => {
            Ok(a[0].as_str().unwrap_or_default().to_string())
        }
        _ => bail!(
            "{}: record {id:?}: expected a caption string or a one-element list",
            path.display()
        ),
    }
}

fn id_string(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn chair(a: ChairArgs) -> anyhow::Result<Value> {
    let c = Chair::new();
    let caps = read_ordered_object(&a.captions)?;
    let mut gt: HashMap<String, BTreeSet<String>> = HashMap::new();
    if let Some(p) = &a.gt {
        for (id, v) in read_ordered_object(p)?.0 {
            let list = v.as_array().with_context(|| {
                format!(
                    "{}: record {id:?}: expected a list of object names",
                    p.display()
                )
            })?;
            let names: Vec<&str> = list.iter().filter_map(Value::as_str).collect();
            if names.len() != list.len() {
                bail!(
                    "{}: record {id:?}: object names must be strings",
                    p.display()
                );
            }
            gt.entry(id).or_default().extend(c.categories_of(names));
        }
    }
    if let Some(p) = &a.coco_instances {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?,
        )
        .with_context(|| format!("{}: invalid JSON", p.display()))?;
        let mut names = HashMap::new();
        for cat in v["categories"]
            .as_array()
            .with_context(|| format!("{}: field \"categories\" missing", p.display()))?
        {
            names.insert(
                cat["id"].to_string(),
                cat["name"].as_str().unwrap_or_default().to_string(),
            );
        }
        for ann in v["annotations"]
            .as_array()
            .with_context(|| format!("{}: field \"annotations\" missing", p.display()))?
        {
            let name = names
                .get(&ann["category_id"].to_string())
                .with_context(|| {
                    format!(
                        "{}: annotation with unknown category_id {}",
                        p.display(),
                        ann["category_id"]
                    )
                })?;
            gt.entry(id_string(&ann["image_id"]))
                .or_default()
                .extend(c.categories_of([name.as_str()]));
        }
    }
    if let Some(p) = &a.coco_captions {
        let v: Value = serde_json::from_str(
            &std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?,
        )
        .with_context(|| format!("{}: invalid JSON", p.display()))?;
        for ann in v["annotations"]
            .as_array()
            .with_context(|| format!("{}: field \"annotations\" missing", p.display()))?
        {
            let cap = ann["caption"].as_str().unwrap_or_default();
            gt.entry(id_string(&ann["image_id"]))
                .or_default()
                .extend(c.mentions(cap).into_iter().map(|(_, k)| k));
        }
    }
    let mut ids = Vec::new();
    let mut texts = Vec::new();
    let mut truths = Vec::new();
    for (id, v) in &caps.0 {
        texts.push(single_caption(&a.captions, id, v)?);
        truths.push(gt.get(id).cloned().with_context(|| {
            format!(
                "image {id:?} of {} has no ground-truth objects",
                a.captions.display()
            )
        })?);
        ids.push(id.clone());
    }
    if ids.is_empty() {
        bail!("{}: no captions", a.captions.display());
    }
    let s = c.score(&texts, &truths);
    let per: serde_json::Map<String, Value> = ids
        .iter()
        .zip(&s.per_caption)
        .map(|(id, p)| {
            (id.clone(), json!({
                "mentions": p.mentions.iter().map(|(w, k)| json!([w, k])).collect::<Vec<_>>(),
                "hallucinated": p.hallucinated.iter().map(|(w, k)| json!([w, k])).collect::<Vec<_>>(),
                "CHAIRs": if p.hallucinated.is_empty() { 0 } else { 1 },
                "CHAIRi": if p.mentions.is_empty() { 0.0 } else { p.hallucinated.len() as f64 / p.mentions.len() as f64 },
            }))
        })
        .collect();
    Ok(json!({ "CHAIRs": s.chair_s, "CHAIRi": s.chair_i, "n": ids.len(), "per_image": per }))
}

fn mmhal_cmd(a: MmhalArgs) -> anyhow::Result<Value> {
    let p = &a.responses;
    let v: Value = serde_json::from_str(
        &std::fs::read_to_string(p).with_context(|| format!("{}: cannot read", p.display()))?,
    )
    .with_context(|| format!("{}: invalid JSON", p.display()))?;
    let list = v
        .as_array()
        .with_context(|| format!("{}: expected a JSON list of records", p.display()))?;
    let mut recs = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let s = |k: &str| -> anyhow::Result<String> {
            r.get(k)
                .and_then(Value::as_str)
                .map(str::to_string)
                .with_context(|| {
                    format!(
                        "{}: record {i}: field {k:?}: missing or not a string",
                        p.display()
                    )
                })
        };
        let contents = r
            .get("image_content")
            .and_then(Value::as_array)
            .with_context(|| {
                format!(
                    "{}: record {i}: field \"image_content\": expected a list of strings",
                    p.display()
                )
            })?;
        recs.push(MmhalRecord {
            question_type: r
                .get("question_type")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            image_content: contents
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            question: s("question")?,
            gt_answer: s("gt_answer")?,
            model_answer: s("model_answer")?,
        });
    }
    if recs.is_empty() {
        bail!("{}: no records", p.display());
    }
    let template = match &a.prompt_template {
        Some(t) => {
            std::fs::read_to_string(t).with_context(|| format!("{}: cannot read", t.display()))?
        }
        None => mmhal::DEFAULT_TEMPLATE.to_string(),
    };
    let prompts = || {
        recs.iter()
            .map(|r| mmhal::judge_prompt(&template, r).map_err(anyhow::Error::msg))
            .collect::<anyhow::Result<Vec<_>>>()
    };
    if let Some(url) = &a.judge {
        let judge = covip_rl::judge::OpenAiJudge::new(
            covip_rl::judge::OpenAiJudgeConfig {
                base_url: url.clone(),
                model: a.judge_model.clone(),
                api_key: std::env::var("OPENAI_API_KEY").ok(),
                temperature: a.judge_temperature,
                concurrency: a.judge_concurrency,
                ..Default::default()
            },
            covip_rl::judge::JudgePrompt::default(),
        );
        // A failed judge call is an error, never a silent rating.
        let outs = judge
            .ask_many(&prompts()?)
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.with_context(|| format!("{}: record {i}: judge", p.display())))
            .collect::<anyhow::Result<Vec<String>>>()?;
        let mut scores = mmhal_json(&recs, &outs);
        scores["judge_outputs"] = json!(outs);
        return Ok(scores);
    }
    let Some(jp) = &a.judge_outputs else {
        return Ok(json!({ "prompts": prompts()? }));
    };
    let outs: Value = serde_json::from_str(
        &std::fs::read_to_string(jp).with_context(|| format!("{}: cannot read", jp.display()))?,
    )
    .with_context(|| format!("{}: invalid JSON", jp.display()))?;
    let outs: Vec<String> = outs
        .as_array()
        .with_context(|| format!("{}: expected a JSON list of judge outputs", jp.display()))?
        .iter()
        .enumerate()
        .map(|(i, o)| {
            o.as_str()
                .map(str::to_string)
                .with_context(|| format!("{}: item {i}: expected a string", jp.display()))
        })
        .collect::<anyhow::Result<_>>()?;
    if outs.len() != recs.len() {
        bail!(
            "{} has {} records but {} has {} judge outputs",
            p.display(),
            recs.len(),
            jp.display(),
            outs.len()
        );
    }
    Ok(mmhal_json(&recs, &outs))
}

fn mmhal_json(recs: &[MmhalRecord], outs: &[String]) -> Value {
    let s = mmhal::mmhal_scores(recs, outs);
    json!({
        "average_score": s.average_score,
        "hallucination_rate": s.hallucination_rate,
        "per_type": s.per_type,
        "ratings": s.ratings,
        "unparsed": s.unparsed,
    })
}
