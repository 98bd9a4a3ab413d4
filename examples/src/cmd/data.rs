//! `covip data inspect|convert|make-sample`.
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use clap::Subcommand;
use covip_data::formats::Conversion;
use indicatif::{ProgressBar, ProgressStyle};

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
        } => convert(&input, &output, skip_invalid, image_dir.as_deref()),
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
    // Decoding every image of a large set takes a while: a bar on a terminal (indicatif
    // draws nothing when stderr is not one).
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template(
            "checking images {bar:40} {pos}/{len} samples [{elapsed}<{eta}]",
        )
        .expect("valid progress template"),
    );
    let report = if check_images {
        covip_data::inspect::inspect_with_progress(path, true, &mut |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        })
    } else {
        covip_data::inspect::inspect(path, false)
    };
    bar.finish_and_clear();
    let report = report?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        for s in &report.datasets {
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
    Ok(if report.problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn convert(
    input: &Path,
    output: &Path,
    skip_invalid: bool,
    image_dir: Option<&Path>,
) -> anyhow::Result<ExitCode> {
    let conversion = Conversion::load(input)?;
    let problems = conversion.problems().len();
    for p in conversion.problems() {
        eprintln!("{p}");
    }
    if problems > 0 && !skip_invalid {
        bail!(
            "{problems} problem(s) in {}; nothing written (pass --skip-invalid to write the valid records)",
            input.display()
        );
    }
    let written = conversion.write(output, image_dir)?;
    println!("wrote {written} records to {}", output.display());
    Ok(if problems == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
