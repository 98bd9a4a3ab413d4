//! What `covip data inspect` reports: counts by number of present concepts, task kinds and
//! diagnostic kinds, and every problem.
use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::error::{DataError, Problem, RecordLoc};
use crate::formats::Dataset;
use crate::validate::check_image;

/// Summary of one dataset.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Summary {
    /// `train`, `test` or `downstream`.
    pub kind: String,
    pub path: String,
    /// Records that parsed and validated.
    pub samples: usize,
    /// Samples by number of concepts present in the query ("1".."4"; caption and recognition).
    pub by_present_concepts: BTreeMap<usize, usize>,
    /// Samples by task kind (`caption`, `multi_vision`, `vision`).
    pub by_task: BTreeMap<String, usize>,
    /// Downstream samples by set (`lsd`, `lar`, `itr`).
    pub by_diagnostic: BTreeMap<String, usize>,
    /// Context sizes (number of dialogue groups) → samples.
    pub by_context_size: BTreeMap<usize, usize>,
    /// Every problem, formatted `file: record: field: message`.
    pub problems: Vec<String>,
}

/// What `covip data inspect` reports for a path: a summary per dataset, and the number of
/// problems over all of them.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Report {
    pub datasets: Vec<Summary>,
    pub problems: usize,
}

/// Loads every dataset at `path` (a file or a folder, [`crate::formats::load`]) and
/// summarises each; a path that holds none is an error.
pub fn inspect(path: &Path, check_images: bool) -> Result<Report, DataError> {
    inspect_with_progress(path, check_images, &mut |_, _| {})
}

/// [`inspect`], calling `progress(done, total)` after each sample is summarised (over all
/// datasets), so a caller can show how far a long image check has come.
pub fn inspect_with_progress(
    path: &Path,
    check_images: bool,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Report, DataError> {
    let datasets = crate::formats::load(path)?;
    if datasets.is_empty() {
        return Err(DataError::Other(format!(
            "{}: no training list, test set or downstream set found",
            path.display()
        )));
    }
    let total = datasets.iter().map(Dataset::len).sum();
    let mut done = 0;
    let datasets: Vec<Summary> = datasets
        .iter()
        .map(|d| {
            summarize_with_progress(d, check_images, &mut || {
                done += 1;
                progress(done, total);
            })
        })
        .collect();
    let problems = datasets.iter().map(|s| s.problems.len()).sum();
    Ok(Report { datasets, problems })
}

/// Summarises a dataset; with `check_images`, every image is opened and decoded too.
pub fn summarize(ds: &Dataset, check_images: bool) -> Summary {
    summarize_with_progress(ds, check_images, &mut || {})
}

/// [`summarize`], calling `sample_done` after each sample.
pub fn summarize_with_progress(
    ds: &Dataset,
    check_images: bool,
    sample_done: &mut dyn FnMut(),
) -> Summary {
    let mut s = Summary {
        kind: String::new(),
        path: ds.path().display().to_string(),
        samples: 0,
        by_present_concepts: BTreeMap::new(),
        by_task: BTreeMap::new(),
        by_diagnostic: BTreeMap::new(),
        by_context_size: BTreeMap::new(),
        problems: Vec::new(),
    };
    let mut problems: Vec<Problem> = ds.problems().to_vec();
    fn bump<K: Ord>(m: &mut BTreeMap<K, usize>, k: K) {
        *m.entry(k).or_insert(0) += 1;
    }
    match ds {
        Dataset::Train { samples, .. } | Dataset::Test { samples, .. } => {
            s.kind = if matches!(ds, Dataset::Train { .. }) {
                "train"
            } else {
                "test"
            }
            .into();
            s.samples = samples.records.len();
            for (loc, smp) in &samples.records {
                bump(&mut s.by_task, smp.task.as_str().to_string());
                if smp.task != crate::sample::TaskKind::Vision {
                    bump(&mut s.by_present_concepts, smp.gold.len());
                }
                bump(&mut s.by_context_size, smp.context.len());
                if check_images {
                    problems.extend(images_problems(
                        ds.path(),
                        loc,
                        smp.context.iter().map(|c| &c.image),
                        &smp.query,
                    ));
                }
                sample_done();
            }
        }
        Dataset::Downstream { samples, .. } => {
            s.kind = "downstream".into();
            s.samples = samples.records.len();
            for (loc, smp) in &samples.records {
                bump(&mut s.by_diagnostic, smp.kind.as_str().to_string());
                bump(&mut s.by_context_size, smp.context.len());
                if check_images {
                    problems.extend(images_problems(
                        ds.path(),
                        loc,
                        smp.context.iter().map(|c| &c.image),
                        &smp.query,
                    ));
                }
                sample_done();
            }
        }
    }
    s.problems = problems.iter().map(ToString::to_string).collect();
    s
}

fn images_problems<'a>(
    file: &Path,
    loc: &RecordLoc,
    context: impl Iterator<Item = &'a crate::image::ImageRef>,
    query: &crate::image::ImageRef,
) -> Vec<Problem> {
    let mut out: Vec<Problem> = context
        .enumerate()
        .filter_map(|(i, img)| check_image(file, loc.clone(), &format!("context[{i}].image"), img))
        .collect();
    out.extend(check_image(file, loc.clone(), "query", query));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_counts_every_sample_once() {
        let root =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/diagnostics/lar.jsonl");
        let mut calls = Vec::new();
        let report =
            inspect_with_progress(&root, false, &mut |done, total| calls.push((done, total)))
                .unwrap();
        let samples: usize = report.datasets.iter().map(|s| s.samples).sum();
        assert_eq!(samples, 8);
        assert_eq!(calls, (1..=8).map(|d| (d, 8)).collect::<Vec<_>>());
        assert_eq!(report, inspect(&root, false).unwrap());
    }
}
