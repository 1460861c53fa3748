//! A walk over a GGUF file's header that checks every count and length against the bytes the
//! file holds, before candle reads it: candle allocates what the header claims, so a hostile
//! file (a string of 2⁶⁴ − 1 bytes, 10¹² tensors, dimensions whose product overflows) would
//! abort the process instead of giving an error.
//!
//! Not here: reading the values (candle does that once the header is known to be sane).

use std::io::{Read, Seek, SeekFrom};

/// Bytes of a GGUF scalar value type, or `None` for string (8) and array (9).
fn scalar_size(kind: u32) -> Option<u64> {
    match kind {
        0 | 1 | 7 => Some(1),
        2 | 3 => Some(2),
        4..=6 => Some(4),
        10..=12 => Some(8),
        _ => None,
    }
}

/// Most dimensions a tensor may have (ggml uses at most 4).
const MAX_DIMS: u32 = 8;
/// Most nested array levels.
const MAX_NESTING: u32 = 4;

struct Walker<'a, R> {
    reader: &'a mut R,
    position: u64,
    length: u64,
    /// Counts and lengths are u32 in version 1, u64 after.
    wide: bool,
}

impl<R: Read> Walker<'_, R> {
    fn left(&self) -> u64 {
        self.length.saturating_sub(self.position)
    }

    fn bytes<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut buf = [0; N];
        self.reader
            .read_exact(&mut buf)
            .map_err(|_| format!("the header ends early, at byte {}", self.position))?;
        self.position += N as u64;
        Ok(buf)
    }

    fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.bytes()?))
    }

    fn count(&mut self) -> Result<u64, String> {
        if self.wide {
            Ok(u64::from_le_bytes(self.bytes()?))
        } else {
            Ok(u64::from(self.u32()?))
        }
    }

    /// Skips `n` bytes that must lie inside the file.
    fn skip(&mut self, n: u64, what: &str) -> Result<(), String> {
        if n > self.left() {
            return Err(format!(
                "{what} claims {n} bytes at byte {}, but the file has {} left",
                self.position,
                self.left()
            ));
        }
        let copied = std::io::copy(&mut self.reader.by_ref().take(n), &mut std::io::sink())
            .map_err(|e| e.to_string())?;
        if copied != n {
            return Err(format!(
                "the header ends early, at byte {}",
                self.position + copied
            ));
        }
        self.position += n;
        Ok(())
    }

    fn string(&mut self, what: &str) -> Result<(), String> {
        let n = self.count()?;
        self.skip(n, what)
    }

    fn value(&mut self, kind: u32, depth: u32) -> Result<(), String> {
        match kind {
            8 => self.string("a metadata string"),
            9 => {
                if depth >= MAX_NESTING {
                    return Err("metadata arrays nested too deep".into());
                }
                let item = self.u32()?;
                let n = self.count()?;
                match scalar_size(item) {
                    Some(size) => self.skip(
                        n.checked_mul(size)
                            .ok_or("a metadata array's size overflows")?,
                        "a metadata array",
                    ),
                    None if item == 8 || item == 9 => {
                        // Each string or array takes at least its length field.
                        if n > self.left() / 8 {
                            return Err(format!("a metadata array claims {n} items"));
                        }
                        (0..n).try_for_each(|_| self.value(item, depth + 1))
                    }
                    None => Err(format!("unknown metadata type {item}")),
                }
            }
            other => match scalar_size(other) {
                Some(size) => self.skip(size, "a metadata value"),
                None => Err(format!("unknown metadata type {other}")),
            },
        }
    }
}

/// Checks the header of the GGUF file behind `reader` (`length` bytes long) and rewinds it.
pub(crate) fn check_header<R: Read + Seek>(reader: &mut R, length: u64) -> Result<(), String> {
    let mut walker = Walker {
        reader: &mut *reader,
        position: 0,
        length,
        wide: true,
    };
    if &walker.bytes::<4>()? != b"GGUF" {
        return Err("not a GGUF file (no GGUF magic)".into());
    }
    let version = walker.u32()?;
    if !(1..=3).contains(&version) {
        return Err(format!("GGUF version {version} is not supported"));
    }
    walker.wide = version >= 2;
    let tensors = walker.count()?;
    let entries = walker.count()?;
    // A metadata entry takes at least 12 bytes, a tensor description at least 24.
    if entries > walker.left() / 12 || tensors > walker.left() / 24 {
        return Err(format!(
            "the header claims {entries} metadata entries and {tensors} tensors, more than {length} bytes hold"
        ));
    }
    for _ in 0..entries {
        walker.string("a metadata key")?;
        let kind = walker.u32()?;
        walker.value(kind, 0)?;
    }
    for _ in 0..tensors {
        walker.string("a tensor name")?;
        let dims = walker.u32()?;
        if dims == 0 || dims > MAX_DIMS {
            return Err(format!("a tensor has {dims} dimensions"));
        }
        let mut elements: u64 = 1;
        for _ in 0..dims {
            let d = walker.count()?;
            elements = elements
                .checked_mul(d)
                .ok_or("a tensor's dimensions overflow")?;
        }
        // The smallest ggml types take well over a tenth of a byte per element.
        if elements / 16 > length {
            return Err(format!(
                "a tensor of {elements} elements cannot fit in a {length}-byte file"
            ));
        }
        walker.u32()?; // ggml type
        let offset = walker.count()?;
        if offset > length {
            return Err(format!(
                "a tensor's data offset {offset} is past the end of the file"
            ));
        }
    }
    reader.seek(SeekFrom::Start(0)).map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn header(version: u32, tensors: u64, entries: u64, rest: &[u8]) -> Vec<u8> {
        let mut out = b"GGUF".to_vec();
        out.extend(version.to_le_bytes());
        out.extend(tensors.to_le_bytes());
        out.extend(entries.to_le_bytes());
        out.extend(rest);
        out
    }

    fn check(bytes: &[u8]) -> Result<(), String> {
        check_header(&mut Cursor::new(bytes.to_vec()), bytes.len() as u64)
    }

    #[test]
    fn hostile_counts_and_lengths_are_errors_not_allocations() {
        // One metadata entry: key "k", a string value of 2^64 - 1 bytes.
        let mut rest = 1u64.to_le_bytes().to_vec();
        rest.push(b'k');
        rest.extend(8u32.to_le_bytes());
        rest.extend(u64::MAX.to_le_bytes());
        let e = check(&header(3, 0, 1, &rest)).unwrap_err();
        assert!(e.contains("claims 18446744073709551615 bytes"), "{e}");
        let e = check(&header(3, 1_000_000_000_000, 0, &[])).unwrap_err();
        assert!(e.contains("1000000000000 tensors"), "{e}");
        // A tensor whose dimensions overflow.
        let mut rest = 1u64.to_le_bytes().to_vec();
        rest.push(b't');
        rest.extend(2u32.to_le_bytes());
        rest.extend(u64::MAX.to_le_bytes());
        rest.extend(4u64.to_le_bytes());
        rest.extend([0; 32]);
        let e = check(&header(3, 1, 0, &rest)).unwrap_err();
        assert!(e.contains("overflow"), "{e}");
        assert!(
            check(b"GGML\x03\x00\x00\x00")
                .unwrap_err()
                .contains("magic")
        );
        assert!(check(&header(3, 0, 0, &[])).is_ok());
    }
}
