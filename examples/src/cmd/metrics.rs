//! `covip metrics ...`: caption-quality and hallucination metrics. Parses arguments, reads the
//! input files, calls `covip_eval::metrics` and prints one JSON object.
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use covip_eval::metrics::caption::{
    BertScoreSettings, add_bertscore, add_spice, progress_steps, score_captions_progress,
};
use covip_eval::metrics::chair::{Chair, GroundTruth};
use covip_eval::metrics::meteor::{resources as meteor_resources, setup as meteor_setup};
use covip_eval::metrics::mmhal;
use covip_eval::metrics::pope;
use covip_eval::metrics::spice::SpiceJar;
use covip_eval::metrics::{CaptionCorpus, CaptionMetric, CaptionOptions};
use indicatif::{ProgressBar, ProgressStyle};
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
    // A bar on a terminal (indicatif draws nothing otherwise): one step per part.
    let steps = usize::from(!a.no_tokenize)
        + progress_steps(&others)
        + usize::from(spice.is_some())
        + usize::from(bert.is_some());
    let bar = ProgressBar::new(steps as u64).with_style(
        ProgressStyle::with_template("{spinner} caption metrics [{bar:30}] {pos}/{len} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.enable_steady_tick(std::time::Duration::from_millis(200));
    let tokenized;
    let scored = if a.no_tokenize {
        &raw
    } else {
        bar.set_message("PTB tokenisation");
        tokenized = raw.tokenized();
        bar.inc(1);
        &tokenized
    };
    bar.set_message("BLEU, METEOR, ROUGE-L, CIDEr-D");
    let mut report = score_captions_progress(scored, &others, &options, &|part| {
        bar.inc(1);
        bar.set_message(format!("{part} done"));
    })?;
    if let Some(jar) = spice {
        bar.set_message("SPICE (java)");
        add_spice(&mut report, scored, &jar)?;
        bar.inc(1);
    }
    if let Some(settings) = bert {
        bar.set_message("BERTScore");
        add_bertscore(&mut report, &raw, &settings)?;
        bar.inc(1);
    }
    bar.finish_and_clear();
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
    let spinner = ProgressBar::new_spinner().with_style(
        ProgressStyle::with_template("{spinner} setup-meteor: {msg} ({elapsed})")
            .expect("a valid template"),
    );
    spinner.enable_steady_tick(std::time::Duration::from_millis(200));
    let r = meteor_setup::setup_with_progress(&source, &dest, &mut |stage| {
        spinner.set_message(stage.to_string())
    })?;
    // Parse the paraphrase table once now, which leaves its binary cache beside it, so that
    // the first scoring run loads as fast as the later ones.
    spinner.set_message("parsing the paraphrase table");
    covip_eval::metrics::meteor::paraphrase::ParaphraseTable::load_gz_cached(
        &dest.join(meteor_resources::PARAPHRASES),
    )?;
    spinner.finish_and_clear();
    Ok(json!({
        "dest": r.dest.display().to_string(),
        "installed": r.installed,
        "source": r.source,
    }))
}

fn pope_cmd(a: PopeArgs) -> anyhow::Result<Value> {
    let (answers, labels) = pope::read_pope_files(&a.answers, &a.labels)?;
    Ok(pope::pope(&answers, &labels)?.to_json())
}

fn chair(a: ChairArgs) -> anyhow::Result<Value> {
    let c = Chair::new();
    let mut gt = GroundTruth::new();
    if let Some(p) = &a.gt {
        c.add_ground_truth_file(&mut gt, p)?;
    }
    if let Some(p) = &a.coco_instances {
        c.add_coco_instances(&mut gt, p)?;
    }
    if let Some(p) = &a.coco_captions {
        c.add_coco_captions(&mut gt, p)?;
    }
    Ok(c.score_file(&a.captions, &gt)?.to_json())
}

fn mmhal_cmd(a: MmhalArgs) -> anyhow::Result<Value> {
    let p = &a.responses;
    let recs = mmhal::read_records(p)?;
    let template = match &a.prompt_template {
        Some(t) => {
            std::fs::read_to_string(t).with_context(|| format!("{}: cannot read", t.display()))?
        }
        None => mmhal::DEFAULT_TEMPLATE.to_string(),
    };
    let prompts = mmhal::judge_prompts(&template, &recs)?;
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
            .ask_many(&prompts)
            .into_iter()
            .enumerate()
            .map(|(i, r)| r.with_context(|| format!("{}: record {i}: judge", p.display())))
            .collect::<anyhow::Result<Vec<String>>>()?;
        let mut scores = mmhal::mmhal_scores(&recs, &outs)?.to_json();
        scores["judge_outputs"] = json!(outs);
        return Ok(scores);
    }
    let Some(jp) = &a.judge_outputs else {
        return Ok(json!({ "prompts": prompts }));
    };
    let outs = mmhal::read_judge_outputs(jp)?;
    if outs.len() != recs.len() {
        bail!(
            "{} has {} records but {} has {} judge outputs",
            p.display(),
            recs.len(),
            jp.display(),
            outs.len()
        );
    }
    Ok(mmhal::mmhal_scores(&recs, &outs)?.to_json())
}
