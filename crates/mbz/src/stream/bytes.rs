//! Byte-level helpers of the streamed readers and writers: caps on a
//! part and on one record, UTF-8 checking on the fly, byte counting.

use std::io::{self, BufRead};

/// A buffered reader that refuses to go past `total` bytes, or past
/// `window` bytes since the last [`Capped::mark`] (one record or event).
pub(crate) struct Capped<R> {
    inner: R,
    pos: u64,
    mark: u64,
    window: u64,
    total: u64,
    tripped: bool,
}

impl<R: BufRead> Capped<R> {
    pub(crate) fn new(inner: R, window: u64, total: u64) -> Self {
        Capped {
            inner,
            pos: 0,
            mark: 0,
            window,
            total,
            tripped: false,
        }
    }

    /// Start a new window at the current position.
    pub(crate) fn mark(&mut self) {
        self.mark = self.pos;
    }

    /// Bytes consumed so far.
    pub(crate) fn pos(&self) -> u64 {
        self.pos
    }

    /// Whether a cap is passed (checked before each read and after each
    /// event, so a record or event is refused even when it arrived in one
    /// buffer).
    pub(crate) fn over(&mut self) -> bool {
        self.tripped |= self.pos > self.total || self.pos - self.mark > self.window;
        self.tripped
    }

    /// The cap that was hit: the part's or the record's.
    pub(crate) fn limit_hit(&self) -> u64 {
        if self.pos > self.total {
            self.total
        } else {
            self.window
        }
    }
}

impl<R: BufRead> io::Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let avail = self.fill_buf()?;
        let n = avail.len().min(buf.len());
        buf[..n].copy_from_slice(&avail[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Capped<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.over() {
            return Err(io::Error::other("part or record too large"));
        }
        self.inner.fill_buf()
    }
    fn consume(&mut self, amt: usize) {
        self.pos += amt as u64;
        self.inner.consume(amt);
    }
}

/// Refuses bytes that are not UTF-8 as they stream by (what
/// [`crate::xml::parse`] checks on a whole document).
pub(crate) struct Utf8Check<R> {
    inner: R,
    /// An incomplete sequence at the end of the last chunk.
    carry: Vec<u8>,
}

impl<R> Utf8Check<R> {
    pub(crate) fn new(inner: R) -> Self {
        Utf8Check {
            inner,
            carry: Vec::new(),
        }
    }
}

fn not_utf8() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "not valid UTF-8")
}

/// Validate `chunk` given the incomplete tail `carry` of the bytes before.
fn check_utf8(carry: &mut Vec<u8>, mut chunk: &[u8]) -> io::Result<()> {
    while !carry.is_empty() && !chunk.is_empty() {
        carry.push(chunk[0]);
        chunk = &chunk[1..];
        match std::str::from_utf8(carry) {
            Ok(_) => carry.clear(),
            Err(e) if e.error_len().is_some() || carry.len() >= 4 => return Err(not_utf8()),
            Err(_) => {}
        }
    }
    if let Err(e) = std::str::from_utf8(chunk) {
        if e.error_len().is_some() {
            return Err(not_utf8());
        }
        carry.extend_from_slice(&chunk[e.valid_up_to()..]);
    }
    Ok(())
}

impl<R: io::Read> io::Read for Utf8Check<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 && !self.carry.is_empty() {
            return Err(not_utf8());
        }
        check_utf8(&mut self.carry, &buf[..n])?;
        Ok(n)
    }
}

/// A part's bytes as the streamed readers take them: UTF-8 checked, buffered.
pub(crate) fn checked<R: io::Read>(r: R) -> io::BufReader<Utf8Check<R>> {
    io::BufReader::with_capacity(64 << 10, Utf8Check::new(r))
}

/// Counts bytes written (and discards them): sizes an output without
/// holding it.
#[derive(Default)]
pub(crate) struct Counter(pub u64);

impl io::Write for Counter {
    fn write(&mut self, b: &[u8]) -> io::Result<usize> {
        self.0 += b.len() as u64;
        Ok(b.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
