//! `covip data inspect|convert|make-sample`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Subcommand;
use covip_data::formats::{self, Dataset};
use covip_data::inspect::{Summary, summarize};

#[derive(Subcommand)]
pub enum DataCommand {
    /// Detect the format(s) at PATH (a file or a folder), print counts and every problem.
    Inspect {
        path: PathBuf,
        /// Print one JSON object instead of text.
        #[arg(long)]
        json: bool,
        /// Also open and decode every image.
        #[arg(long)]
        check_images: bool,
    },
    /// Convert a training list or a downstream set between JSON, JSONL and Parquet
    /// (the output format follows OUT's extension).
    Convert {
        input: PathBuf,
        output: PathBuf,
        /// Write the valid records even if some are malformed (each one is still reported).
        #[arg(long)]
        skip_invalid: bool,
        /// Where embedded images go when writing JSON(L) (default: OUT's folder/`<stem>_images`).
        #[arg(long)]
        image_dir: Option<PathBuf>,
    },
    /// Write the bundled sample set (drawn concepts, dialogues, QAs, test set, training list,
    /// diagnostic sets).
    MakeSample {
        #[arg(long, default_value = "data/sample")]
        out: PathBuf,
    },
}

pub fn run(cmd: DataCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        DataCommand::Inspect {
            path,
            json,
            check_images,
        } => inspect(&path, json, check_images),
        DataCommand::Convert {
            input,
            output,
            skip_invalid,
            image_dir,
        } => convert(&input, &output, skip_invalid, image_dir),
        DataCommand::MakeSample { out } => {
            let report = covip_data::bundled::write_sample_set(&out)?;
            println!("wrote {} files under {}", report.files.len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_counts<K: std::fmt::Display>(title: &str, m: &std::collections::BTreeMap<K, usize>) {
    if m.is_empty() {
        return;
    }
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    println!("  {title}: {}", parts.join(", "));
}

fn inspect(path: &Path, json: bool, check_images: bool) -> anyhow::Result<ExitCode> {
    let datasets = formats::load(path)?;
    if datasets.is_empty() {
        bail!(
            "{}: no training list, test set or downstream set found",
            path.display()
        );
    }
    let summaries: Vec<Summary> = datasets
        .iter()
        .map(|d| summarize(d, check_images))
        .collect();
    let problems: usize = summaries.iter().map(|s| s.problems.len()).sum();
    if json {
        let out = serde_json::json!({
            "datasets": summaries,
            "problems": problems,
        });
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        for s in &summaries {
            println!("{} ({}): {} samples", s.path, s.kind, s.samples);
            print_counts("present concepts", &s.by_present_concepts);
            print_counts("tasks", &s.by_task);
            print_counts("diagnostic sets", &s.by_diagnostic);
            print_counts("context sizes", &s.by_context_size);
            if s.problems.is_empty() {
                println!("  problems: none");
            } else {
                println!("  problems: {}", s.problems.len());
                for p in &s.problems {
                    println!("    {p}");
                }
            }
        }
    }
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn convert(
    input: &Path,
    output: &Path,
    skip_invalid: bool,
    image_dir: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let mut datasets = formats::load(input)?;
    if datasets.len() != 1 {
        bail!(
            "{}: expected one dataset, found {}",
            input.display(),
            datasets.len()
        );
    }
    let ds = datasets.remove(0);
    let problems = ds.problems().to_vec();
    for p in &problems {
        eprintln!("{p}");
    }
    if !problems.is_empty() && !skip_invalid {
        bail!(
            "{} problem(s) in {}; nothing written (pass --skip-invalid to write the valid records)",
            problems.len(),
            input.display()
        );
    }
    let ext = output
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let written = match ds {
        Dataset::Train { records, .. } => {
            if !matches!(ext.as_str(), "json" | "jsonl") {
                bail!(
                    "{}: a training list converts to .json or .jsonl",
                    output.display()
                );
            }
            // Only records without problems go out (problems are per record location).
            let bad: std::collections::HashSet<_> =
                problems.iter().map(|p| p.record.clone()).collect();
            let good: Vec<_> = records
                .records
                .into_iter()
                .filter(|(loc, _)| !bad.contains(loc))
                .map(|(_, r)| r)
                .collect();
            formats::write_train(output, &good)?;
            good.len()
        }
        Dataset::Downstream { samples, .. } => {
            let good: Vec<_> = samples.records.into_iter().map(|(_, s)| s).collect();
            match ext.as_str() {
                "parquet" => formats::write_downstream_parquet(output, &good)?,
                "json" | "jsonl" => {
                    let dir = image_dir.unwrap_or_else(|| {
                        let stem = output
                            .file_stem()
                            .map(|s| s.to_string_lossy().into_owned())
                            .unwrap_or_default();
                        output.with_file_name(format!("{stem}_images"))
                    });
                    formats::write_downstream_json(output, &good, &dir)
                        .with_context(|| format!("writing {}", output.display()))?
                }
                _ => bail!(
                    "{}: a downstream set converts to .json, .jsonl or .parquet",
                    output.display()
                ),
            }
            good.len()
        }
        Dataset::Test { .. } => bail!(
            "{}: test sets are a metadata JSONL plus a ground-truth JSON and have no other released form",
            input.display()
        ),
    };
    println!("wrote {written} records to {}", output.display());
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
