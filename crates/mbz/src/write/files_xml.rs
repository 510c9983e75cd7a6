//! `files.xml` of an export, written record by record.
//!
//! The preserved `files.xml` keeps the records of the files the course still
//! has (in their order, whitespace as it was), native files are appended as
//! Moodle writes them, and a part left without records holds one newline:
//! the same bytes the tree edit `patch`-style would give, without holding
//! the part in memory. The writer runs it twice — once into a
//! [`Counter`] to size the tar entry, once into the archive — which gives the
//! same bytes both times since the inputs do not change in between.

use std::collections::HashSet;
use std::io::Write;

use super::native;
use super::plan::Resolved;
use crate::error::{MbzError, Result};
use crate::limits::Limits;
use crate::staging::BlobSource;
use crate::stream::{checked, Counter, Records, Rewriter};
use crate::xml::Element;

/// Write the export's `files.xml` from the preserved part `base` (its
/// SHA-256; `None` when there is none) to `out`. Returns whether it differs
/// from `base` (always `true` without a base).
pub(crate) fn write<B: BlobSource, W: Write>(
    r: &Resolved<'_>,
    base: Option<&str>,
    blobs: &B,
    out: W,
) -> Result<bool> {
    let natives = r.files.iter().filter(|f| f.native);
    let mut changed = base.is_none();
    let mut rw = match base {
        None => Rewriter::new(out, &Element::new("files"))?,
        Some(sha) => {
            let keep: HashSet<i64> = r.files.iter().filter(|f| !f.native).map(|f| f.id).collect();
            let input = blobs
                .open_blob(sha)
                .map_err(|_| MbzError::MissingBlob(sha.to_owned()))?;
            let limits = Limits {
                max_xml_depth: 256,
                ..Limits::default()
            };
            let mut recs = Records::open(checked(input), "files.xml", &limits)?;
            let mut rw = Rewriter::new(out, &recs.root)?;
            while let Some((text, rec)) = recs.next_step()? {
                rw.text(text);
                let Some(rec) = rec else { continue };
                let kept = rec.name != "file"
                    || rec
                        .attr("id")
                        .and_then(|v| v.parse().ok())
                        .is_some_and(|id| keep.contains(&id));
                if kept {
                    rw.keep(&rec)?;
                } else {
                    changed = true;
                }
            }
            rw
        }
    };
    for rf in natives {
        let rec = &r.course.course.files[rf.idx];
        rw.append(
            &rf.sha1
                .with_str(|s| native::file_elem(rec, rf.id, rf.ctx, s)),
        )?;
        changed = true;
    }
    rw.finish(true)?;
    Ok(changed)
}

/// Size of the output of [`write()`] and whether it differs from `base`.
pub(crate) fn size<B: BlobSource>(
    r: &Resolved<'_>,
    base: Option<&str>,
    blobs: &B,
) -> Result<(bool, u64)> {
    let mut c = Counter::default();
    let changed = write(r, base, blobs, &mut c)?;
    Ok((changed, c.0))
}

/// Write the entry body (sized earlier by [`size`]) to `out`.
pub(crate) fn write_sized<B: BlobSource, W: Write>(
    r: &Resolved<'_>,
    base: Option<&str>,
    blobs: &B,
    out: W,
    size: u64,
) -> Result<()> {
    let mut c = CountingWriter::new(out);
    write(r, base, blobs, &mut c)?;
    if c.n != size {
        return Err(MbzError::Export(format!(
            "files.xml came out as {} bytes, {size} expected",
            c.n
        )));
    }
    Ok(())
}

/// Passes bytes through, counting them.
pub(crate) struct CountingWriter<W> {
    inner: W,
    pub n: u64,
}

impl<W> CountingWriter<W> {
    pub(crate) fn new(inner: W) -> Self {
        CountingWriter { inner, n: 0 }
    }
}

impl<W: Write> Write for CountingWriter<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        let k = self.inner.write(b)?;
        self.n += k as u64;
        Ok(k)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{ExportCourse, FileRecord};
    use crate::staging::{sha256_hex, stage_bytes, DirStaging};
    use crate::write::plan::{read_all, resolve};
    use crate::xml::{self, Node};

    /// The tree edit the streamed writer replaces (the reference).
    fn tree_files(root: &mut Element, r: &Resolved<'_>) {
        let keep: HashSet<i64> = r.files.iter().filter(|f| !f.native).map(|f| f.id).collect();
        root.children.retain(|n| match n {
            Node::Elem(f) if f.name == "file" => f
                .attr("id")
                .and_then(|v| v.parse().ok())
                .is_some_and(|id| keep.contains(&id)),
            _ => true,
        });
        for rf in r.files.iter().filter(|f| f.native) {
            let rec = &r.course.course.files[rf.idx];
            root.push_indented(
                rf.sha1
                    .with_str(|s| native::file_elem(rec, rf.id, rf.ctx, s)),
                0,
            );
        }
        if root.elems().next().is_none() {
            root.children = vec![Node::Text("\n".into())];
        }
    }

    fn native(sha256: &str) -> FileRecord {
        FileRecord {
            id: None,
            contenthash: Default::default(),
            sha256: Some(sha256.into()),
            size: 5,
            filename: "n.txt".into(),
            filepath: "/".into(),
            mimetype: Some("text/plain".into()),
            component: "course".into(),
            filearea: "summary".into(),
            contextid: None,
            itemid: 0,
            author: None,
            license: None,
            timecreated: 0,
            timemodified: 0,
            owner: None,
        }
    }

    #[test]
    fn streamed_files_xml_matches_the_tree_edit_on_every_fixture() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/mbz");
        let mut n = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_none_or(|e| e != "mbz") {
                continue;
            }
            let tmp = tempfile::tempdir().unwrap();
            let mut stage = DirStaging::new(tmp.path()).unwrap();
            let imported = crate::import_file(&p, &Limits::default(), &mut stage).unwrap();
            let sha = stage_bytes(&mut stage, b"hello").unwrap().sha256;
            assert_eq!(sha, sha256_hex(b"hello"));
            let base = imported.base.parts["files.xml"].sha256.clone();
            // Unchanged, every other record removed, natives added, all removed.
            for edit in 0..4 {
                let mut c = ExportCourse::from(imported.clone());
                let files = &mut c.course.files;
                match edit {
                    0 => {}
                    1 => *files = files.iter().step_by(2).cloned().collect(),
                    2 => files.extend([native(&sha), native(&sha)]),
                    _ => files.clear(),
                }
                let r = resolve(&c, &stage).unwrap();
                let mut tree = xml::parse(&read_all(&stage, &base).unwrap(), "f", 256).unwrap();
                let before = tree.digest();
                tree_files(&mut tree, &r);
                let mut got = Vec::new();
                let changed = write(&r, Some(&base), &stage, &mut got).unwrap();
                assert_eq!(
                    changed,
                    before != tree.digest(),
                    "{} edit {edit}",
                    p.display()
                );
                if changed {
                    assert_eq!(
                        String::from_utf8(got.clone()).unwrap(),
                        String::from_utf8(tree.to_moodle_xml()).unwrap()
                    );
                }
                assert_eq!(size(&r, Some(&base), &stage).unwrap().1, got.len() as u64);
                // Without a preserved part: a fresh files.xml.
                let mut fresh = Element::new("files");
                tree_files(&mut fresh, &r);
                let mut got = Vec::new();
                assert!(write(&r, None, &stage, &mut got).unwrap());
                assert_eq!(got, fresh.to_moodle_xml());
                n += 1;
            }
        }
        assert!(n >= 14 * 4);
    }
}
