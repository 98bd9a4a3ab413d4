//! A structural check of a Parquet file's Thrift-encoded metadata and page headers before the
//! parquet crate reads them.
//!
//! Written here because the parquet crate (57) trusts the lengths a file declares: a damaged
//! footer that claims a list of four billion elements makes it allocate gigabytes before any
//! check, and a page header that claims a huge uncompressed size does the same while reading.
//! This walker reads the Thrift compact protocol generically (every field skipped by its wire
//! type) and refuses any list, map or binary longer than the bytes left to hold it, so what
//! the crate then allocates is bounded by the file's size.
use std::fmt;

/// The most nested structs/lists the walker follows (real metadata nests a few levels).
const MAX_DEPTH: usize = 64;

/// Why the metadata cannot be right.
#[derive(Debug)]
pub struct GuardError(String);

impl fmt::Display for GuardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn bad<T>(msg: impl Into<String>) -> Result<T, GuardError> {
    Err(GuardError(msg.into()))
}

/// Thrift compact-protocol reader over a byte slice.
struct Compact<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Compact<'a> {
    fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, GuardError> {
        let b = *self
            .bytes
            .get(self.pos)
            .ok_or_else(|| GuardError("metadata ends in the middle of a value".into()))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, GuardError> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            if shift < 64 {
                v |= u64::from(b & 0x7f) << shift;
            }
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        bad("a varint longer than 10 bytes")
    }

    fn zigzag(&mut self) -> Result<i64, GuardError> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn skip(&mut self, n: u64, what: &str) -> Result<(), GuardError> {
        if n > self.remaining() as u64 {
            return bad(format!(
                "{what} of {n} bytes, but only {} bytes are left",
                self.remaining()
            ));
        }
        self.pos += n as usize;
        Ok(())
    }

    /// A count of elements that each take at least one byte.
    fn count(&mut self, n: u64, what: &str) -> Result<u64, GuardError> {
        if n > self.remaining() as u64 {
            return bad(format!(
                "a {what} of {n} elements in {} bytes",
                self.remaining()
            ));
        }
        Ok(n)
    }

    /// Skips one value of compact type `ty`.
    fn value(&mut self, ty: u8, depth: usize) -> Result<(), GuardError> {
        if depth > MAX_DEPTH {
            return bad("metadata nested too deeply");
        }
        match ty {
            1 | 2 => Ok(()),
            3 => self.skip(1, "a byte"),
            4..=6 => self.varint().map(|_| ()),
            7 => self.skip(8, "a double"),
            8 => {
                let n = self.varint()?;
                self.skip(n, "a binary value")
            }
            9 | 10 => {
                let head = self.byte()?;
                let elem = head & 0x0f;
                let n = match head >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                let n = self.count(n, "list")?;
                for _ in 0..n {
                    // Booleans in a list are one byte each.
                    if matches!(elem, 1 | 2) {
                        self.skip(1, "a boolean")?;
                    } else {
                        self.value(elem, depth + 1)?;
                    }
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                let n = self.count(n, "map")?;
                if n == 0 {
                    return Ok(());
                }
                let kv = self.byte()?;
                for _ in 0..n {
                    self.value(kv >> 4, depth + 1)?;
                    self.value(kv & 0x0f, depth + 1)?;
                }
                Ok(())
            }
            12 => self.structure(depth + 1, &mut |_, _, _| Ok(false)),
            other => bad(format!("unknown Thrift type {other}")),
        }
    }

    /// Skips a struct, calling `field(id, type, self)` before each field; a callback that
    /// reads the field's value itself returns `Ok(true)`.
    fn structure(
        &mut self,
        depth: usize,
        field: &mut dyn FnMut(i16, u8, &mut Compact<'a>) -> Result<bool, GuardError>,
    ) -> Result<(), GuardError> {
        if depth > MAX_DEPTH {
            return bad("metadata nested too deeply");
        }
        let mut last = 0i16;
        loop {
            let head = self.byte()?;
            if head == 0 {
                return Ok(());
            }
            let ty = head & 0x0f;
            let id = match head >> 4 {
                0 => self.zigzag()? as i16,
                delta => last.wrapping_add(i16::from(delta)),
            };
            last = id;
            if !field(id, ty, self)? {
                self.value(ty, depth)?;
            }
        }
    }
}

/// Checks the Thrift `FileMetaData` in `metadata` (the footer's bytes).
pub fn check_metadata(metadata: &[u8]) -> Result<(), GuardError> {
    let mut c = Compact {
        bytes: metadata,
        pos: 0,
    };
    c.structure(0, &mut |_, _, _| Ok(false))
}

/// Checks the page header at the start of `bytes` and returns (its length, the page's
/// compressed size, its uncompressed size).
pub fn check_page_header(bytes: &[u8]) -> Result<(usize, i64, i64), GuardError> {
    let mut c = Compact { bytes, pos: 0 };
    let (mut uncompressed, mut compressed) = (None, None);
    c.structure(0, &mut |id, ty, c| {
        if ty == 5 && (id == 2 || id == 3) {
            let v = c.zigzag()?;
            if id == 2 {
                uncompressed = Some(v);
            } else {
                compressed = Some(v);
            }
            return Ok(true);
        }
        Ok(false)
    })?;
    match (compressed, uncompressed) {
        (Some(comp), Some(unc)) if comp >= 0 && unc >= 0 => Ok((c.pos, comp, unc)),
        _ => bad("a page header without valid page sizes"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_longer_than_the_bytes_left_are_refused() {
        // Field 1, type list (9); list header: size 15 (varint follows) of i32 (5); 2^32 - 1.
        let lying = [0x19, 0xf5, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x00];
        let e = check_metadata(&lying).unwrap_err().to_string();
        assert!(e.contains("4294967295 elements"), "{e}");
        // The same field holding two i32s (zigzag 1 and 2), then the struct's stop.
        assert!(check_metadata(&[0x19, 0x25, 0x02, 0x04, 0x00]).is_ok());
    }

    #[test]
    fn truncation_deep_nesting_and_unknown_types_are_errors() {
        assert!(check_metadata(&[0x19]).is_err());
        assert!(check_metadata(&[0x1d, 0x00]).is_err());
        let deep: Vec<u8> = std::iter::repeat_n(0x1c, 200).collect();
        assert!(
            check_metadata(&deep)
                .unwrap_err()
                .to_string()
                .contains("deeply")
        );
    }

    #[test]
    fn page_header_sizes_are_read() {
        // type (i32 field 1) = 0, uncompressed (field 2) = 100, compressed (field 3) = 40.
        let header = [0x15, 0x00, 0x15, 0xc8, 0x01, 0x15, 0x50, 0x00, 0xff];
        assert_eq!(check_page_header(&header).unwrap(), (8, 40, 100));
    }
}
