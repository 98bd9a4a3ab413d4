//! Just enough of the zip and tar formats to take METEOR's files out of a pycocoevalcap wheel
//! (a zip), the jar inside it (another zip) or a source distribution (a gzipped tar): the
//! central directory, stored and deflated entries with their CRC checked, and ustar / pax /
//! GNU long-name tar headers.

use std::io::{Read, Seek, SeekFrom};

/// A zip entry, from the central directory.
#[derive(Clone, Debug)]
pub struct ZipEntry {
    /// Path inside the archive.
    pub name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    /// Uncompressed size.
    pub size: u64,
    header_offset: u64,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn invalid(message: impl Into<String>) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, message.into())
}

/// Reads the central directory of a zip archive.
pub fn zip_entries<R: Read + Seek>(r: &mut R) -> std::io::Result<Vec<ZipEntry>> {
    let len = r.seek(SeekFrom::End(0))?;
    // End of central directory: 22 bytes plus a comment of up to 64 KiB.
    let tail_len = len.min(22 + 65_535);
    r.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    r.read_exact(&mut tail)?;
    let eocd = (0..tail.len().saturating_sub(21))
        .rev()
        .find(|&i| le32(&tail, i) == 0x0605_4b50)
        .ok_or_else(|| invalid("not a zip archive (no end of central directory)"))?;
    let mut count = u64::from(le16(&tail, eocd + 10));
    let mut cd_size = u64::from(le32(&tail, eocd + 12));
    let mut cd_offset = u64::from(le32(&tail, eocd + 16));
    // Zip64 end of central directory locator, just before the classic record.
    if eocd >= 20 && le32(&tail, eocd - 20) == 0x0706_4b50 {
        let at = le64(&tail, eocd - 12);
        r.seek(SeekFrom::Start(at))?;
        let mut rec = [0u8; 56];
        r.read_exact(&mut rec)?;
        if le32(&rec, 0) != 0x0606_4b50 {
            return Err(invalid("bad zip64 end of central directory"));
        }
        count = le64(&rec, 32);
        cd_size = le64(&rec, 40);
        cd_offset = le64(&rec, 48);
    }
    r.seek(SeekFrom::Start(cd_offset))?;
    let mut cd = vec![0u8; cd_size as usize];
    r.read_exact(&mut cd)?;
    let mut out = Vec::with_capacity(count as usize);
    let mut at = 0usize;
    for _ in 0..count {
        if at + 46 > cd.len() || le32(&cd, at) != 0x0201_4b50 {
            return Err(invalid("bad zip central directory entry"));
        }
        let name_len = le16(&cd, at + 28) as usize;
        let extra_len = le16(&cd, at + 30) as usize;
        let comment_len = le16(&cd, at + 32) as usize;
        let name_end = at + 46 + name_len;
        if name_end + extra_len > cd.len() {
            return Err(invalid("truncated zip central directory"));
        }
        let mut e = ZipEntry {
            name: String::from_utf8_lossy(&cd[at + 46..name_end]).into_owned(),
            method: le16(&cd, at + 10),
            crc: le32(&cd, at + 16),
            compressed: u64::from(le32(&cd, at + 20)),
            size: u64::from(le32(&cd, at + 24)),
            header_offset: u64::from(le32(&cd, at + 42)),
        };
        // Zip64 extra field: the 64-bit values of the fields saturated above, in order.
        let mut x = name_end;
        while x + 4 <= name_end + extra_len {
            let (id, n) = (le16(&cd, x), le16(&cd, x + 2) as usize);
            if id == 1 {
                let mut y = x + 4;
                for field in [&mut e.size, &mut e.compressed, &mut e.header_offset] {
                    if *field == 0xffff_ffff && y + 8 <= x + 4 + n {
                        *field = le64(&cd, y);
                        y += 8;
                    }
                }
            }
            x += 4 + n;
        }
        out.push(e);
        at = name_end + extra_len + comment_len;
    }
    Ok(out)
}

/// Streams one entry's contents into `sink`, checking its CRC and size.
pub fn zip_extract<R: Read + Seek>(
    r: &mut R,
    e: &ZipEntry,
    sink: &mut dyn std::io::Write,
) -> std::io::Result<()> {
    r.seek(SeekFrom::Start(e.header_offset))?;
    let mut h = [0u8; 30];
    r.read_exact(&mut h)?;
    if le32(&h, 0) != 0x0403_4b50 {
        return Err(invalid(format!("{}: bad local header", e.name)));
    }
    let skip = u64::from(le16(&h, 26)) + u64::from(le16(&h, 28));
    r.seek(SeekFrom::Current(skip as i64))?;
    let raw = r.take(e.compressed);
    let mut reader: Box<dyn Read + '_> = match e.method {
        0 => Box::new(raw),
        8 => Box::new(flate2::read::DeflateDecoder::new(raw)),
        m => {
            return Err(invalid(format!(
                "{}: unsupported compression method {m}",
                e.name
            )));
        }
    };
    let mut crc = flate2::Crc::new();
    let mut buf = vec![0u8; 1 << 16];
    let mut total = 0u64;
    loop {
        let k = reader.read(&mut buf)?;
        if k == 0 {
            break;
        }
        crc.update(&buf[..k]);
        sink.write_all(&buf[..k])?;
        total += k as u64;
    }
    if total != e.size || crc.sum() != e.crc {
        return Err(invalid(format!(
            "{}: corrupt entry (size or CRC mismatch)",
            e.name
        )));
    }
    Ok(())
}

/// Calls `visit(path, reader)` for every regular file of a tar stream, in order; `visit`
/// returns false to stop early.
pub fn tar_files(
    mut r: impl Read,
    mut visit: impl FnMut(&str, &mut dyn Read) -> std::io::Result<bool>,
) -> std::io::Result<()> {
    let mut long_name: Option<String> = None;
    loop {
        let mut h = [0u8; 512];
        if let Err(e) = r.read_exact(&mut h) {
            // A stream may end without the two zero blocks.
            return if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Ok(())
            } else {
                Err(e)
            };
        }
        if h.iter().all(|&b| b == 0) {
            return Ok(());
        }
        let field = |from: usize, len: usize| {
            let f = &h[from..from + len];
            let end = f.iter().position(|&b| b == 0).unwrap_or(len);
            String::from_utf8_lossy(&f[..end]).into_owned()
        };
        let size = u64::from_str_radix(field(124, 12).trim(), 8)
            .map_err(|_| invalid("bad tar header size"))?;
        let kind = h[156];
        let mut name = field(0, 100);
        let prefix = field(345, 155);
        if &h[257..262] == b"ustar" && !prefix.is_empty() {
            name = format!("{prefix}/{name}");
        }
        if let Some(n) = long_name.take() {
            name = n;
        }
        let padded = size.div_ceil(512) * 512;
        let mut body = (&mut r).take(size);
        match kind {
            b'L' | b'x' => {
                let mut data = Vec::new();
                body.read_to_end(&mut data)?;
                if kind == b'L' {
                    let end = data.iter().position(|&b| b == 0).unwrap_or(data.len());
                    long_name = Some(String::from_utf8_lossy(&data[..end]).into_owned());
                } else {
                    long_name = pax_path(&data);
                }
            }
            b'0' | 0 => {
                if !visit(&name, &mut body)? {
                    return Ok(());
                }
                std::io::copy(&mut body, &mut std::io::sink())?;
            }
            _ => {
                std::io::copy(&mut body, &mut std::io::sink())?;
            }
        }
        std::io::copy(&mut (&mut r).take(padded - size), &mut std::io::sink())?;
    }
}

/// The `path` record of a pax extended header (`LEN path=VALUE\n` records).
fn pax_path(data: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(data);
    let mut rest: &str = &text;
    while !rest.is_empty() {
        let (len, _) = rest.split_once(' ')?;
        let n: usize = len.parse().ok()?;
        let record = rest.get(..n)?;
        rest = &rest[n..];
        let kv = record.split_once(' ')?.1.trim_end_matches('\n');
        if let Some(v) = kv.strip_prefix("path=") {
            return Some(v.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Cursor, Write};

    /// A zip archive with one stored and one deflated entry (written here, byte by byte).
    fn tiny_zip() -> Vec<u8> {
        let entries: [(&str, &[u8], u16); 2] = [
            ("a.txt", b"hello", 0),
            ("dir/b.txt", b"deflated text deflated text", 8),
        ];
        let mut out = Vec::new();
        let mut central = Vec::new();
        for (name, data, method) in entries {
            let body = if method == 8 {
                let mut e =
                    flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            } else {
                data.to_vec()
            };
            let mut crc = flate2::Crc::new();
            crc.update(data);
            let offset = out.len() as u32;
            let common = |v: &mut Vec<u8>| {
                v.extend_from_slice(&method.to_le_bytes());
                v.extend_from_slice(&[0, 0, 0, 0]);
                v.extend_from_slice(&crc.sum().to_le_bytes());
                v.extend_from_slice(&(body.len() as u32).to_le_bytes());
                v.extend_from_slice(&(data.len() as u32).to_le_bytes());
                v.extend_from_slice(&(name.len() as u16).to_le_bytes());
                v.extend_from_slice(&[0, 0]);
            };
            out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
            out.extend_from_slice(&[20, 0, 0, 0]);
            common(&mut out);
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(&body);
            central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
            central.extend_from_slice(&[20, 0, 20, 0, 0, 0]);
            common(&mut central);
            // comment length, disk, internal and external attributes
            central.extend_from_slice(&[0; 10]);
            central.extend_from_slice(&offset.to_le_bytes());
            central.extend_from_slice(name.as_bytes());
        }
        let cd_offset = out.len() as u32;
        out.extend_from_slice(&central);
        out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
        out.extend_from_slice(&[0, 0, 0, 0, 2, 0, 2, 0]);
        out.extend_from_slice(&(central.len() as u32).to_le_bytes());
        out.extend_from_slice(&cd_offset.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out
    }

    #[test]
    fn reads_stored_and_deflated_entries() {
        let mut z = Cursor::new(tiny_zip());
        let entries = zip_entries(&mut z).unwrap();
        let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["a.txt", "dir/b.txt"]);
        let mut out = Vec::new();
        zip_extract(&mut z, &entries[1], &mut out).unwrap();
        assert_eq!(out, b"deflated text deflated text");
        out.clear();
        zip_extract(&mut z, &entries[0], &mut out).unwrap();
        assert_eq!(out, b"hello");
    }

    #[test]
    fn detects_corruption() {
        let mut bytes = tiny_zip();
        // Flip a byte of the stored entry's data ("hello" starts after its 35-byte header).
        bytes[35] ^= 1;
        let mut z = Cursor::new(bytes);
        let entries = zip_entries(&mut z).unwrap();
        assert!(zip_extract(&mut z, &entries[0], &mut Vec::new()).is_err());
        assert!(zip_entries(&mut Cursor::new(b"not a zip".to_vec())).is_err());
    }

    fn tar_header(name: &str, size: usize, kind: u8) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        let s = format!("{size:011o}\0");
        h[124..136].copy_from_slice(s.as_bytes());
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    #[test]
    fn reads_tar_with_long_names() {
        let mut t = Vec::new();
        let long = format!("{}/file.txt", "d".repeat(120));
        t.extend_from_slice(&tar_header("././@LongLink", long.len() + 1, b'L'));
        let mut body = long.clone().into_bytes();
        body.push(0);
        body.resize(512, 0);
        t.extend_from_slice(&body);
        t.extend_from_slice(&tar_header("short", 3, b'0'));
        let mut data = b"abc".to_vec();
        data.resize(512, 0);
        t.extend_from_slice(&data);
        t.extend_from_slice(&tar_header("x.txt", 2, b'0'));
        let mut data = b"xy".to_vec();
        data.resize(512, 0);
        t.extend_from_slice(&data);
        t.extend_from_slice(&[0u8; 1024]);
        let mut seen = Vec::new();
        tar_files(&t[..], |name, r| {
            let mut s = String::new();
            r.read_to_string(&mut s)?;
            seen.push((name.to_string(), s));
            Ok(true)
        })
        .unwrap();
        assert_eq!(
            seen,
            vec![(long, "abc".to_string()), ("x.txt".into(), "xy".into())]
        );
        assert_eq!(
            pax_path(b"18 path=a/b/c.txt\n").as_deref(),
            Some("a/b/c.txt")
        );
    }
}
