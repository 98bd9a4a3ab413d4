//! `covip metrics setup-meteor`: installs METEOR's English resources from the pycocoevalcap
//! 1.2 package, the parity oracle itself, so that both score with the very same files.
//!
//! The package is fetched from the Python package index with `python3 -m pip download
//! pycocoevalcap==1.2 --no-deps` (nothing else is downloaded), or read from a local copy
//! (`--from`: the wheel, a source archive, an installed `pycocoevalcap` folder, its `meteor`
//! folder, or `meteor-1.5.jar` and `paraphrase-en.gz` given separately). The word lists and
//! WordNet files come out of `meteor/meteor-1.5.jar`, the paraphrase table is
//! `meteor/data/paraphrase-en.gz`; each file is checked against the SHA-256 of the
//! pycocoevalcap 1.2 original, written to a staging folder next to the destination with a
//! manifest ([`super::resources::MANIFEST`]), and the folder renamed into place. A destination
//! whose manifest and files already check out is left alone.

use std::fs::File;
use std::io::{BufWriter, Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use super::resources::{self, FILES, MANIFEST, PARAPHRASES};
use super::zip;
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

const JAR: &str = "meteor/meteor-1.5.jar";
const TABLE: &str = "meteor/data/paraphrase-en.gz";

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
    let mut f = File::open(path).map_err(io(path))?;
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
    Ok(())
}

/// Installs the resources into `dest` (see the module documentation).
pub fn setup(source: &Source, dest: &Path) -> Result<SetupReport, MetricsError> {
    if verify(dest).is_ok() {
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
    let staging = ScratchDir::new(parent, &format!(".{name}.staging"))?;
    let described = match source {
        Source::Registry { python } => {
            let download = ScratchDir::new(&std::env::temp_dir(), "covip-meteor-download")?;
            let wheel = pip_download(python.as_deref(), &download.0)?;
            let found = gather(std::slice::from_ref(&wheel), &staging.0)?;
            install_into(&found, &staging.0)?;
            format!(
                "{PACKAGE} {VERSION} from the package index ({})",
                file_name(&wheel)
            )
        }
        Source::Paths(paths) => {
            let found = gather(paths, &staging.0)?;
            install_into(&found, &staging.0)?;
            paths
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    write_manifest(&staging.0, &described)?;
    verify(&staging.0)?;
    replace_dir(&staging.0, dest)?;
    staging.keep();
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

/// A directory removed on drop unless kept.
struct ScratchDir(PathBuf, bool);

impl ScratchDir {
    fn new(parent: &Path, prefix: &str) -> Result<Self, MetricsError> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let p = parent.join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).map_err(io(&p))?;
        Ok(ScratchDir(p, false))
    }

    fn keep(mut self) {
        self.1 = true;
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if !self.1 {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
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

/// The jar's bytes and where the paraphrase table was put.
struct Found {
    jar: Vec<u8>,
}

/// Finds the jar and the paraphrase table in `paths`; the table is copied into `staging`.
fn gather(paths: &[PathBuf], staging: &Path) -> Result<Found, MetricsError> {
    let table_dest = staging.join(PARAPHRASES);
    if let Some(d) = table_dest.parent() {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let mut jar: Option<Vec<u8>> = None;
    let mut table = false;
    for p in paths {
        let lower = p.to_string_lossy().to_lowercase();
        if p.is_dir() {
            let bases = [p.clone(), p.join("pycocoevalcap")];
            let mut hit = false;
            for b in bases {
                let (j, t) = if b.join("meteor-1.5.jar").is_file() {
                    (b.join("meteor-1.5.jar"), b.join("data/paraphrase-en.gz"))
                } else {
                    (b.join(JAR), b.join(TABLE))
                };
                if j.is_file() && t.is_file() {
                    jar = Some(std::fs::read(&j).map_err(io(&j))?);
                    std::fs::copy(&t, &table_dest).map_err(io(&t))?;
                    table = true;
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
            let mut f = File::open(p).map_err(io(p))?;
            let entries = zip::zip_entries(&mut f).map_err(io(p))?;
            for e in &entries {
                if e.name.ends_with(&format!("pycocoevalcap/{JAR}")) {
                    let mut bytes = Vec::with_capacity(e.size as usize);
                    zip::zip_extract(&mut f, e, &mut bytes).map_err(io(p))?;
                    jar = Some(bytes);
                } else if e.name.ends_with(&format!("pycocoevalcap/{TABLE}")) {
                    let mut out =
                        BufWriter::new(File::create(&table_dest).map_err(io(&table_dest))?);
                    zip::zip_extract(&mut f, e, &mut out).map_err(io(p))?;
                    out.flush().map_err(io(&table_dest))?;
                    table = true;
                }
            }
        } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            let f = File::open(p).map_err(io(p))?;
            let gz = flate2::read::GzDecoder::new(std::io::BufReader::new(f));
            zip::tar_files(gz, |name, r| {
                if name.ends_with(&format!("pycocoevalcap/{JAR}")) {
                    let mut bytes = Vec::new();
                    r.read_to_end(&mut bytes)?;
                    jar = Some(bytes);
                } else if name.ends_with(&format!("pycocoevalcap/{TABLE}")) {
                    let mut out = BufWriter::new(File::create(&table_dest)?);
                    std::io::copy(r, &mut out)?;
                    out.flush()?;
                    table = true;
                }
                Ok(true)
            })
            .map_err(io(p))?;
        } else if lower.ends_with(".jar") {
            jar = Some(std::fs::read(p).map_err(io(p))?);
        } else if lower.ends_with(".gz") {
            std::fs::copy(p, &table_dest).map_err(io(p))?;
            table = true;
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
    let jar = jar.ok_or_else(|| err(Path::new(&shown()), "meteor-1.5.jar not found"))?;
    if !table {
        return Err(err(
            Path::new(&shown()),
            "meteor/data/paraphrase-en.gz not found (give it with a second --from)",
        ));
    }
    Ok(Found { jar })
}

/// Extracts the jar's files into `staging` (the table is already there).
fn install_into(found: &Found, staging: &Path) -> Result<(), MetricsError> {
    let jar_path = Path::new("meteor-1.5.jar");
    let mut cur = Cursor::new(&found.jar[..]);
    let entries = zip::zip_entries(&mut cur).map_err(io(jar_path))?;
    for rel in FILES.iter().filter(|r| **r != PARAPHRASES) {
        let e = entries
            .iter()
            .find(|e| e.name == *rel)
            .ok_or_else(|| err(&jar_path.join(rel), "not in the jar"))?;
        let out_path = staging.join(rel);
        if let Some(d) = out_path.parent() {
            std::fs::create_dir_all(d).map_err(io(d))?;
        }
        let mut out = BufWriter::new(File::create(&out_path).map_err(io(&out_path))?);
        zip::zip_extract(&mut cur, e, &mut out).map_err(io(jar_path))?;
        out.flush().map_err(io(&out_path))?;
    }
    Ok(())
}

fn write_manifest(dir: &Path, source: &str) -> Result<(), MetricsError> {
    let mut files = serde_json::Map::new();
    for rel in FILES {
        let (bytes, sha) = sha256_file(&dir.join(rel))?;
        files.insert(
            rel.to_string(),
            serde_json::json!({ "bytes": bytes, "sha256": sha }),
        );
    }
    let m = serde_json::json!({
        "format": 1,
        "meteor": "1.5",
        "language": "english",
        "source": { "package": PACKAGE, "version": VERSION, "from": source },
        "files": files,
    });
    let path = dir.join(MANIFEST);
    let text = serde_json::to_string_pretty(&m).expect("JSON");
    std::fs::write(&path, text + "\n").map_err(io(&path))
}

/// Moves `staging` to `dest`, setting any previous `dest` aside first and removing it after.
fn replace_dir(staging: &Path, dest: &Path) -> Result<(), MetricsError> {
    let old = dest.with_file_name(format!(".{}.old-{}", file_name(dest), std::process::id()));
    let had_old = dest.exists();
    if had_old {
        std::fs::rename(dest, &old).map_err(io(dest))?;
    }
    if let Err(e) = std::fs::rename(staging, dest) {
        if had_old {
            let _ = std::fs::rename(&old, dest);
        }
        return Err(io(dest)(e));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&old);
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
