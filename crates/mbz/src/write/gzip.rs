//! Deterministic, optionally parallel gzip (pigz-style).
//!
//! The tar stream is cut into chunks; each chunk is deflated on its own
//! (raw deflate, no shared dictionary) and ended with a sync flush, the last
//! one with the final block. The pieces concatenate into one valid deflate
//! stream inside a single gzip member whose CRC-32 is combined from the
//! chunks'. Chunk boundaries depend only on the bytes and on level changes,
//! never on thread timing, so the output is byte-for-byte reproducible.
//! The header is fixed: no name, mtime 0, OS 255.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::mpsc;
use std::thread;

use flate2::{Compress, Compression, FlushCompress};

const GZIP_HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

struct Job {
    seq: u64,
    level: u32,
    last: bool,
    data: Vec<u8>,
}

struct Done {
    seq: u64,
    out: io::Result<Vec<u8>>,
    crc: crc32fast::Hasher,
}

fn deflate_chunk(data: &[u8], level: u32, last: bool) -> io::Result<Vec<u8>> {
    let mut c = Compress::new(Compression::new(level), false);
    let mut out = Vec::with_capacity(data.len() / 2 + 1024);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let mut input = data;
    loop {
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.capacity().max(64 << 10));
        }
        let before_in = c.total_in();
        let st = c
            .compress_vec(input, &mut out, flush)
            .map_err(|e| io::Error::other(e.to_string()))?;
        let used = usize::try_from(c.total_in() - before_in).unwrap_or(0);
        input = &input[used..];
        let done = match st {
            flate2::Status::StreamEnd => true,
            _ => input.is_empty() && !last && out.len() < out.capacity(),
        };
        if done {
            return Ok(out);
        }
    }
}

fn work(job: Job) -> Done {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&job.data);
    Done {
        seq: job.seq,
        out: deflate_chunk(&job.data, job.level, job.last),
        crc,
    }
}

/// A gzip writer with per-chunk compression levels and worker threads.
pub(crate) struct ChunkedGz<W: Write> {
    out: W,
    level: u32,
    chunk: usize,
    buf: Vec<u8>,
    next_seq: u64,
    next_write: u64,
    crc: crc32fast::Hasher,
    total_in: u64,
    written: u64,
    pending: BTreeMap<u64, Done>,
    in_flight: usize,
    max_in_flight: usize,
    jobs: Option<mpsc::SyncSender<Job>>,
    results: mpsc::Receiver<Done>,
    workers: Vec<thread::JoinHandle<()>>,
    serial_tx: mpsc::Sender<Done>,
}

impl<W: Write> ChunkedGz<W> {
    /// `threads` = 0 or 1 compresses on the calling thread.
    pub(crate) fn new(mut out: W, level: u32, chunk: usize, threads: usize) -> io::Result<Self> {
        out.write_all(&GZIP_HEADER)?;
        let (rtx, rrx) = mpsc::channel();
        let mut workers = Vec::new();
        let mut jobs = None;
        if threads > 1 {
            let (jtx, jrx) = mpsc::sync_channel::<Job>(threads * 2);
            let jrx = std::sync::Arc::new(std::sync::Mutex::new(jrx));
            for _ in 0..threads {
                let jrx = jrx.clone();
                let rtx = rtx.clone();
                workers.push(thread::spawn(move || loop {
                    let job = match jrx.lock() {
                        Ok(g) => g.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    if rtx.send(work(job)).is_err() {
                        return;
                    }
                }));
            }
            jobs = Some(jtx);
        }
        Ok(ChunkedGz {
            out,
            level,
            chunk,
            buf: Vec::with_capacity(chunk),
            next_seq: 0,
            next_write: 0,
            crc: crc32fast::Hasher::new(),
            total_in: 0,
            written: GZIP_HEADER.len() as u64,
            pending: BTreeMap::new(),
            in_flight: 0,
            max_in_flight: threads.max(1) * 3,
            jobs,
            results: rrx,
            workers,
            serial_tx: rtx,
        })
    }

    /// Change the level for the bytes that follow (ends the current chunk).
    pub(crate) fn set_level(&mut self, level: u32) -> io::Result<()> {
        if level != self.level {
            self.ship(false)?;
            self.level = level;
        }
        Ok(())
    }

    fn ship(&mut self, last: bool) -> io::Result<()> {
        if self.buf.is_empty() && !last {
            return Ok(());
        }
        let data = std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk));
        let job = Job {
            seq: self.next_seq,
            level: self.level,
            last,
            data,
        };
        self.next_seq += 1;
        match &self.jobs {
            Some(tx) => {
                tx.send(job)
                    .map_err(|_| io::Error::other("compression worker died"))?;
                self.in_flight += 1;
                while self.in_flight >= self.max_in_flight {
                    self.collect_one()?;
                }
            }
            None => {
                let done = work(job);
                let _ = self.serial_tx.send(done);
                self.in_flight += 1;
                self.collect_one()?;
            }
        }
        Ok(())
    }

    fn collect_one(&mut self) -> io::Result<()> {
        let done = self
            .results
            .recv()
            .map_err(|_| io::Error::other("compression worker died"))?;
        self.in_flight -= 1;
        self.pending.insert(done.seq, done);
        while let Some(done) = self.pending.remove(&self.next_write) {
            let bytes = done.out?;
            self.out.write_all(&bytes)?;
            self.written += bytes.len() as u64;
            self.crc.combine(&done.crc);
            self.next_write += 1;
        }
        Ok(())
    }

    /// Finish the stream; returns the writer and the compressed size.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64)> {
        self.ship(true)?;
        while self.in_flight > 0 {
            self.collect_one()?;
        }
        self.jobs = None;
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        let crc = std::mem::take(&mut self.crc).finalize();
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&crc.to_le_bytes());
        trailer[4..].copy_from_slice(&(self.total_in as u32).to_le_bytes());
        self.out.write_all(&trailer)?;
        self.out.flush()?;
        let n = self.written + 8;
        let ChunkedGz { out, .. } = self;
        Ok((out, n))
    }
}

impl<W: Write> Write for ChunkedGz<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = self.chunk - self.buf.len();
        let n = data.len().min(room);
        self.buf.extend_from_slice(&data[..n]);
        self.total_in += n as u64;
        if self.buf.len() >= self.chunk {
            self.ship(false)?;
        }
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn parallel_output_is_valid_and_deterministic() {
        let mut data = Vec::new();
        let mut x: u64 = 88172645463325252;
        for i in 0..3_000_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(if i % 3 == 0 {
                (x & 0xff) as u8
            } else {
                b'a' + (i % 7) as u8
            });
        }
        let run = |threads| {
            let mut g = ChunkedGz::new(Vec::new(), 6, 256 << 10, threads).unwrap();
            g.write_all(&data[..1_000_000]).unwrap();
            g.set_level(1).unwrap();
            g.write_all(&data[1_000_000..]).unwrap();
            g.finish().unwrap().0
        };
        let a = run(2);
        assert_eq!(a, run(2));
        assert_eq!(a, run(1));
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&a[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }
}
