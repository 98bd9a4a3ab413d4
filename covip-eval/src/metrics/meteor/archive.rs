//! Bounded extraction of chosen members from the archives `setup-meteor` reads: the
//! pycocoevalcap wheel and the jars inside it (zip, through the `zip` crate) and its source
//! distribution (gzipped tar, through `tar` and `flate2`).
//!
//! The archives come from the user (`--from FILE`), so nothing in them is trusted: a member
//! whose header declares more than [`Limits::member`] bytes, or more than what is left of
//! [`Limits::total`], is refused before a byte of it is read; the copy is cut off one byte
//! past what the header (or the limit) allows, so a member that inflates beyond its declared
//! size (a zip bomb) or lies about it is refused too; the gzip stream of a tar archive is cut
//! off at [`Limits::stream`]. Member names only select members: files are written to the
//! destinations the caller chooses, never to paths taken from the archive.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::metrics::error::MetricsError;

/// Size bounds for one archive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The most bytes one extracted member may hold.
    pub member: u64,
    /// The most bytes extracted from one archive in all.
    pub total: u64,
    /// The most decompressed bytes read from a gzipped tar stream (skipped members included).
    pub stream: u64,
}

/// Twice pycocoevalcap 1.2's largest resource, the paraphrase table (61.8 MB).
pub const MAX_MEMBER_BYTES: u64 = 128 << 20;
/// What setup extracts from the wheel is about 100 MB (METEOR's jar and table, SPICE's jar
/// and its `lib/`); this leaves room and no more.
pub const MAX_TOTAL_BYTES: u64 = 256 << 20;
/// The whole unpacked source distribution, skipped files included.
pub const MAX_STREAM_BYTES: u64 = 1 << 30;
/// A GNU long-name or pax header longer than this is refused (real ones are a few hundred
/// bytes).
const MAX_EXTENSION_HEADER_BYTES: u64 = 64 << 10;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            member: MAX_MEMBER_BYTES,
            total: MAX_TOTAL_BYTES,
            stream: MAX_STREAM_BYTES,
        }
    }
}

fn archive_err(archive: &Path, member: Option<&str>, message: impl Into<String>) -> MetricsError {
    MetricsError::Archive {
        archive: archive.to_path_buf(),
        member: member.map(str::to_string),
        message: message.into(),
    }
}

/// What is left of an archive's total budget.
struct Budget<'a> {
    archive: &'a Path,
    limits: Limits,
    left: u64,
}

impl Budget<'_> {
    /// Copies one member into `dest`, within the limits and the size its header declares
    /// (`None` when the format has none).
    fn copy(
        &mut self,
        name: &str,
        declared: Option<u64>,
        reader: &mut dyn Read,
        dest: &Path,
    ) -> Result<(), MetricsError> {
        let cap = self.limits.member.min(self.left);
        if let Some(d) = declared {
            if d > self.limits.member {
                return Err(archive_err(
                    self.archive,
                    Some(name),
                    format!(
                        "declares {d} bytes, more than the {} allowed for one member",
                        self.limits.member
                    ),
                ));
            }
            if d > self.left {
                return Err(archive_err(
                    self.archive,
                    Some(name),
                    format!(
                        "declares {d} bytes, which would take the archive past the {} bytes allowed in all",
                        self.limits.total
                    ),
                ));
            }
        }
        let bound = declared.unwrap_or(cap).min(cap);
        if let Some(d) = dest.parent() {
            std::fs::create_dir_all(d).map_err(|source| MetricsError::Io {
                path: d.to_path_buf(),
                source,
            })?;
        }
        let file = File::create(dest).map_err(|source| MetricsError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        let mut out = BufWriter::new(file);
        let n = std::io::copy(&mut reader.take(bound + 1), &mut out)
            .map_err(|e| archive_err(self.archive, Some(name), format!("cannot extract: {e}")))?;
        out.flush().map_err(|source| MetricsError::Io {
            path: dest.to_path_buf(),
            source,
        })?;
        if n > bound {
            return Err(archive_err(
                self.archive,
                Some(name),
                match declared {
                    Some(d) if d <= cap => {
                        format!("holds more than the {d} bytes its header declares")
                    }
                    _ => format!("larger than the {cap} bytes allowed"),
                },
            ));
        }
        if let Some(d) = declared
            && n != d
        {
            return Err(archive_err(
                self.archive,
                Some(name),
                format!("holds {n} bytes but its header declares {d}"),
            ));
        }
        self.left -= n;
        Ok(())
    }
}

/// Extracts the members of the zip archive `file` for which `pick(name)` gives a destination;
/// returns how many. `shown` names the archive in errors (a nested jar is shown as
/// `wheel/member`).
pub fn extract_zip(
    file: &Path,
    shown: &Path,
    limits: Limits,
    mut pick: impl FnMut(&str) -> Option<PathBuf>,
) -> Result<usize, MetricsError> {
    let f = File::open(file).map_err(|source| MetricsError::Io {
        path: shown.to_path_buf(),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(BufReader::new(f))
        .map_err(|e| archive_err(shown, None, format!("not a readable zip archive: {e}")))?;
    let mut budget = Budget {
        archive: shown,
        limits,
        left: limits.total,
    };
    let mut count = 0;
    for i in 0..zip.len() {
        let mut member = zip
            .by_index(i)
            .map_err(|e| archive_err(shown, None, format!("member {i}: {e}")))?;
        if !member.is_file() {
            continue;
        }
        let name = member.name().to_string();
        let Some(dest) = pick(&name) else { continue };
        let declared = member.size();
        budget.copy(&name, Some(declared), &mut member, &dest)?;
        count += 1;
    }
    Ok(count)
}

/// A reader that fails once more than `left` bytes have come through.
struct Capped<R> {
    inner: R,
    left: u64,
    limit: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            // One probe byte tells a stream that ends exactly here from one that goes on.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(std::io::Error::other(format!(
                    "unpacks to more than {} bytes",
                    self.limit
                ))),
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

/// The name a GNU long-name (`L`) or pax (`x`) extension header gives the next member.
fn extension_name(entry: &mut tar::Entry<'_, impl Read>) -> std::io::Result<Option<Vec<u8>>> {
    if entry.header().entry_type().is_gnu_longname() {
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes)?;
        while bytes.last() == Some(&0) {
            bytes.pop();
        }
        return Ok(Some(bytes));
    }
    if let Some(ext) = entry.pax_extensions()? {
        for e in ext {
            let e = e?;
            if e.key_bytes() == b"path" {
                return Ok(Some(e.value_bytes().to_vec()));
            }
        }
    }
    Ok(None)
}

/// Extracts the regular files of the gzipped tar archive `file` for which `pick(name)` gives
/// a destination; returns how many.
pub fn extract_tar_gz(
    file: &Path,
    limits: Limits,
    mut pick: impl FnMut(&str) -> Option<PathBuf>,
) -> Result<usize, MetricsError> {
    let f = File::open(file).map_err(|source| MetricsError::Io {
        path: file.to_path_buf(),
        source,
    })?;
    let stream = Capped {
        inner: flate2::read::GzDecoder::new(BufReader::new(f)),
        left: limits.stream,
        limit: limits.stream,
    };
    let mut tar = tar::Archive::new(stream);
    let bad = |member: Option<&str>, e: std::io::Error| {
        archive_err(
            file,
            member,
            format!("not a readable gzipped tar archive: {e}"),
        )
    };
    // Raw entries: the long-name and pax headers are read here, each within a bound (the tar
    // crate would read them whole).
    let mut entries = tar.entries().map_err(|e| bad(None, e))?;
    entries = entries.raw(true);
    let mut budget = Budget {
        archive: file,
        limits,
        left: limits.total,
    };
    let mut next_name: Option<Vec<u8>> = None;
    let mut count = 0;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(None, e))?;
        let kind = entry.header().entry_type();
        let size = entry.header().entry_size().map_err(|e| bad(None, e))?;
        if kind.is_gnu_longname() || kind.is_pax_local_extensions() {
            if size > MAX_EXTENSION_HEADER_BYTES {
                return Err(archive_err(
                    file,
                    None,
                    format!(
                        "an extended header of {size} bytes (more than the {MAX_EXTENSION_HEADER_BYTES} allowed)"
                    ),
                ));
            }
            if let Some(n) = extension_name(&mut entry).map_err(|e| bad(None, e))? {
                next_name = Some(n);
            }
            continue;
        }
        let name_bytes = match next_name.take() {
            Some(n) => n,
            None => entry.path_bytes().into_owned(),
        };
        if !kind.is_file() {
            continue;
        }
        let name = String::from_utf8_lossy(&name_bytes).into_owned();
        let Some(dest) = pick(&name) else { continue };
        budget.copy(&name, Some(size), &mut entry, &dest)?;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn small() -> Limits {
        Limits {
            member: 1000,
            total: 1500,
            stream: 1 << 20,
        }
    }

    fn write_zip(path: &Path, entries: &[(&str, &[u8], zip::CompressionMethod)]) {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data, method) in entries {
            let o = zip::write::SimpleFileOptions::default().compression_method(*method);
            w.start_file(*name, o).unwrap();
            w.write_all(data).unwrap();
        }
        std::fs::write(path, w.finish().unwrap().into_inner()).unwrap();
    }

    fn pick_all(dir: &Path) -> impl FnMut(&str) -> Option<PathBuf> + '_ {
        move |n: &str| Some(dir.join(n.replace('/', "_")))
    }

    #[test]
    fn zip_members_are_extracted_within_the_limits() {
        let tmp = tempfile::tempdir().unwrap();
        let z = tmp.path().join("a.zip");
        let deflated = vec![b'x'; 900];
        write_zip(
            &z,
            &[
                ("a.txt", b"hello", zip::CompressionMethod::Stored),
                ("d/b.txt", &deflated, zip::CompressionMethod::Deflated),
            ],
        );
        let out = tmp.path().join("out");
        let n = extract_zip(&z, &z, small(), pick_all(&out)).unwrap();
        assert_eq!(n, 2);
        assert_eq!(std::fs::read(out.join("a.txt")).unwrap(), b"hello");
        assert_eq!(std::fs::read(out.join("d_b.txt")).unwrap(), deflated);
        // A member over the limit is refused before reading, with archive and member named.
        let limits = Limits {
            member: 100,
            ..small()
        };
        let e = extract_zip(&z, &z, limits, pick_all(&out))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("a.zip") && e.contains("d/b.txt") && e.contains("900"),
            "{e}"
        );
        // So is an archive whose members add up past the total.
        let limits = Limits {
            total: 500,
            ..small()
        };
        let e = extract_zip(&z, &z, limits, pick_all(&out))
            .unwrap_err()
            .to_string();
        assert!(e.contains("in all"), "{e}");
    }

    #[test]
    fn a_zip_bomb_member_that_lies_about_its_size_is_cut_off() {
        let tmp = tempfile::tempdir().unwrap();
        let z = tmp.path().join("bomb.zip");
        // 10 MB of zeros deflate to ~10 KB; the headers then claim 100 bytes.
        let zeros = vec![0u8; 10 << 20];
        write_zip(
            &z,
            &[("bomb.bin", &zeros, zip::CompressionMethod::Deflated)],
        );
        let mut bytes = std::fs::read(&z).unwrap();
        patch_sizes(&mut bytes, 100);
        std::fs::write(&z, &bytes).unwrap();
        let out = tmp.path().join("out");
        let e = extract_zip(&z, &z, small(), pick_all(&out))
            .unwrap_err()
            .to_string();
        assert!(e.contains("bomb.zip") && e.contains("bomb.bin"), "{e}");
        // Nothing past the bound was written.
        let written = std::fs::metadata(out.join("bomb.bin"))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(written <= 101, "{written}");
    }

    /// Sets the uncompressed size of every local and central header to `size`.
    fn patch_sizes(bytes: &mut [u8], size: u32) {
        let mut i = 0;
        while i + 4 <= bytes.len() {
            match &bytes[i..i + 4] {
                [0x50, 0x4b, 3, 4] => bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes()),
                [0x50, 0x4b, 1, 2] => bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes()),
                _ => {}
            }
            i += 1;
        }
    }

    #[test]
    fn truncated_and_garbage_zips_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let z = tmp.path().join("t.zip");
        write_zip(
            &z,
            &[("a.txt", &[7u8; 600], zip::CompressionMethod::Deflated)],
        );
        let bytes = std::fs::read(&z).unwrap();
        let out = tmp.path().join("out");
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            std::fs::write(&z, &bytes[..cut]).unwrap();
            let e = extract_zip(&z, &z, small(), pick_all(&out))
                .unwrap_err()
                .to_string();
            assert!(e.contains("t.zip"), "{cut}: {e}");
        }
        // A flipped byte in the data: the CRC check refuses it.
        let mut flipped = bytes.clone();
        let data_at = 30
            + usize::from(u16::from_le_bytes([bytes[26], bytes[27]]))
            + usize::from(u16::from_le_bytes([bytes[28], bytes[29]]));
        flipped[data_at + 2] ^= 0x55;
        std::fs::write(&z, &flipped).unwrap();
        assert!(extract_zip(&z, &z, small(), pick_all(&out)).is_err());
    }

    fn tar_gz(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        let mut b = tar::Builder::new(gz);
        for (name, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            // `append_data` writes a GNU long-name header for long paths.
            b.append_data(&mut h, name, *data).unwrap();
        }
        b.into_inner().unwrap().finish().unwrap()
    }

    #[test]
    fn tar_members_with_long_names_are_extracted() {
        let tmp = tempfile::tempdir().unwrap();
        let long = format!("{}/file.txt", "d".repeat(120));
        let t = tmp.path().join("s.tar.gz");
        std::fs::write(&t, tar_gz(&[(&long, b"abc"), ("x.txt", b"xy")])).unwrap();
        let mut seen = Vec::new();
        let out = tmp.path().join("out");
        let n = extract_tar_gz(&t, small(), |name| {
            seen.push(name.to_string());
            Some(out.join(seen.len().to_string()))
        })
        .unwrap();
        assert_eq!(n, 2);
        assert_eq!(seen, [long, "x.txt".to_string()]);
        assert_eq!(std::fs::read(out.join("1")).unwrap(), b"abc");
        assert_eq!(std::fs::read(out.join("2")).unwrap(), b"xy");
    }

    #[test]
    fn hostile_tars_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let t = tmp.path().join("h.tar.gz");
        let out = tmp.path().join("out");
        // A member over the limit.
        std::fs::write(&t, tar_gz(&[("big", &[1u8; 1200])])).unwrap();
        let e = extract_tar_gz(&t, small(), pick_all(&out))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("h.tar.gz") && e.contains("big") && e.contains("1200"),
            "{e}"
        );
        // A long-name header claiming 1 GB: refused before it is read.
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::GNULongName);
        h.set_path("././@LongLink").unwrap();
        h.set_size(1 << 30);
        h.set_cksum();
        let mut raw = h.as_bytes().to_vec();
        raw.extend_from_slice(&[b'a'; 512]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw).unwrap();
        std::fs::write(&t, gz.finish().unwrap()).unwrap();
        let e = extract_tar_gz(&t, small(), pick_all(&out))
            .unwrap_err()
            .to_string();
        assert!(e.contains("extended header"), "{e}");
        // A gzip bomb: the stream is cut off at its limit.
        std::fs::write(&t, tar_gz(&[("zeros", &vec![0u8; 4 << 20])])).unwrap();
        let limits = Limits {
            stream: 1 << 20,
            ..small()
        };
        let e = extract_tar_gz(&t, limits, |_| None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 1048576 bytes"), "{e}");
        // Truncated and garbage streams.
        let good = tar_gz(&[("a", &[5u8; 700])]);
        for cut in [1, 20, good.len() / 2] {
            std::fs::write(&t, &good[..cut]).unwrap();
            let e = extract_tar_gz(&t, small(), pick_all(&out))
                .unwrap_err()
                .to_string();
            assert!(e.contains("h.tar.gz"), "{cut}: {e}");
        }
    }
}
