//! `make`: the blinded pairs, the page and its key.
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use covip_data::formats::{Dataset, load};
use covip_data::rng::SeededRng;
use covip_data::{ImageRef, Sample};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::html::{self, PageContext, PagePair};
use super::{PairwiseError, Source, read_bounded, read_captions};

/// Format tag of `sheet.key.json`.
pub const KEY_FORMAT: &str = "covip-pairwise-key/1";
/// The largest image embedded (larger ones are an error naming the image, not a page nobody
/// can open).
pub const MAX_IMAGE_BYTES: u64 = 50 << 20;
/// The largest page made; above it, ask for fewer pairs. Browsers struggle well before
/// this, but it bounds what one command allocates.
pub const MAX_SHEET_BYTES: usize = 512 << 20;

/// How a sheet is drawn. The default: seed 0, every pair, no missing caption allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SheetOptions {
    /// Seeds the pair order and every side assignment (covip-data's [`SeededRng`]); kept in
    /// the key so a sheet can be made again.
    pub seed: u64,
    /// At most this many pairs, drawn at random from the samples both files caption.
    pub max_pairs: Option<usize>,
    /// Pair only the samples both files caption, instead of failing when a test-set sample
    /// lacks a caption or a file captions samples the test set does not hold.
    pub allow_missing: bool,
}

/// One pair of the key: which file each side of pair `pair` shows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyPair {
    /// The pair's id on the page (`p001`, in page order).
    pub pair: String,
    /// The test-set sample it shows.
    pub sample: String,
    /// The file shown as caption A.
    #[serde(rename = "A")]
    pub side_a: Source,
    /// The file shown as caption B (always the other one).
    #[serde(rename = "B")]
    pub side_b: Source,
}

/// `sheet.key.json`: what un-blinds a sheet. Keep it from the raters.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetKey {
    /// [`KEY_FORMAT`].
    pub format: String,
    /// Also on the page and in every export, so choices for another sheet are refused.
    pub sheet_id: String,
    pub seed: u64,
    /// The first caption file, as given to `make`.
    pub a_file: String,
    /// The second caption file, as given to `make`.
    pub b_file: String,
    /// The test set, as given to `make`.
    pub data: String,
    /// In page order.
    pub pairs: Vec<KeyPair>,
}

/// A made sheet: the page and its key.
#[derive(Clone, Debug)]
pub struct Sheet {
    pub html: String,
    pub key: SheetKey,
}

/// The key that belongs to the page `out`: `sheet.html` → `sheet.key.json`, beside it.
pub fn key_path_for(out: &Path) -> PathBuf {
    let stem = match out.extension().and_then(|e| e.to_str()) {
        Some(e) if e.eq_ignore_ascii_case("html") || e.eq_ignore_ascii_case("htm") => {
            out.file_stem().unwrap_or_default().to_os_string()
        }
        _ => out.file_name().unwrap_or_default().to_os_string(),
    };
    let mut name = stem;
    name.push(".key.json");
    out.with_file_name(name)
}

/// The samples of every test set under `path` (a folder, or a meta / ground-truth file), as
/// covip-data loads them; other kinds of set are skipped. An error when a test set has a
/// problem or none is found.
pub fn load_test_samples(path: &Path) -> Result<Vec<Sample>, PairwiseError> {
    let mut out = Vec::new();
    for d in load(path)? {
        match d {
            Dataset::Test { meta, samples, .. } => {
                if let Some(p) = samples.problems.first() {
                    return Err(PairwiseError::invalid(
                        &meta,
                        format!("{} problem(s), first: {p}", samples.problems.len()),
                    ));
                }
                out.extend(samples.records.into_iter().map(|(_, s)| s));
            }
            Dataset::Train { path, .. } | Dataset::Downstream { path, .. } => {
                tracing::info!("{}: not a test set, skipped", path.display());
            }
        }
    }
    if out.is_empty() {
        return Err(PairwiseError::invalid(path, "no test-set samples found"));
    }
    Ok(out)
}

/// Reads both caption files and the test set, and builds the sheet (see [`build_sheet`]).
pub fn make_sheet(
    a_file: &Path,
    b_file: &Path,
    data: &Path,
    options: &SheetOptions,
) -> Result<Sheet, PairwiseError> {
    let a = read_captions(a_file)?;
    let b = read_captions(b_file)?;
    let samples = load_test_samples(data)?;
    build_sheet(
        &samples,
        (&a_file.to_string_lossy(), &a),
        (&b_file.to_string_lossy(), &b),
        &data.to_string_lossy(),
        options,
    )
}

/// Lists at most ten ids, then how many more.
fn some_ids<'a>(ids: impl IntoIterator<Item = &'a str>) -> String {
    let ids: Vec<&str> = ids.into_iter().collect();
    let mut s = ids
        .iter()
        .take(10)
        .map(|i| format!("{i:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > 10 {
        s.push_str(&format!(" and {} more", ids.len() - 10));
    }
    s
}

/// Checks that a caption file and the test set cover the same samples (unless missing ones
/// are allowed).
fn check_coverage(
    label: &str,
    captions: &BTreeMap<String, String>,
    samples: &[Sample],
    data_label: &str,
    allow_missing: bool,
) -> Result<(), PairwiseError> {
    if allow_missing {
        return Ok(());
    }
    let missing: Vec<&str> = samples
        .iter()
        .map(|s| s.id.as_str())
        .filter(|id| !captions.contains_key(*id))
        .collect();
    if !missing.is_empty() {
        return Err(PairwiseError::invalid(
            Path::new(label),
            format!(
                "no caption for {} sample(s) of {data_label}: {} (--allow-missing pairs the \
                 samples both files caption)",
                missing.len(),
                some_ids(missing.iter().copied())
            ),
        ));
    }
    let known: BTreeSet<&str> = samples.iter().map(|s| s.id.as_str()).collect();
    let extra: Vec<&str> = captions
        .keys()
        .map(String::as_str)
        .filter(|id| !known.contains(id))
        .collect();
    if !extra.is_empty() {
        return Err(PairwiseError::invalid(
            Path::new(label),
            format!(
                "captions for {} sample(s) that {data_label} does not hold: {} (the wrong test \
                 set? --allow-missing ignores them)",
                extra.len(),
                some_ids(extra.iter().copied())
            ),
        ));
    }
    Ok(())
}

/// Reads an image once and turns it into a `data:` URL, within [`MAX_IMAGE_BYTES`].
fn image_url(
    image: &ImageRef,
    cache: &mut HashMap<PathBuf, Rc<str>>,
) -> Result<Rc<str>, PairwiseError> {
    let name = image.name().unwrap_or("<embedded image>").to_string();
    let bytes = match image {
        ImageRef::Path(p) => {
            if let Some(url) = cache.get(p) {
                return Ok(url.clone());
            }
            read_bounded(p, MAX_IMAGE_BYTES, "image")?
        }
        ImageRef::Embedded { bytes, .. } => {
            if bytes.len() as u64 > MAX_IMAGE_BYTES {
                return Err(PairwiseError::Other(format!(
                    "image {name}: {} bytes, above the {MAX_IMAGE_BYTES}-byte limit",
                    bytes.len()
                )));
            }
            bytes.clone()
        }
    };
    let mime = html::sniff_image_mime(&bytes).ok_or_else(|| {
        PairwiseError::Other(format!(
            "image {name}: not a PNG, JPEG, GIF or WebP file, cannot embed it"
        ))
    })?;
    let url: Rc<str> = html::data_url(mime, &bytes).into();
    if let ImageRef::Path(p) = image {
        cache.insert(p.clone(), url.clone());
    }
    Ok(url)
}

/// Builds a sheet from loaded captions: `a` and `b` are `(label, {sample_id: caption})`, the
/// labels being what the key records (the file paths). The pairs are the test-set samples
/// both files caption, in an order shuffled with `options.seed` (then cut to
/// `options.max_pairs`), and each pair's sides are drawn from the same generator, so the same
/// inputs and seed make the same sheet.
pub fn build_sheet(
    samples: &[Sample],
    a: (&str, &BTreeMap<String, String>),
    b: (&str, &BTreeMap<String, String>),
    data_label: &str,
    options: &SheetOptions,
) -> Result<Sheet, PairwiseError> {
    let (a_label, a_caps) = a;
    let (b_label, b_caps) = b;
    check_coverage(a_label, a_caps, samples, data_label, options.allow_missing)?;
    check_coverage(b_label, b_caps, samples, data_label, options.allow_missing)?;
    let mut chosen: Vec<&Sample> = samples
        .iter()
        .filter(|s| a_caps.contains_key(&s.id) && b_caps.contains_key(&s.id))
        .collect();
    if chosen.is_empty() {
        return Err(PairwiseError::Other(format!(
            "{a_label} and {b_label}: no sample of {data_label} is captioned by both files"
        )));
    }
    if options.max_pairs == Some(0) {
        return Err(PairwiseError::Other(
            "a sheet needs at least one pair".into(),
        ));
    }
    let mut rng = SeededRng::new(options.seed);
    rng.shuffle(&mut chosen);
    if let Some(n) = options.max_pairs {
        chosen.truncate(n);
    }
    let width = chosen.len().to_string().len().max(3);
    let mut key_pairs = Vec::with_capacity(chosen.len());
    for (i, s) in chosen.iter().enumerate() {
        let side_a = if rng.below(2) == 0 {
            Source::AFile
        } else {
            Source::BFile
        };
        key_pairs.push(KeyPair {
            pair: format!("p{:0width$}", i + 1),
            sample: s.id.clone(),
            side_a,
            side_b: side_a.other(),
        });
    }

    // Images: read each file once; count what the page will hold as it grows.
    let mut cache = HashMap::new();
    let mut total = 0usize;
    let mut urls: Vec<(Vec<Rc<str>>, Rc<str>)> = Vec::with_capacity(chosen.len());
    for s in &chosen {
        let mut ctx = Vec::with_capacity(s.context.len());
        for c in &s.context {
            let u = image_url(&c.image, &mut cache)?;
            total += u.len() + c.dialogue.len() * 2;
            ctx.push(u);
        }
        let q = image_url(&s.query, &mut cache)?;
        total += q.len() + (a_caps[&s.id].len() + b_caps[&s.id].len()) * 2;
        if total > MAX_SHEET_BYTES {
            return Err(PairwiseError::Other(format!(
                "the sheet would be larger than {} MiB after {} of {} pairs: ask for fewer \
                 pairs (--pairs N)",
                MAX_SHEET_BYTES >> 20,
                urls.len() + 1,
                chosen.len()
            )));
        }
        urls.push((ctx, q));
    }

    let caption = |src: Source, id: &str| -> &str {
        match src {
            Source::AFile => &a_caps[id],
            Source::BFile => &b_caps[id],
        }
    };
    let page_pairs: Vec<PagePair<'_>> = chosen
        .iter()
        .zip(&key_pairs)
        .zip(&urls)
        .map(|((s, k), (ctx, q))| PagePair {
            id: &k.pair,
            sample_id: &s.id,
            context: s
                .context
                .iter()
                .zip(ctx)
                .map(|(c, u)| PageContext {
                    image: u,
                    dialogue: &c.dialogue,
                })
                .collect(),
            query: q,
            caption_a: caption(k.side_a, &s.id),
            caption_b: caption(k.side_b, &s.id),
        })
        .collect();

    // The id binds the page to its key: the seed, the files and every pair as shown.
    let mut h = Sha256::new();
    h.update(KEY_FORMAT.as_bytes());
    h.update(options.seed.to_le_bytes());
    for part in [a_label, b_label, data_label] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    for p in &page_pairs {
        for part in [p.id, p.sample_id, p.caption_a, p.caption_b] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part.as_bytes());
        }
    }
    let digest = h.finalize();
    let sheet_id: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();

    let html = html::render(&sheet_id, &page_pairs, total);
    Ok(Sheet {
        html,
        key: SheetKey {
            format: KEY_FORMAT.to_string(),
            sheet_id,
            seed: options.seed,
            a_file: a_label.to_string(),
            b_file: b_label.to_string(),
            data: data_label.to_string(),
            pairs: key_pairs,
        },
    })
}

/// Writes the page to `out` and the key beside it ([`key_path_for`]), both atomically, and
/// returns the key's path. Refuses to replace an existing key unless `overwrite`: a lost key
/// makes every choice already collected on that sheet worthless.
pub fn write_sheet(sheet: &Sheet, out: &Path, overwrite: bool) -> Result<PathBuf, PairwiseError> {
    let key_path = key_path_for(out);
    if !overwrite && key_path.exists() {
        return Err(PairwiseError::invalid(
            &key_path,
            "already exists (the key of an earlier sheet?): move it away or pass --force",
        ));
    }
    covip_data::io::write_json_atomic(&key_path, &sheet.key)?;
    covip_data::io::write_atomic(out, sheet.html.as_bytes())?;
    Ok(key_path)
}
