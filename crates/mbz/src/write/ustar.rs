//! Plain POSIX ustar headers, as Moodle's `tgz_packer` writes them.
//!
//! ASCII paths only, split into prefix/name when over 100 bytes, owner
//! 0/0 with empty names, mode 644 for files and 755 for directories, no
//! pax or GNU extensions.

use crate::error::{MbzError, Result};

/// The fixed mtime Moodle uses where it has none (2013-01-01 00:00 UTC).
pub const FIXED_MTIME: u64 = 1_356_998_400;

fn octal(field: &mut [u8], value: u64) -> Result<()> {
    let digits = field.len() - 1;
    let s = format!("{value:0digits$o}");
    if s.len() > digits {
        return Err(MbzError::Export(format!(
            "value {value} does not fit a ustar field"
        )));
    }
    field[..digits].copy_from_slice(s.as_bytes());
    field[digits] = 0;
    Ok(())
}

fn split(path: &str) -> Result<(&str, &str)> {
    if path.len() <= 100 {
        return Ok(("", path));
    }
    for (i, b) in path.bytes().enumerate() {
        if b == b'/' && i <= 155 && path.len() - i - 1 <= 100 && path.len() - i - 1 > 0 {
            return Ok((&path[..i], &path[i + 1..]));
        }
    }
    Err(MbzError::Export(format!("path too long for ustar: {path}")))
}

/// Build the 512-byte header for a file (`dir` = false) or directory.
/// Directory paths must end with `/`.
pub fn header(path: &str, size: u64, dir: bool, mtime: u64) -> Result<[u8; 512]> {
    if !path.is_ascii() || path.bytes().any(|b| b.is_ascii_control()) {
        return Err(MbzError::Export(format!("non-ASCII path {path:?}")));
    }
    let mut h = [0u8; 512];
    let (prefix, name) = split(path)?;
    h[..name.len()].copy_from_slice(name.as_bytes());
    octal(&mut h[100..108], if dir { 0o755 } else { 0o644 })?;
    octal(&mut h[108..116], 0)?;
    octal(&mut h[116..124], 0)?;
    octal(&mut h[124..136], size)?;
    octal(&mut h[136..148], mtime)?;
    h[156] = if dir { b'5' } else { b'0' };
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let s = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(s.as_bytes());
    Ok(h)
}

/// Zero bytes that pad `size` to a 512-byte boundary.
pub fn padding(size: u64) -> usize {
    ((512 - size % 512) % 512) as usize
}
