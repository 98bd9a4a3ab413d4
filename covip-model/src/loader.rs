//! Loading a Hugging Face checkpoint folder: `config.json`, `model.safetensors` or shards listed
//! by `model.safetensors.index.json`, memory-mapped, checked against the model's name table.
use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};

use burn::tensor::{DType, Tensor, TensorData, backend::Backend};
use memmap2::Mmap;
use safetensors::{Dtype as StDtype, SafeTensors};

use crate::error::{ModelError, Result};

/// Which float type the weights get in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightDtype {
    /// Keep the stored type (bf16 stays bf16, f32 stays f32; f16/f64 become f32).
    #[default]
    AsStored,
    F32,
    Bf16,
}

impl WeightDtype {
    fn resolve(self, stored: StDtype) -> DType {
        match self {
            WeightDtype::F32 => DType::F32,
            WeightDtype::Bf16 => DType::BF16,
            WeightDtype::AsStored => match stored {
                StDtype::BF16 => DType::BF16,
                _ => DType::F32,
            },
        }
    }
}

#[derive(Debug, Clone)]
struct Entry {
    file: usize,
    dtype: StDtype,
    shape: Vec<usize>,
    start: usize,
    end: usize,
}

/// An opened checkpoint: every tensor's file, dtype, shape and byte range.
pub struct Checkpoint {
    pub dir: PathBuf,
    files: Vec<(PathBuf, Mmap)>,
    entries: BTreeMap<String, Entry>,
}

/// What a successful load saw besides the tensors it used.
#[derive(Debug, Clone, Default)]
pub struct LoadReport {
    /// Tensors present but left for another part of the model (`model.visual.*`, a tied head).
    pub ignored: Vec<String>,
}

fn io_err(path: &Path, e: std::io::Error) -> ModelError {
    ModelError::Io {
        path: path.display().to_string(),
        source: e,
    }
}

/// The shard file names a `model.safetensors.index.json` maps its weights to, sorted and each
/// once. Shared by the loader and the adapter export so both read an index the same way; the
/// names are returned as written: the export refuses any that is not a plain file name, the
/// loader joins them to the checkpoint folder as given.
pub(crate) fn shard_names(index: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(index).map_err(|e| io_err(index, e))?;
    let v: serde_json::Value = serde_json::from_str(&text).map_err(|e| ModelError::Config {
        path: index.display().to_string(),
        msg: e.to_string(),
    })?;
    let map = v
        .get("weight_map")
        .and_then(|m| m.as_object())
        .ok_or_else(|| ModelError::Config {
            path: index.display().to_string(),
            msg: "no weight_map object".into(),
        })?;
    let mut files: Vec<String> = map
        .values()
        .filter_map(|f| f.as_str().map(str::to_string))
        .collect();
    files.sort();
    files.dedup();
    Ok(files)
}

impl Checkpoint {
    /// Opens `dir/model.safetensors`, or the shards named by `dir/model.safetensors.index.json`.
    pub fn open(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let paths: Vec<PathBuf> = if single.exists() {
            vec![single]
        } else if index.exists() {
            shard_names(&index)?
                .into_iter()
                .map(|f| dir.join(f))
                .collect()
        } else {
            return Err(ModelError::Io {
                path: dir.display().to_string(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "neither model.safetensors nor model.safetensors.index.json is in this folder",
                ),
            });
        };
        let mut files = Vec::new();
        let mut entries = BTreeMap::new();
        for (fi, path) in paths.into_iter().enumerate() {
            let f = File::open(&path).map_err(|e| io_err(&path, e))?;
            // SAFETY: the file is opened read-only and only read while the map lives.
            let mmap = unsafe { Mmap::map(&f) }.map_err(|e| io_err(&path, e))?;
            let st = SafeTensors::deserialize(&mmap).map_err(|e| ModelError::Safetensors {
                path: path.display().to_string(),
                msg: e.to_string(),
            })?;
            let base = mmap.as_ptr() as usize;
            for (name, view) in st.tensors() {
                let data = view.data();
                let start = data.as_ptr() as usize - base;
                entries.insert(
                    name,
                    Entry {
                        file: fi,
                        dtype: view.dtype(),
                        shape: view.shape().to_vec(),
                        start,
                        end: start + data.len(),
                    },
                );
            }
            files.push((path, mmap));
        }
        Ok(Self {
            dir: dir.to_path_buf(),
            files,
            entries,
        })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(String::as_str)
    }

    pub fn shape(&self, name: &str) -> Option<&[usize]> {
        self.entries.get(name).map(|e| e.shape.as_slice())
    }

    /// The stored dtype of a tensor.
    pub fn stored_dtype(&self, name: &str) -> Option<StDtype> {
        self.entries.get(name).map(|e| e.dtype)
    }

    /// Checks the checkpoint against `expected` (name → shape) in one pass. Names under an
    /// `ignore_prefixes` entry are recorded as ignored. Errors list every missing, unexpected,
    /// mis-shaped or unsupported-dtype tensor by name and shape.
    pub fn check(
        &self,
        expected: &[(String, Vec<usize>)],
        ignore_prefixes: &[&str],
    ) -> Result<LoadReport> {
        let mut missing = Vec::new();
        let mut misshaped = Vec::new();
        let mut bad_dtype = Vec::new();
        for (name, shape) in expected {
            match self.entries.get(name) {
                None => missing.push(format!("  missing     {name} {shape:?}")),
                Some(e) => {
                    if &e.shape != shape {
                        misshaped.push(format!(
                            "  wrong shape {name}: file has {:?}, model needs {shape:?}",
                            e.shape
                        ));
                    }
                    if !matches!(
                        e.dtype,
                        StDtype::F32 | StDtype::BF16 | StDtype::F16 | StDtype::F64
                    ) {
                        bad_dtype.push(format!(
                            "  bad dtype   {name}: {:?} (need a float type)",
                            e.dtype
                        ));
                    }
                }
            }
        }
        let want: std::collections::HashSet<&str> =
            expected.iter().map(|(n, _)| n.as_str()).collect();
        let mut unexpected = Vec::new();
        let mut report = LoadReport::default();
        for (name, e) in &self.entries {
            if want.contains(name.as_str()) {
                continue;
            }
            if ignore_prefixes.iter().any(|p| name.starts_with(p)) {
                report.ignored.push(name.clone());
            } else {
                unexpected.push(format!("  unexpected  {name} {:?}", e.shape));
            }
        }
        if missing.is_empty()
            && misshaped.is_empty()
            && unexpected.is_empty()
            && bad_dtype.is_empty()
        {
            return Ok(report);
        }
        let lines: Vec<String> = [missing, misshaped, bad_dtype, unexpected].concat();
        Err(ModelError::Checkpoint {
            dir: self.dir.display().to_string(),
            report: lines.join("\n"),
        })
    }

    /// Reads one tensor onto `device` with the requested dtype policy.
    pub fn tensor<B: Backend, const D: usize>(
        &self,
        name: &str,
        dtype: WeightDtype,
        device: &B::Device,
    ) -> Result<Tensor<B, D>> {
        let e = self
            .entries
            .get(name)
            .ok_or_else(|| ModelError::Checkpoint {
                dir: self.dir.display().to_string(),
                report: format!("  missing     {name}"),
            })?;
        if e.shape.len() != D {
            return Err(ModelError::Checkpoint {
                dir: self.dir.display().to_string(),
                report: format!(
                    "  wrong rank  {name}: file has {:?}, model needs rank {D}",
                    e.shape
                ),
            });
        }
        let bytes = &self.files[e.file].1[e.start..e.end];
        let data = match e.dtype {
            StDtype::F32 => TensorData::from_bytes_vec(bytes.to_vec(), e.shape.clone(), DType::F32),
            StDtype::BF16 => {
                TensorData::from_bytes_vec(bytes.to_vec(), e.shape.clone(), DType::BF16)
            }
            StDtype::F16 => TensorData::from_bytes_vec(bytes.to_vec(), e.shape.clone(), DType::F16),
            StDtype::F64 => TensorData::from_bytes_vec(bytes.to_vec(), e.shape.clone(), DType::F64),
            other => {
                return Err(ModelError::Checkpoint {
                    dir: self.dir.display().to_string(),
                    report: format!("  bad dtype   {name}: {other:?}"),
                });
            }
        };
        let target = dtype.resolve(e.dtype);
        let data = if data.dtype == target {
            data
        } else {
            data.convert_dtype(target)
        };
        Ok(Tensor::from_data(data, (device, target)))
    }
}
