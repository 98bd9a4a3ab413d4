//! The captioning seam: benchmark samples in, personalised captions out.
//!
//! [`Captioner`] is what CapEval and `covip caption` call; `LocalCaptioner` (feature `model`)
//! runs the burn model of a checkpoint folder (captioning prompt of SPEC §3 with the "New
//! Image" header, chat template with "Picture N: " ids, greedy decoding, batches with left
//! padding), [`OpenAiCaptioner`] sends the same conversation to an OpenAI-compatible server
//! (vLLM, `covip serve`) with the images as data URLs, and [`run_captioning`] drives any
//! captioner over a test set resumably: each finished sample is appended to
//! `<out>.resume.jsonl` at once, a rerun skips the samples found there, and the final
//! `{sample_id: caption}` file is written atomically once every sample is done.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use covip_data::formats::{Dataset, load};
use covip_data::io::{ResumeLog, write_json_atomic};
#[cfg(feature = "model")]
use covip_data::prompt::{QueryHeader, Templates, caption_prompt, conversation_images};
use covip_data::{DataError, Sample};
#[cfg(feature = "model")]
use covip_model::burn::tensor::backend::Backend;
#[cfg(feature = "model")]
use covip_model::processor::image::PixelPatches;
#[cfg(feature = "model")]
use covip_model::{
    GenerateOptions, LoadOptions, ModelBundle, ModelError, RenderOptions, Sampling, Vision,
};
use covip_rl::openai::OpenAiError;

pub use crate::captioner_openai::{OpenAiCaptionOptions, OpenAiCaptioner};

/// Errors of captioning.
#[derive(Debug, thiserror::Error)]
pub enum CaptionError {
    /// Reading the samples or their images, or writing the log and the output.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The model failed on these samples.
    #[cfg(feature = "model")]
    #[error("captioning {samples:?}: {source}")]
    Model {
        samples: Vec<String>,
        #[source]
        source: ModelError,
    },
    /// Loading the model.
    #[cfg(feature = "model")]
    #[error(transparent)]
    Load(ModelError),
    /// An OpenAI-compatible server failed on these samples (or their images could not be
    /// sent).
    #[error("captioning {samples:?}: {source}")]
    Remote {
        samples: Vec<String>,
        #[source]
        source: OpenAiError,
    },
    #[error("{0}")]
    Invalid(String),
}

/// Turns samples into captions. Implementations may batch; a run hands over at most
/// [`Captioner::batch_size`] samples per call.
pub trait Captioner: Send {
    /// Most samples one [`Captioner::caption`] call takes.
    fn batch_size(&self) -> usize {
        1
    }

    /// One caption per sample, in order.
    fn caption(&mut self, samples: &[&Sample]) -> Result<Vec<String>, CaptionError>;
}

/// Settings of the local model captioner.
#[cfg(feature = "model")]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalCaptionOptions {
    pub max_new_tokens: usize,
    /// Samples generated together (left padding).
    pub batch_size: usize,
}

#[cfg(feature = "model")]
impl Default for LocalCaptionOptions {
    fn default() -> Self {
        LocalCaptionOptions {
            max_new_tokens: 512,
            batch_size: 1,
        }
    }
}

/// Captions with a Qwen3-VL checkpoint run by burn on `device`, greedily.
#[cfg(feature = "model")]
pub struct LocalCaptioner<B: Backend> {
    bundle: ModelBundle<B>,
    device: B::Device,
    options: LocalCaptionOptions,
    templates: Templates,
}

#[cfg(feature = "model")]
impl<B: Backend> LocalCaptioner<B> {
    /// Wraps a loaded checkpoint (its vision tower included).
    pub fn new(
        bundle: ModelBundle<B>,
        device: B::Device,
        options: LocalCaptionOptions,
    ) -> Result<Self, CaptionError> {
        if options.batch_size == 0 {
            return Err(CaptionError::Invalid(
                "the batch size must be at least 1".into(),
            ));
        }
        bundle.multimodal().map_err(CaptionError::Load)?;
        Ok(LocalCaptioner {
            bundle,
            device,
            options,
            templates: Templates::default(),
        })
    }

    /// Loads the checkpoint folder `dir` (weights as `load.dtype`, vision tower included).
    pub fn load(
        dir: &Path,
        load: LoadOptions,
        device: B::Device,
        options: LocalCaptionOptions,
    ) -> Result<Self, CaptionError> {
        let load = LoadOptions {
            vision: Vision::Load,
            ..load
        };
        let bundle = ModelBundle::load(dir, load, &device).map_err(CaptionError::Load)?;
        Self::new(bundle, device, options)
    }

    /// The prompt ids and image patches of one sample.
    fn encode(&self, s: &Sample) -> Result<(Vec<u32>, PixelPatches), CaptionError> {
        let model_err = |source| CaptionError::Model {
            samples: vec![s.id.clone()],
            source,
        };
        let messages = caption_prompt(&s.context, &s.query, QueryHeader::NewImage, &self.templates);
        let images = &self.bundle.images;
        let rgb = conversation_images(&messages)
            .into_iter()
            .map(|r| {
                let origin = format!("sample {}: image {}", s.id, r.name().unwrap_or("?"));
                let bytes = r.read_bytes()?;
                images.decode(&bytes, &origin).map_err(model_err)
            })
            .collect::<Result<Vec<_>, CaptionError>>()?;
        let px = images.process(&rgb).map_err(model_err)?;
        let render = RenderOptions {
            add_generation_prompt: true,
            add_vision_id: true,
        };
        let ids = self
            .bundle
            .processor
            .encode_chat(&messages, &px.image_tokens(), render)
            .map_err(model_err)?;
        Ok((ids, px))
    }
}

#[cfg(feature = "model")]
impl<B: Backend> Captioner for LocalCaptioner<B> {
    fn batch_size(&self) -> usize {
        self.options.batch_size
    }

    fn caption(&mut self, samples: &[&Sample]) -> Result<Vec<String>, CaptionError> {
        if samples.is_empty() {
            return Ok(Vec::new());
        }
        let mut prompts = Vec::with_capacity(samples.len());
        let mut pixels = Vec::with_capacity(samples.len());
        for s in samples {
            let (ids, px) = self.encode(s)?;
            prompts.push(ids);
            pixels.push(px);
        }
        let processor = &self.bundle.processor;
        let opts = GenerateOptions {
            max_new_tokens: self.options.max_new_tokens,
            sampling: Sampling::greedy(),
            stop_ids: processor.stop_ids.clone(),
            seed: 0,
            pad_id: processor.pad_id,
        };
        let model_err = |source| CaptionError::Model {
            samples: samples.iter().map(|s| s.id.clone()).collect(),
            source,
        };
        let refs: Vec<&PixelPatches> = pixels.iter().collect();
        let model = self.bundle.multimodal().map_err(model_err)?;
        let g = model
            .generate(&prompts, &refs, &opts, &self.device, |_, _| {})
            .map_err(model_err)?;
        g.tokens
            .iter()
            .map(|toks| {
                let toks: Vec<u32> = toks
                    .iter()
                    .copied()
                    .filter(|t| !processor.stop_ids.contains(t))
                    .collect();
                let text = processor.tokenizer.decode(&toks, true).map_err(model_err)?;
                Ok(text.trim().to_string())
            })
            .collect()
    }
}

/// The resume log that belongs to the output file `out`: `<out>.resume.jsonl`.
pub fn resume_log_path(out: &Path) -> PathBuf {
    let mut name = out.file_name().unwrap_or_default().to_os_string();
    name.push(".resume.jsonl");
    out.with_file_name(name)
}

/// The samples of every test set under `path` (a folder or a meta / ground-truth file);
/// other kinds of set are skipped with a log line. An error when a test set has a problem or
/// none is found.
pub fn test_samples(path: &Path) -> Result<Vec<Sample>, CaptionError> {
    collect_test_samples(path, CaptionError::Invalid, |p| {
        tracing::info!("{}: not a test set, skipped", p.display())
    })
}

/// The samples of every test set under `path`, in file order: the one reading of a test set
/// that captioning and CapEval share. A problem in a test set, or no test sample at all, is an
/// error made by `invalid` from its message; `skipped` is told of each set of another kind
/// (each caller logs it at its own level).
pub(crate) fn collect_test_samples<E: From<DataError>>(
    path: &Path,
    invalid: impl Fn(String) -> E,
    skipped: impl Fn(&Path),
) -> Result<Vec<Sample>, E> {
    let mut out = Vec::new();
    for d in load(path)? {
        match d {
            Dataset::Test { meta, samples, .. } => {
                if let Some(p) = samples.problems.first() {
                    return Err(invalid(format!(
                        "{}: {} problem(s), first: {p}",
                        meta.display(),
                        samples.problems.len()
                    )));
                }
                out.extend(samples.records.into_iter().map(|(_, s)| s));
            }
            Dataset::Train { path, .. } | Dataset::Downstream { path, .. } => skipped(&path),
        }
    }
    if out.is_empty() {
        return Err(invalid(format!(
            "{}: no test-set samples found",
            path.display()
        )));
    }
    Ok(out)
}

/// What a captioning run reports as it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaptionEvent<'a> {
    /// Before the first batch: `total` samples, `done` of them found in the log at `log`,
    /// `todo` to caption in this run.
    Started {
        total: usize,
        done: usize,
        todo: usize,
        log: &'a Path,
    },
    /// One sample finished and logged.
    Captioned { id: &'a str },
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaptionReport {
    pub total: usize,
    /// Samples found in the log when the run started.
    pub already_done: usize,
    /// Samples captioned by this run.
    pub captioned: usize,
    /// Samples still without a caption (left for a resumed run).
    pub remaining: usize,
    /// Whether the final file was written (every sample is done).
    pub written: bool,
    pub log: PathBuf,
}

/// Captions every sample of `samples` not yet in `<out>.resume.jsonl` (at most `max_samples`
/// of them in this run), logging each as it finishes, and writes `out` as
/// `{sample_id: caption}` once all are done. `on_event` sees the start and every finished
/// sample.
pub fn run_captioning(
    captioner: &mut dyn Captioner,
    samples: &[Sample],
    out: &Path,
    max_samples: Option<usize>,
    on_event: &mut dyn FnMut(CaptionEvent),
) -> Result<CaptionReport, CaptionError> {
    let log_path = resume_log_path(out);
    let mut log = ResumeLog::<String>::open(&log_path)?;
    let pending: Vec<&Sample> = samples.iter().filter(|s| !log.contains(&s.id)).collect();
    let todo = max_samples.map_or(pending.len(), |n| n.min(pending.len()));
    let already_done = samples.len() - pending.len();
    on_event(CaptionEvent::Started {
        total: samples.len(),
        done: already_done,
        todo,
        log: &log_path,
    });
    let batch = captioner.batch_size().max(1);
    for chunk in pending[..todo].chunks(batch) {
        let captions = captioner.caption(chunk)?;
        if captions.len() != chunk.len() {
            return Err(CaptionError::Invalid(format!(
                "the captioner returned {} captions for {} samples",
                captions.len(),
                chunk.len()
            )));
        }
        for (s, caption) in chunk.iter().zip(captions) {
            log.record(&s.id, caption)?;
            on_event(CaptionEvent::Captioned { id: &s.id });
        }
    }
    let remaining = samples.iter().filter(|s| !log.contains(&s.id)).count();
    let written = remaining == 0;
    if written {
        let captions: BTreeMap<&str, &String> = samples
            .iter()
            .filter_map(|s| log.get(&s.id).map(|c| (s.id.as_str(), c)))
            .collect();
        write_json_atomic(out, &captions)?;
    }
    Ok(CaptionReport {
        total: samples.len(),
        already_done,
        captioned: todo,
        remaining,
        written,
        log: log_path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captions each sample with its id and counts the samples it saw.
    struct Echo {
        seen: Vec<String>,
        batch: usize,
    }

    impl Captioner for Echo {
        fn batch_size(&self) -> usize {
            self.batch
        }
        fn caption(&mut self, samples: &[&Sample]) -> Result<Vec<String>, CaptionError> {
            assert!(samples.len() <= self.batch);
            self.seen.extend(samples.iter().map(|s| s.id.clone()));
            Ok(samples
                .iter()
                .map(|s| format!("a photo of {}", s.id))
                .collect())
        }
    }

    fn samples() -> Vec<Sample> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../data/sample/test");
        test_samples(&root).unwrap()
    }

    #[test]
    fn resumes_without_redoing_and_writes_once_complete() {
        let samples = samples();
        let n = samples.len();
        assert!(n >= 3, "{n}");
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("caps.json");
        let mut echo = Echo {
            seen: Vec::new(),
            batch: 2,
        };
        let mut events = Vec::new();
        let r = run_captioning(&mut echo, &samples, &out, Some(1), &mut |e| {
            events.push(format!("{e:?}"))
        })
        .unwrap();
        assert_eq!(
            (r.already_done, r.captioned, r.remaining, r.written),
            (0, 1, n - 1, false)
        );
        assert!(!out.exists());
        assert!(events[0].starts_with("Started"), "{events:?}");
        let r = run_captioning(&mut echo, &samples, &out, None, &mut |_| {}).unwrap();
        assert_eq!(
            (r.already_done, r.captioned, r.remaining, r.written),
            (1, n - 1, 0, true)
        );
        // Every sample captioned exactly once across both runs.
        let mut seen = echo.seen.clone();
        seen.sort();
        seen.dedup();
        assert_eq!((echo.seen.len(), seen.len()), (n, n));
        let got: BTreeMap<String, String> =
            serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        assert_eq!(got.len(), n);
        assert!(got.iter().all(|(k, v)| v == &format!("a photo of {k}")));
    }

    #[test]
    fn a_short_answer_is_an_error() {
        struct Mute;
        impl Captioner for Mute {
            fn caption(&mut self, _: &[&Sample]) -> Result<Vec<String>, CaptionError> {
                Ok(Vec::new())
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let e = run_captioning(
            &mut Mute,
            &samples(),
            &dir.path().join("x.json"),
            None,
            &mut |_| {},
        )
        .unwrap_err();
        assert!(e.to_string().contains("0 captions for 1 samples"), "{e}");
    }
}
