//! `covip metrics setup-meteor`: installs METEOR's English resources from the pycocoevalcap
//! 1.2 package, the parity oracle itself, so that both score with the very same files, and
//! SPICE's jar from the same package.
//!
//! The package is fetched from the Python package index with `python3 -m pip download
//! pycocoevalcap==1.2 --no-deps` (nothing else is downloaded), or read from a local copy
//! (`--from`: the wheel, a source archive, an installed `pycocoevalcap` folder, its `meteor`
//! folder, or `meteor-1.5.jar` and `paraphrase-en.gz` given separately). The word lists and
//! WordNet files come out of `meteor/meteor-1.5.jar`, the paraphrase table is
//! `meteor/data/paraphrase-en.gz`; each file is checked against the SHA-256 of the
//! pycocoevalcap 1.2 original, written to a staging folder next to the destination with a
//! manifest ([`super::resources::MANIFEST`]), and the folder renamed into place. Archives are
//! read within size limits ([`super::archive`]).
//!
//! When the source has it (the wheel, the source archive, a package folder), SPICE 1.0's
//! `spice/spice-1.0.jar` and the jars of its `spice/lib/` are installed too, as
//! [`super::resources::SPICE_JAR`] and its `lib/` folder. Stanford CoreNLP 3.6.0, which the
//! jar needs to parse captions, is not in the package (its `get_stanford_models.py`
//! downloads it into that `lib/` folder).
//!
//! A destination whose METEOR files check out is left alone, except that the package index
//! source reinstalls one that lacks SPICE's jar.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::archive::{self, Limits};
use super::resources::{self, FILES, MANIFEST, PARAPHRASES, SPICE_JAR, SPICE_LIB};
use crate::metrics::error::MetricsError;

/// The package the resources come from.
pub const PACKAGE: &str = "pycocoevalcap";
/// Its version.
pub const VERSION: &str = "1.2";

/// SHA-256 of every installed file, as shipped in pycocoevalcap 1.2 (order of [`FILES`]).
pub const EXPECTED_SHA256: [&str; 7] = [
    "2ae0d5b8c29e2993a0f442b065b946d1a17fbfe8538e66bf5931c4a248cf4c3a",
    "bd909f364224748976f9b8b7cdeb4f9be3bf7c8e66a10f1ed268b12d904ab876",
    "20b7cf6ae1cba2395d714d8c2ec2992e88c6d1c75c7c30aa480c6a2a9bb8fef9",
    "5feb8fcb5b349d035df1a448149c2ccc860bf32e4b9eea8c8e4f113e90a5a962",
    "ee695d2b62acbf96c4599708f02d62c6c22660c14fc81d3eb1f11aa74c6dc915",
    "a9c2429bcded547ce3a9d19250df850ad65ec13ad7c320a662d84fb12419e130",
    "c147ac7d2c91f2fbb3ad31e4b352235061eb83145e0434daf217ee9ca5975f48",
];

/// SHA-256 of pycocoevalcap 1.2's `spice/spice-1.0.jar`.
pub const SPICE_SHA256: &str = "6c6a73ae6dd108667047c1818707590413934dcb9f1a62cef6469059b41b3d59";

const JAR: &str = "meteor/meteor-1.5.jar";
const TABLE: &str = "meteor/data/paraphrase-en.gz";
const PACKAGE_SPICE_JAR: &str = "spice/spice-1.0.jar";
const PACKAGE_SPICE_LIB: &str = "spice/lib/";

/// Where the package comes from.
#[derive(Clone, Debug)]
pub enum Source {
    /// `pip download` from the package index, with this Python (default: `python3`, then
    /// `python`).
    Registry {
        /// Python interpreter to run pip with.
        python: Option<PathBuf>,
    },
    /// Local files or folders (see the module documentation).
    Paths(Vec<PathBuf>),
}

/// What [`setup`] did.
#[derive(Clone, Debug, PartialEq)]
pub struct SetupReport {
    /// The resource directory.
    pub dest: PathBuf,
    /// False when the directory was already complete and nothing was written.
    pub installed: bool,
    /// Where the files came from.
    pub source: String,
}

fn err(path: &Path, message: impl Into<String>) -> MetricsError {
    MetricsError::Resources {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> MetricsError + '_ {
    move |source| MetricsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn sha256_file(path: &Path) -> Result<(u64, String), MetricsError> {
    let mut f = std::fs::File::open(path).map_err(io(path))?;
    let mut h = Sha256::new();
    let n = std::io::copy(&mut f, &mut h).map_err(io(path))?;
    Ok((n, hex(&h.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks that `dir` holds the pycocoevalcap 1.2 files and their manifest.
pub fn verify(dir: &Path) -> Result<(), MetricsError> {
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).map_err(io(&manifest_path))?;
    let m: serde_json::Value = serde_json::from_str(&text).map_err(|e| MetricsError::Json {
        path: manifest_path.clone(),
        line: None,
        message: e.to_string(),
    })?;
    if m["source"]["package"] != PACKAGE || m["source"]["version"] != VERSION {
        return Err(err(&manifest_path, format!("not from {PACKAGE} {VERSION}")));
    }
    for (rel, want) in FILES.iter().zip(EXPECTED_SHA256) {
        let path = dir.join(rel);
        let (_, got) = sha256_file(&path)?;
        if got != want {
            return Err(err(&path, "differs from the pycocoevalcap 1.2 file"));
        }
    }
    let spice = dir.join(SPICE_JAR);
    if spice.is_file() && sha256_file(&spice)?.1 != SPICE_SHA256 {
        return Err(err(&spice, "differs from the pycocoevalcap 1.2 file"));
    }
    Ok(())
}

/// Installs the resources into `dest` (see the module documentation).
pub fn setup(source: &Source, dest: &Path) -> Result<SetupReport, MetricsError> {
    setup_with_progress(source, dest, &mut |_| {})
}

/// [`setup`] calling `stage(what)` as each step starts (the download, the extraction and
/// checks, the move into place), for a progress display.
pub fn setup_with_progress(
    source: &Source,
    dest: &Path,
    stage: &mut dyn FnMut(&str),
) -> Result<SetupReport, MetricsError> {
    let wants_spice = matches!(source, Source::Registry { .. });
    if verify(dest).is_ok() && (!wants_spice || dest.join(SPICE_JAR).is_file()) {
        return Ok(SetupReport {
            dest: dest.to_path_buf(),
            installed: false,
            source: "already installed".into(),
        });
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io(parent))?;
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "meteor".into());
    // Removed on drop unless kept: nothing is left behind on failure.
    let staging = tempfile::Builder::new()
        .prefix(&format!(".{name}.staging-"))
        .tempdir_in(parent)
        .map_err(io(parent))?;
    // Temporary folders are private (0700); the installed one is readable as any folder.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(staging.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(io(staging.path()))?;
    }
    let described = match source {
        Source::Registry { python } => {
            let download = tempfile::Builder::new()
                .prefix("covip-meteor-download-")
                .tempdir()
                .map_err(io(&std::env::temp_dir()))?;
            stage(&format!("downloading {PACKAGE} {VERSION} with pip"));
            let wheel = pip_download(python.as_deref(), download.path())?;
            stage("extracting and checking the resources");
            gather(std::slice::from_ref(&wheel), staging.path())?;
            format!(
                "{PACKAGE} {VERSION} from the package index ({})",
                file_name(&wheel)
            )
        }
        Source::Paths(paths) => {
            stage("extracting and checking the resources");
            gather(paths, staging.path())?;
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    stage("installing");
    write_manifest(staging.path(), &described)?;
    verify(staging.path())?;
    replace_dir(staging.path(), dest)?;
    // Renamed into place: nothing is left to remove.
    let _ = staging.keep();
    Ok(SetupReport {
        dest: dest.to_path_buf(),
        installed: true,
        source: described,
    })
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| p.display().to_string())
}

/// Runs pip to download the wheel into `dir`; returns its path.
fn pip_download(python: Option<&Path>, dir: &Path) -> Result<PathBuf, MetricsError> {
    let candidates: Vec<PathBuf> = match python {
        Some(p) => vec![p.to_path_buf()],
        None => vec!["python3".into(), "python".into()],
    };
    let spec = format!("{PACKAGE}=={VERSION}");
    let mut tried = Vec::new();
    for py in &candidates {
        let mut cmd = Command::new(py);
        cmd.args([
            "-m",
            "pip",
            "download",
            &spec,
            "--no-deps",
            "--only-binary=:all:",
            "-d",
        ])
        .arg(dir);
        match cmd.status() {
            Ok(s) if s.success() => {
                let entries = std::fs::read_dir(dir).map_err(io(dir))?;
                for e in entries.flatten() {
                    let p = e.path();
                    if p.extension().is_some_and(|x| x == "whl") {
                        return Ok(p);
                    }
                }
                return Err(err(dir, "pip reported success but left no wheel"));
            }
            Ok(s) => {
                return Err(err(
                    dir,
                    format!(
                        "`{} -m pip download {spec} --no-deps` failed ({s}); on a machine without network access, download the wheel elsewhere and pass it with --from",
                        py.display()
                    ),
                ));
            }
            Err(e) => tried.push(format!("{}: {e}", py.display())),
        }
    }
    Err(err(
        Path::new("python3"),
        format!(
            "no Python to run pip with ({}); install Python 3 with pip, give --python, or pass the pycocoevalcap files with --from",
            tried.join("; ")
        ),
    ))
}

/// Where a member of the package goes in the staging folder, if it is one setup installs:
/// METEOR's jar (unpacked after), its paraphrase table, SPICE's jar and the jars of its
/// `lib/` (only plain `NAME.jar` names: member names never make paths of their own).
fn package_member(name: &str, staging: &Path) -> Option<PathBuf> {
    let rel = &name[name.rfind("pycocoevalcap/")? + "pycocoevalcap/".len()..];
    match rel {
        JAR => Some(staging.join(METEOR_JAR_STAGED)),
        TABLE => Some(staging.join(PARAPHRASES)),
        PACKAGE_SPICE_JAR => Some(staging.join(SPICE_JAR)),
        _ => {
            let lib = rel.strip_prefix(PACKAGE_SPICE_LIB)?;
            let plain = lib.ends_with(".jar")
                && lib
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                && !lib.starts_with('.');
            plain.then(|| staging.join(SPICE_LIB).join(lib))
        }
    }
}

/// METEOR's jar in the staging folder until its files are unpacked.
const METEOR_JAR_STAGED: &str = ".meteor-1.5.jar";

/// Copies a local file into the staging folder.
fn copy_into(from: &Path, to: &Path) -> Result<(), MetricsError> {
    if let Some(d) = to.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    std::fs::copy(from, to).map_err(io(from))?;
    Ok(())
}

/// Finds the package's files in `paths` and puts them into `staging`: METEOR's jar unpacked,
/// its paraphrase table, and SPICE's jar with its `lib/` when present.
fn gather(paths: &[PathBuf], staging: &Path) -> Result<(), MetricsError> {
    let jar_staged = staging.join(METEOR_JAR_STAGED);
    for p in paths {
        let lower = p.to_string_lossy().to_lowercase();
        if p.is_dir() {
            let bases = [p.clone(), p.join("pycocoevalcap")];
            let mut hit = false;
            for b in bases {
                // A `meteor` folder, or the package folder (or its parent).
                let (j, t, spice) = if b.join("meteor-1.5.jar").is_file() {
                    (
                        b.join("meteor-1.5.jar"),
                        b.join("data/paraphrase-en.gz"),
                        None,
                    )
                } else {
                    (b.join(JAR), b.join(TABLE), Some(b.join("spice")))
                };
                if j.is_file() && t.is_file() {
                    copy_into(&j, &jar_staged)?;
                    copy_into(&t, &staging.join(PARAPHRASES))?;
                    if let Some(spice) = spice.filter(|s| s.join("spice-1.0.jar").is_file()) {
                        copy_spice_folder(&spice, staging)?;
                    }
                    hit = true;
                    break;
                }
            }
            if !hit {
                return Err(err(
                    p,
                    "no meteor/meteor-1.5.jar with meteor/data/paraphrase-en.gz under this folder",
                ));
            }
        } else if lower.ends_with(".whl") || lower.ends_with(".zip") {
            archive::extract_zip(p, p, Limits::default(), |name| {
                package_member(name, staging)
            })?;
        } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            archive::extract_tar_gz(p, Limits::default(), |name| package_member(name, staging))?;
        } else if lower.ends_with(".jar") {
            copy_into(p, &jar_staged)?;
        } else if lower.ends_with(".gz") {
            copy_into(p, &staging.join(PARAPHRASES))?;
        } else {
            return Err(err(
                p,
                "expected a pycocoevalcap wheel (.whl), source archive (.tar.gz), package folder, meteor-1.5.jar or paraphrase-en.gz",
            ));
        }
    }
    let shown = || {
        paths
            .iter()
            .map(|p| p.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !jar_staged.is_file() {
        return Err(err(Path::new(&shown()), "meteor-1.5.jar not found"));
    }
    if !staging.join(PARAPHRASES).is_file() {
        return Err(err(
            Path::new(&shown()),
            "meteor/data/paraphrase-en.gz not found (give it with a second --from)",
        ));
    }
    unpack_meteor_jar(&jar_staged, staging)?;
    std::fs::remove_file(&jar_staged).map_err(io(&jar_staged))
}

/// Copies an installed package's `spice` folder (its jar and the jars of `lib/`).
fn copy_spice_folder(spice: &Path, staging: &Path) -> Result<(), MetricsError> {
    copy_into(&spice.join("spice-1.0.jar"), &staging.join(SPICE_JAR))?;
    let lib = spice.join("lib");
    let Ok(entries) = std::fs::read_dir(&lib) else {
        return Ok(());
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".jar") && e.path().is_file() {
            copy_into(&e.path(), &staging.join(SPICE_LIB).join(&name))?;
        }
    }
    Ok(())
}

/// Unpacks the word lists and WordNet files of METEOR's jar into `staging`.
fn unpack_meteor_jar(jar: &Path, staging: &Path) -> Result<(), MetricsError> {
    let shown = Path::new("meteor-1.5.jar");
    let wanted: Vec<&str> = FILES
        .iter()
        .copied()
        .filter(|r| *r != PARAPHRASES)
        .collect();
    archive::extract_zip(jar, shown, Limits::default(), |name| {
        wanted.contains(&name).then(|| staging.join(name))
    })?;
    for rel in wanted {
        if !staging.join(rel).is_file() {
            return Err(err(&shown.join(rel), "not in the jar"));
        }
    }
    Ok(())
}

fn write_manifest(dir: &Path, source: &str) -> Result<(), MetricsError> {
    let mut files = serde_json::Map::new();
    let mut rels: Vec<String> = FILES.iter().map(|r| r.to_string()).collect();
    if dir.join(SPICE_JAR).is_file() {
        rels.push(SPICE_JAR.to_string());
        let lib = dir.join(SPICE_LIB);
        let mut jars: Vec<String> = std::fs::read_dir(&lib)
            .map(|it| {
                it.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        jars.sort();
        rels.extend(jars.into_iter().map(|j| format!("{SPICE_LIB}/{j}")));
    }
    for rel in rels {
        let (bytes, sha) = sha256_file(&dir.join(&rel))?;
        files.insert(rel, serde_json::json!({ "bytes": bytes, "sha256": sha }));
    }
    let m = serde_json::json!({
        "format": 1,
        "meteor": "1.5",
        "language": "english",
        "source": { "package": PACKAGE, "version": VERSION, "from": source },
        "files": files,
    });
    let path = dir.join(MANIFEST);
    // A `Value` built here always serialises.
    let text = serde_json::to_string_pretty(&m).unwrap_or_default();
    std::fs::write(&path, text + "\n").map_err(io(&path))
}

/// Moves `staging` to `dest`, setting any previous `dest` aside first (into a temporary
/// folder beside it, removed after).
fn replace_dir(staging: &Path, dest: &Path) -> Result<(), MetricsError> {
    if !dest.exists() {
        return std::fs::rename(staging, dest).map_err(io(dest));
    }
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let aside = tempfile::Builder::new()
        .prefix(&format!(".{}.old-", file_name(dest)))
        .tempdir_in(parent)
        .map_err(io(parent))?;
    let old = aside.path().join("old");
    std::fs::rename(dest, &old).map_err(io(dest))?;
    if let Err(e) = std::fs::rename(staging, dest) {
        let _ = std::fs::rename(&old, dest);
        return Err(io(dest)(e));
    }
    Ok(())
}

/// The directory `covip metrics setup-meteor` installs into by default.
pub fn default_dest() -> Result<PathBuf, MetricsError> {
    resources::default_dir().ok_or_else(|| {
        err(
            Path::new("<no home directory>"),
            "no per-user data directory (HOME / XDG_DATA_HOME / LOCALAPPDATA unset): give --dest",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_inputs_are_refused_with_the_path() {
        let tmp = tempfile::tempdir().unwrap();
        let odd = tmp.path().join("x.txt");
        std::fs::write(&odd, "x").unwrap();
        let e = setup(&Source::Paths(vec![odd.clone()]), &tmp.path().join("dest"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.txt"), "{e}");
        assert!(!tmp.path().join("dest").exists());
        // No staging folder is left behind.
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_hostile_wheel_is_refused_naming_archive_and_member() {
        use std::io::Write;
        let tmp = tempfile::tempdir().unwrap();
        let wheel = tmp.path().join("pycocoevalcap-1.2-py3-none-any.whl");
        // The paraphrase table's member inflating past the limit (a zip bomb of zeros).
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true);
        w.start_file("pycocoevalcap/meteor/data/paraphrase-en.gz", o)
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..(archive::MAX_MEMBER_BYTES >> 20) + 1 {
            w.write_all(&zeros).unwrap();
        }
        std::fs::write(&wheel, w.finish().unwrap().into_inner()).unwrap();
        let dest = tmp.path().join("dest");
        let e = setup(&Source::Paths(vec![wheel.clone()]), &dest)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("pycocoevalcap-1.2-py3-none-any.whl")
                && e.contains("paraphrase-en.gz")
                && e.contains("allowed"),
            "{e}"
        );
        // Truncated: an error naming the archive.
        let bytes = std::fs::read(&wheel).unwrap();
        std::fs::write(&wheel, &bytes[..bytes.len() / 3]).unwrap();
        let e = setup(&Source::Paths(vec![wheel]), &dest)
            .unwrap_err()
            .to_string();
        assert!(e.contains("pycocoevalcap-1.2-py3-none-any.whl"), "{e}");
        // Nothing is left behind.
        let left: Vec<_> = std::fs::read_dir(tmp.path()).unwrap().flatten().collect();
        assert_eq!(left.len(), 1);
    }

    #[test]
    fn a_folder_without_the_files_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let e = setup(
            &Source::Paths(vec![tmp.path().to_path_buf()]),
            &tmp.path().join("d"),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("meteor-1.5.jar"), "{e}");
    }
}
