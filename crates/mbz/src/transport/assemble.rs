//! Reassembling a `.mbz` from a verified manifest's parts (both skeleton forms), and walking
//! the skeleton entries alone (what the scanner reads).

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};

use super::skeleton::{
    end_part, is_skeleton_part, load_part, part_for, GzPart, TarIn, Verified, INDEX_PART,
};
use super::{bad, ManifestPart, TransportManifest, SKELETON};
use crate::error::Result;
use crate::import::blob_name;
use crate::write::{gzip_writer, ustar, ExportOptions};

/// Largest archive index read.
pub(super) const MAX_INDEX: u64 = 256 << 20;

/// Where the non-blob entries come from.
enum Skeleton<'m> {
    /// `skeleton.tar`, read straight through.
    Single(TarIn<Verified<Box<dyn Read>>>, &'m ManifestPart),
    /// Split parts, opened when their first entry comes and ended after their last.
    Split {
        last: HashMap<String, usize>,
        open: HashMap<String, GzPart>,
        used: HashSet<String>,
    },
}

fn read_index<R: Read>(t: &mut TarIn<R>) -> Result<String> {
    let (first, size) = t.header()?.ok_or_else(|| bad("empty skeleton"))?;
    if first != ".ARCHIVE_INDEX" || size > MAX_INDEX {
        return Err(bad("skeleton does not start with the archive index"));
    }
    let mut index = Vec::new();
    t.body(size, &mut index)?;
    String::from_utf8(index).map_err(|_| bad("index is not UTF-8"))
}

/// One index line: path, kind (`d` or `f`), size.
pub(super) fn line_fields(line: &str) -> (&str, &str, &str) {
    let mut f = line.split('\t');
    (
        f.next().unwrap_or(""),
        f.next().unwrap_or(""),
        f.next().unwrap_or(""),
    )
}

/// Reassemble a `.mbz` from a verified manifest's parts. `open` opens one
/// part (by path or SHA-256). Every part's size and SHA-256 are checked as
/// it is read; on error discard `out` (write it to a temporary file).
pub fn assemble<F, W>(
    manifest: &TransportManifest,
    mut open: F,
    out: W,
    opts: &ExportOptions,
) -> Result<u64>
where
    F: FnMut(&ManifestPart) -> io::Result<Box<dyn Read>>,
    W: Write,
{
    let by_path: HashMap<&str, &ManifestPart> = manifest
        .parts
        .iter()
        .map(|p| (p.path.as_str(), p))
        .collect();
    let (index, mut skel) = if let Some(part) = by_path.get(INDEX_PART) {
        let mut t = load_part(part, &mut open)?;
        let index = read_index(&mut t)?;
        end_part(t, INDEX_PART)?;
        let mut last = HashMap::new();
        for (i, line) in index.lines().skip(1).enumerate() {
            let (path, kind, _) = line_fields(line);
            if kind != "d" && blob_name(path).is_none() {
                last.insert(part_for(path), i);
            }
        }
        let split = Skeleton::Split {
            last,
            open: HashMap::new(),
            used: HashSet::new(),
        };
        (index, split)
    } else {
        let part = by_path
            .get(SKELETON)
            .ok_or_else(|| bad("no skeleton part"))?;
        let mut t = TarIn {
            r: Verified::new(open(part)?, part.size),
        };
        let index = read_index(&mut t)?;
        (index, Skeleton::Single(t, part))
    };
    let mut gz = gzip_writer(out, opts)?;
    let mt = ustar::FIXED_MTIME;
    let pad = [0u8; 512];
    let isize = index.len() as u64;
    gz.write_all(&ustar::header(".ARCHIVE_INDEX", isize, false, mt)?)?;
    gz.write_all(index.as_bytes())?;
    gz.write_all(&pad[..ustar::padding(isize)])?;
    for (i, line) in index.lines().skip(1).enumerate() {
        let (path, kind, size) = line_fields(line);
        if kind == "d" {
            gz.write_all(&ustar::header(path, 0, true, mt)?)?;
            continue;
        }
        let size: u64 = size.parse().map_err(|_| bad("bad index line"))?;
        gz.write_all(&ustar::header(path, size, false, mt)?)?;
        if blob_name(path).is_some() {
            let part = by_path
                .get(path)
                .ok_or_else(|| bad(format!("no part for {path}")))?;
            if part.size != size {
                return Err(bad(format!("part {path} size differs from the index")));
            }
            let mut v = Verified::new(open(part)?, size);
            let n = io::copy(&mut v, &mut gz)?;
            if n != size {
                return Err(bad(format!("part {path} is shorter than listed")));
            }
            v.finish(part)?;
        } else {
            match &mut skel {
                Skeleton::Single(t, _) => t.entry_to(path, size, &mut gz)?,
                Skeleton::Split {
                    last,
                    open: o,
                    used,
                } => {
                    let group = part_for(path);
                    if !o.contains_key(&group) {
                        let part = by_path
                            .get(group.as_str())
                            .ok_or_else(|| bad(format!("no skeleton part for {path}")))?;
                        if !used.insert(group.clone()) {
                            return Err(bad(format!("skeleton part {group} is out of order")));
                        }
                        o.insert(group.clone(), load_part(part, &mut open)?);
                    }
                    let t = o.get_mut(&group).ok_or_else(|| bad("skeleton part"))?;
                    t.entry_to(path, size, &mut gz)?;
                    if last.get(&group) == Some(&i) {
                        if let Some(t) = o.remove(&group) {
                            end_part(t, &group)?;
                        }
                    }
                }
            }
        }
        gz.write_all(&pad[..ustar::padding(size)])?;
    }
    match skel {
        Skeleton::Single(t, part) => t.end()?.finish(part)?,
        Skeleton::Split { used, .. } => {
            let unused = manifest.parts.iter().find(|p| {
                p.path != INDEX_PART && is_skeleton_part(&p.path) && !used.contains(&p.path)
            });
            if let Some(p) = unused {
                return Err(bad(format!("skeleton part {} is not in the index", p.path)));
            }
        }
    }
    gz.write_all(&[0u8; 1024])?;
    Ok(gz.finish()?.1)
}

/// Calls `f(path, size, body)` for every entry of every skeleton part of `manifest` (either
/// form, `.ARCHIVE_INDEX` included), each part verified (size and SHA-256); blob parts are not
/// opened. `f` may leave part of a body unread.
pub fn for_each_skeleton_entry<F, G>(
    manifest: &TransportManifest,
    mut open: F,
    mut f: G,
) -> Result<()>
where
    F: FnMut(&ManifestPart) -> io::Result<Box<dyn Read>>,
    G: FnMut(&str, u64, &mut dyn Read) -> Result<()>,
{
    fn walk<R: Read>(
        t: &mut TarIn<R>,
        f: &mut dyn FnMut(&str, u64, &mut dyn Read) -> Result<()>,
    ) -> Result<()> {
        while let Some((path, size)) = peek(t)? {
            let mut body = (&mut t.r).take(size);
            f(&path, size, &mut body)?;
            io::copy(&mut body, &mut io::sink())?;
            if body.limit() != 0 {
                return Err(bad("a skeleton part is shorter than listed"));
            }
            let mut pad = [0u8; 512];
            t.r.read_exact(&mut pad[..ustar::padding(size)])
                .map_err(|_| bad("a skeleton part is shorter than listed"))?;
        }
        Ok(())
    }
    // Reads the next header; at the end block, reads the second zero block too.
    fn peek<R: Read>(t: &mut TarIn<R>) -> Result<Option<(String, u64)>> {
        match t.header()? {
            Some(h) => Ok(Some(h)),
            None => {
                let mut z = [0u8; 512];
                t.r.read_exact(&mut z)
                    .map_err(|_| bad("skeleton has a bad end"))?;
                Ok(None)
            }
        }
    }
    for part in manifest.parts.iter().filter(|p| is_skeleton_part(&p.path)) {
        if part.path == SKELETON {
            let mut t = TarIn {
                r: Verified::new(open(part)?, part.size),
            };
            walk(&mut t, &mut f)?;
            t.r.finish(part)?;
        } else {
            let mut t = load_part(part, &mut open)?;
            walk(&mut t, &mut f)?;
        }
    }
    Ok(())
}
