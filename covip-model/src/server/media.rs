//! Where a message's image bytes come from: `data:` URLs (base64), and local files only
//! under `--allowed-media-dir`, checked after canonicalisation so that neither `..` nor a
//! symbolic link leads outside it. Remote URLs are refused: the server fetches nothing.
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use crate::server::errors::ApiError;

/// How image URLs are resolved.
#[derive(Debug, Clone, Default)]
pub struct MediaPolicy {
    /// The canonical folder local images must lie in; `None` refuses every local path.
    pub allowed_dir: Option<PathBuf>,
    /// Largest image file read from disk (the body limit: an inline image could be no larger).
    pub max_file_bytes: u64,
}

impl MediaPolicy {
    /// The encoded bytes `url` names; errors are 400s about `param`.
    pub fn resolve(&self, url: &str, param: &str) -> Result<Vec<u8>, ApiError> {
        let lower: String = url
            .chars()
            .take(16)
            .collect::<String>()
            .to_ascii_lowercase();
        if lower.starts_with("data:") {
            return decode_data_url(url, param);
        }
        if lower.starts_with("http://") || lower.starts_with("https://") {
            return Err(ApiError::bad(
                param,
                "remote image URLs (http/https) are refused: covip serve fetches nothing from \
                 the network; send the image inline as a data:image/png;base64,… URL, or as a \
                 file under the server's --allowed-media-dir",
            ));
        }
        let path = if lower.starts_with("file://") {
            let rest = &url["file://".len()..];
            // `file://localhost/x` and `file:///x` both name `/x`.
            let rest = rest.strip_prefix("localhost").unwrap_or(rest);
            PathBuf::from(percent_decode(rest, param)?)
        } else if let Some(scheme_end) = url.find("://") {
            return Err(ApiError::bad(
                param,
                format!(
                    "unsupported image URL scheme {:?}: use a data: URL, or a file path under \
                     --allowed-media-dir",
                    &url[..scheme_end]
                ),
            ));
        } else {
            PathBuf::from(url)
        };
        self.read_local(&path, param)
    }

    fn read_local(&self, path: &Path, param: &str) -> Result<Vec<u8>, ApiError> {
        let Some(root) = &self.allowed_dir else {
            return Err(ApiError::bad(
                param,
                "local image paths are refused: the server was started without \
                 --allowed-media-dir; send the image inline as a data: URL",
            ));
        };
        let joined = if path.is_absolute() {
            path.to_path_buf()
        } else {
            root.join(path)
        };
        let outside = || {
            ApiError::bad(
                param,
                format!(
                    "image path {} is refused: only files under the server's \
                     --allowed-media-dir may be read",
                    path.display()
                ),
            )
        };
        // Canonical form resolves `..` and every symbolic link: what is checked is where the
        // file really is. A path that does not exist is refused the same way as one outside,
        // so that a client cannot probe the server's file system.
        let real = joined.canonicalize().map_err(|_| {
            let lexically_inside = joined.starts_with(root)
                && !joined
                    .components()
                    .any(|c| matches!(c, std::path::Component::ParentDir));
            if lexically_inside {
                ApiError::bad(
                    param,
                    format!("image file {} does not exist", path.display()),
                )
            } else {
                outside()
            }
        })?;
        if !real.starts_with(root) {
            return Err(outside());
        }
        let file = std::fs::File::open(&real).map_err(|e| {
            ApiError::bad(param, format!("cannot open image {}: {e}", path.display()))
        })?;
        let meta = file
            .metadata()
            .map_err(|e| ApiError::bad(param, format!("cannot read {}: {e}", path.display())))?;
        if !meta.is_file() {
            return Err(ApiError::bad(
                param,
                format!("{} is not a file", path.display()),
            ));
        }
        if meta.len() > self.max_file_bytes {
            return Err(ApiError::bad(
                param,
                format!(
                    "image file {} has {} bytes, more than the limit of {}",
                    path.display(),
                    meta.len(),
                    self.max_file_bytes
                ),
            ));
        }
        let mut bytes = Vec::with_capacity(meta.len() as usize);
        file.take(self.max_file_bytes)
            .read_to_end(&mut bytes)
            .map_err(|e| ApiError::bad(param, format!("cannot read {}: {e}", path.display())))?;
        Ok(bytes)
    }
}

/// `data:[<mime>][;base64],<payload>`; only base64 image payloads are taken.
fn decode_data_url(url: &str, param: &str) -> Result<Vec<u8>, ApiError> {
    let Some((head, payload)) = url["data:".len()..].split_once(',') else {
        return Err(ApiError::bad(
            param,
            "malformed data: URL (no comma before the payload); expected \
             data:image/png;base64,…",
        ));
    };
    let mut parts = head.split(';');
    let mime = parts.next().unwrap_or("").trim().to_ascii_lowercase();
    if !mime.is_empty() && !mime.starts_with("image/") {
        return Err(ApiError::bad(
            param,
            format!(
                "data: URL has media type {mime:?}; only images (image/png, image/jpeg) are taken"
            ),
        ));
    }
    if !parts.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err(ApiError::bad(
            param,
            "data: URL is not base64-encoded; expected data:image/png;base64,…",
        ));
    }
    // Clients wrap long base64 lines now and then.
    let clean: Vec<u8> = payload
        .bytes()
        .filter(|b| !b.is_ascii_whitespace())
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(&clean)
        .map_err(|e| ApiError::bad(param, format!("data: URL payload is not valid base64: {e}")))
}

/// `%XX` escapes of a `file://` URL's path.
fn percent_decode(s: &str, param: &str) -> Result<String, ApiError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| ApiError::bad(param, "malformed %-escape in the file:// URL"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ApiError::bad(param, "the file:// URL is not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(dir: Option<&Path>) -> MediaPolicy {
        MediaPolicy {
            allowed_dir: dir.map(|d| d.canonicalize().unwrap()),
            max_file_bytes: 1 << 20,
        }
    }

    #[test]
    fn data_urls_decode_and_bad_ones_are_refused() {
        let p = policy(None);
        assert_eq!(p.resolve("data:image/png;base64,aGk=", "x").unwrap(), b"hi");
        assert_eq!(
            p.resolve("data:image/png;base64,aG\nk=", "x").unwrap(),
            b"hi"
        );
        for bad in [
            "data:image/png;base64,@@@",
            "data:text/plain;base64,aGk=",
            "data:image/png,hi",
            "data:image/png;base64",
        ] {
            let e = p
                .resolve(bad, "messages[0].content[1].image_url")
                .unwrap_err();
            assert_eq!(e.param.as_deref(), Some("messages[0].content[1].image_url"));
        }
        let e = p.resolve("https://example.com/a.png", "x").unwrap_err();
        assert!(e.message.contains("remote image URLs"), "{e}");
        let e = p.resolve("ftp://example.com/a.png", "x").unwrap_err();
        assert!(e.message.contains("scheme"), "{e}");
        let e = p.resolve("/etc/passwd", "x").unwrap_err();
        assert!(e.message.contains("--allowed-media-dir"), "{e}");
    }

    #[test]
    fn local_files_only_under_the_allowed_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let allowed = tmp.path().join("media");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(allowed.join("a b.png"), b"img").unwrap();
        std::fs::write(tmp.path().join("secret.png"), b"no").unwrap();
        let p = policy(Some(&allowed));
        assert_eq!(p.resolve("a b.png", "x").unwrap(), b"img");
        let abs = allowed.join("a b.png");
        assert_eq!(p.resolve(abs.to_str().unwrap(), "x").unwrap(), b"img");
        let url = format!("file://{}", abs.to_str().unwrap().replace(' ', "%20"));
        assert_eq!(p.resolve(&url, "x").unwrap(), b"img");
        let e = p.resolve("../secret.png", "x").unwrap_err();
        assert!(e.message.contains("refused"), "{e}");
        let e = p
            .resolve(tmp.path().join("secret.png").to_str().unwrap(), "x")
            .unwrap_err();
        assert!(e.message.contains("refused"), "{e}");
        #[cfg(unix)]
        {
            std::os::unix::fs::symlink(tmp.path().join("secret.png"), allowed.join("link.png"))
                .unwrap();
            let e = p.resolve("link.png", "x").unwrap_err();
            assert!(e.message.contains("refused"), "{e}");
        }
        let e = p.resolve("missing.png", "x").unwrap_err();
        assert!(e.message.contains("does not exist"), "{e}");
    }
}
