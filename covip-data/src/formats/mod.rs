//! Readers and writers of the released formats, and detection of which one a path holds.
pub mod convert;
pub mod downstream;
pub mod json;
#[cfg(feature = "parquet")]
pub mod parquet;
#[cfg(feature = "parquet")]
mod parquet_guard;
pub mod test_set;
pub mod train;

use std::path::{Path, PathBuf};

use crate::diagnostics::DiagnosticSample;
use crate::error::{DataError, Loaded};
use crate::sample::Sample;

pub use convert::Conversion;
pub use downstream::{read_downstream_json, write_downstream_json};
#[cfg(feature = "parquet")]
pub use parquet::{read_downstream_parquet, write_downstream_parquet};
pub use test_set::{read_test_set, write_test_set};
pub use train::{TrainRecord, read_train, read_train_samples, write_train};

/// What a single file holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileKind {
    /// A training list (JSON array or JSONL).
    TrainList,
    /// Test-set metadata JSONL.
    TestMeta,
    /// Test-set ground-truth JSON.
    TestGroundTruth,
    /// A downstream (LSD/LAR/ITR) set in JSON, JSONL or Parquet.
    Downstream,
}

fn first_record(path: &Path) -> Result<Option<serde_json::Value>, DataError> {
    let text = json::read_text(path)?;
    let trimmed = text.trim_start();
    if trimmed.starts_with('[') || path.extension().is_some_and(|e| e == "json") {
        let v: serde_json::Value = match serde_json::from_str(&text) {
            Ok(v) => v,
            Err(_) => return Ok(None),
        };
        return Ok(match v {
            serde_json::Value::Array(mut a) if !a.is_empty() => Some(a.swap_remove(0)),
            serde_json::Value::Object(o) => {
                // A ground-truth file is an object of `{qas, gts}` entries.
                let gt_like = o
                    .values()
                    .next()
                    .is_some_and(|e| e.get("qas").is_some() && e.get("gts").is_some());
                if gt_like {
                    Some(serde_json::json!({"__ground_truth__": true}))
                } else {
                    Some(serde_json::Value::Object(o))
                }
            }
            _ => None,
        });
    }
    let mut lines = crate::jsonl::Lines::new(text.as_bytes());
    Ok(match lines.next_line() {
        Ok(Some(line)) => serde_json::from_slice(line.bytes).ok(),
        _ => None,
    })
}

/// Tells which released format a file holds, from its extension and first record.
/// `Ok(None)` means it is JSON but none of ours (captions, embeddings, ...).
pub fn detect_file(path: &Path) -> Result<Option<FileKind>, DataError> {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "parquet" => return Ok(Some(FileKind::Downstream)),
        "json" | "jsonl" => {}
        _ => return Ok(None),
    }
    let Some(rec) = first_record(path)? else {
        return Ok(None);
    };
    let has = |k: &str| rec.get(k).is_some();
    Ok(if has("__ground_truth__") {
        Some(FileKind::TestGroundTruth)
    } else if has("accu_reward_method") {
        Some(FileKind::TrainList)
    } else if has("imgs") && has("concepts") {
        Some(FileKind::TestMeta)
    } else if has("images_context") {
        Some(FileKind::Downstream)
    } else {
        None
    })
}

/// A loaded dataset of any released kind.
#[derive(Debug)]
pub enum Dataset {
    Train {
        path: PathBuf,
        records: Loaded<TrainRecord>,
        samples: Loaded<Sample>,
    },
    Test {
        meta: PathBuf,
        ground_truth: PathBuf,
        samples: Loaded<Sample>,
    },
    Downstream {
        path: PathBuf,
        samples: Loaded<DiagnosticSample>,
    },
}

impl Dataset {
    /// The main file of the dataset.
    pub fn path(&self) -> &Path {
        match self {
            Dataset::Train { path, .. } | Dataset::Downstream { path, .. } => path,
            Dataset::Test { meta, .. } => meta,
        }
    }

    /// Number of samples that parsed.
    pub fn len(&self) -> usize {
        match self {
            Dataset::Train { samples, .. } | Dataset::Test { samples, .. } => samples.records.len(),
            Dataset::Downstream { samples, .. } => samples.records.len(),
        }
    }

    /// Whether no sample parsed.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every problem found while reading.
    pub fn problems(&self) -> &[crate::error::Problem] {
        match self {
            Dataset::Train { samples, .. } | Dataset::Test { samples, .. } => &samples.problems,
            Dataset::Downstream { samples, .. } => &samples.problems,
        }
    }
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DataError> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| DataError::io(dir, e))?
        .map(|e| e.map(|e| e.path()))
        .collect::<Result<_, _>>()
        .map_err(|e| DataError::io(dir, e))?;
    entries.sort();
    for p in entries {
        let hidden = p
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if p.is_dir() {
            files_under(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

/// Without the `parquet` feature a Parquet file is recognised but neither read nor written:
/// both calls answer this error.
#[cfg(not(feature = "parquet"))]
fn parquet_disabled(path: &Path) -> DataError {
    DataError::Parquet {
        path: path.to_path_buf(),
        message: "covip-data was built without its `parquet` feature".into(),
    }
}

/// Reading Parquet needs the `parquet` feature; without it, an error naming the file.
#[cfg(not(feature = "parquet"))]
pub fn read_downstream_parquet(path: &Path) -> Result<Loaded<DiagnosticSample>, DataError> {
    Err(parquet_disabled(path))
}

/// Writing Parquet needs the `parquet` feature; without it, an error naming the file.
#[cfg(not(feature = "parquet"))]
pub fn write_downstream_parquet(path: &Path, _: &[DiagnosticSample]) -> Result<(), DataError> {
    Err(parquet_disabled(path))
}

fn load_downstream(path: &Path) -> Result<Loaded<DiagnosticSample>, DataError> {
    if path.extension().is_some_and(|e| e == "parquet") {
        read_downstream_parquet(path)
    } else {
        read_downstream_json(path)
    }
}

/// Loads every dataset at `path`: one file, or every recognised file under a folder. Test-set
/// metadata is paired with the ground-truth file in the same folder.
pub fn load(path: &Path) -> Result<Vec<Dataset>, DataError> {
    if !path.exists() {
        return Err(DataError::io(
            path,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file or folder"),
        ));
    }
    let explicit = path.is_file();
    let mut files = Vec::new();
    if explicit {
        files.push(path.to_path_buf());
    } else {
        files_under(path, &mut files)?;
    }
    let mut kinds = Vec::new();
    for f in &files {
        match detect_file(f)? {
            Some(k) => {
                tracing::debug!("{}: {k:?}", f.display());
                kinds.push((f.clone(), k));
            }
            None if explicit => {
                return Err(DataError::UnknownFormat {
                    path: f.clone(),
                    reason: "not a training list, test set or downstream set".into(),
                });
            }
            None => tracing::debug!("{}: not a covip dataset, skipped", f.display()),
        }
    }
    // A lone ground-truth or metadata file given explicitly: look for its partner beside it.
    if explicit
        && let Some((f, k)) = kinds.first().cloned()
        && matches!(k, FileKind::TestMeta | FileKind::TestGroundTruth)
    {
        let dir = f.parent().unwrap_or(Path::new("."));
        let mut siblings = Vec::new();
        files_under(dir, &mut siblings)?;
        for s in siblings {
            if s != f
                && let Some(sk) = detect_file(&s)?
                && matches!(sk, FileKind::TestMeta | FileKind::TestGroundTruth)
                && sk != k
            {
                kinds.push((s, sk));
            }
        }
    }
    let mut out = Vec::new();
    let mut metas = Vec::new();
    let mut gts = Vec::new();
    for (f, k) in kinds {
        match k {
            FileKind::TrainList => {
                let records = read_train(&f)?;
                let samples = read_train_samples(&f)?;
                out.push(Dataset::Train {
                    path: f,
                    records,
                    samples,
                });
            }
            FileKind::Downstream => {
                let samples = load_downstream(&f)?;
                out.push(Dataset::Downstream { path: f, samples });
            }
            FileKind::TestMeta => metas.push(f),
            FileKind::TestGroundTruth => gts.push(f),
        }
    }
    for meta in metas {
        let dir = meta.parent().map(Path::to_path_buf);
        let partners: Vec<&PathBuf> = gts
            .iter()
            .filter(|g| g.parent().map(Path::to_path_buf) == dir)
            .collect();
        match partners.as_slice() {
            [gt] => {
                let samples = read_test_set(&meta, gt)?;
                out.push(Dataset::Test {
                    meta: meta.clone(),
                    ground_truth: (*gt).clone(),
                    samples,
                });
            }
            [] => {
                return Err(DataError::Other(format!(
                    "{}: test metadata without a ground-truth JSON beside it",
                    meta.display()
                )));
            }
            _ => {
                return Err(DataError::Other(format!(
                    "{}: several ground-truth files beside it; pass the pair explicitly",
                    meta.display()
                )));
            }
        }
    }
    Ok(out)
}
