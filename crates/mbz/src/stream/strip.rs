//! The import side of streamed parts: `files.xml` and `questions.xml` are
//! stripped record by record (the rules of [`crate::strip`]), the kept
//! records written to a new staged object as they go. The new object is
//! kept only when something was removed or changed; otherwise the part stays
//! the bytes the archive carried.

use std::collections::{HashMap, HashSet};
use std::io::{Read, Write};

use super::{checked, Records, Rewriter};
use crate::compact::Interner;
use crate::error::Result;
use crate::extract;
use crate::limits::Limits;
use crate::model::{FileRecord, PartRef, QuestionBank, Sha256Hex};
use crate::staging::{restage, StagingSink};
use crate::strip::{self, FileVerdict};
use crate::xml::Element;

/// What stripping `files.xml` found.
#[derive(Default)]
pub(crate) struct FilesOut {
    /// Ids of the removed (learner) records.
    pub dropped: HashSet<i64>,
    /// The kept records, in order, with their blob's SHA-256 when present.
    pub files: Vec<FileRecord>,
    /// Highest id in the part (removed records included).
    pub max_id: i64,
    /// `files_missing_in_backup` warnings.
    pub warnings: Vec<String>,
}

/// Stripped parts get a new [`PartRef`] (`None`: unchanged).
pub(crate) type Restaged<T> = (Option<PartRef>, T);

fn part_ref(r: Option<(String, u64)>) -> Option<PartRef> {
    r.map(|(sha256, size)| PartRef { sha256, size })
}

/// SHA-1 → SHA-256 of the blobs an archive carries.
pub(crate) trait BlobLookup {
    /// The SHA-256 of the blob with this SHA-1.
    fn sha256_of(&self, sha1: &[u8; 20]) -> Option<[u8; 32]>;
    /// Number of blobs (about the number of records to expect).
    fn count(&self) -> usize;
}

impl BlobLookup for HashMap<[u8; 20], [u8; 32]> {
    fn sha256_of(&self, sha1: &[u8; 20]) -> Option<[u8; 32]> {
        self.get(sha1).copied()
    }
    fn count(&self) -> usize {
        self.len()
    }
}

/// The same pairs sorted by SHA-1: 52 bytes a blob, a third less than the
/// map (the import holds it while the file records pile up).
pub(crate) struct SortedBlobs(Vec<([u8; 20], [u8; 32])>);

impl From<HashMap<[u8; 20], [u8; 32]>> for SortedBlobs {
    fn from(map: HashMap<[u8; 20], [u8; 32]>) -> Self {
        let mut v: Vec<_> = map.into_iter().collect();
        v.sort_unstable_by_key(|e| e.0);
        SortedBlobs(v)
    }
}

impl BlobLookup for SortedBlobs {
    fn sha256_of(&self, sha1: &[u8; 20]) -> Option<[u8; 32]> {
        let i = self.0.binary_search_by(|e| e.0.cmp(sha1)).ok()?;
        Some(self.0[i].1)
    }
    fn count(&self) -> usize {
        self.0.len()
    }
}

/// Strip `files.xml` (staged as `part`); `blobs` gives each staged blob's
/// SHA-256 by its SHA-1.
pub(crate) fn files<S: StagingSink>(
    sink: &mut S,
    part: &PartRef,
    limits: &Limits,
    blobs: &impl BlobLookup,
) -> Result<Restaged<FilesOut>> {
    let (new, out) = restage(sink, &part.sha256, |input, w| {
        strip_files(input, w, limits, blobs)
    })?;
    Ok((part_ref(new), out))
}

fn strip_files(
    input: Box<dyn Read + '_>,
    w: &mut dyn Write,
    limits: &Limits,
    blobs: &impl BlobLookup,
) -> Result<(bool, FilesOut)> {
    // One allocation for the records (most archives have about one per
    // blob), not a series of ever larger copies left behind in the heap.
    let mut out = FilesOut {
        files: Vec::with_capacity(blobs.count()),
        ..FilesOut::default()
    };
    let mut recs = Records::open(checked(input), "files.xml", limits)?;
    out.max_id = extract::max_id(&recs.root);
    let mut rw = Rewriter::new(w, &recs.root)?;
    let mut changed = false;
    let mut strings = Interner::default();
    while let Some((text, rec)) = recs.next_step()? {
        rw.text(text);
        let Some(mut rec) = rec else { continue };
        out.max_id = out.max_id.max(extract::max_id(&rec));
        match strip::strip_file_record(&mut rec) {
            FileVerdict::Drop(id) => {
                changed = true;
                out.dropped.extend(id);
                rw.drop_merged();
                continue;
            }
            FileVerdict::Keep(c) => changed |= c,
        }
        rw.keep(&rec)?;
        if rec.name == "file" {
            let mut f = extract::file_record(&rec, &mut strings);
            if f.filename != "." && f.contenthash != crate::EMPTY_SHA1 {
                match f.contenthash.bytes().and_then(|k| blobs.sha256_of(k)) {
                    Some(sha256) => f.sha256 = Some(Sha256Hex::from_bytes(sha256)),
                    None => out.warnings.push(format!(
                        "file_missing_in_backup: {}{} ({})",
                        f.filepath, f.filename, f.contenthash
                    )),
                }
            }
            out.files.push(f);
        }
    }
    rw.finish(false)?;
    Ok((changed, out))
}

/// A lower-case hex SHA-1 as bytes.
pub(crate) fn sha1_key(hex_sha1: &str) -> Option<[u8; 20]> {
    let mut k = [0u8; 20];
    hex::decode_to_slice(hex_sha1, &mut k).ok()?;
    Some(k)
}

/// What stripping `questions.xml` found.
#[derive(Default)]
pub(crate) struct QuestionsOut {
    /// Category and question counts (after stripping).
    pub bank: QuestionBank,
    /// Records removed.
    pub removed: u64,
    /// Highest id in the part (before stripping).
    pub max_id: i64,
}

/// Strip `questions.xml` (staged as `part`).
pub(crate) fn questions<S: StagingSink>(
    sink: &mut S,
    part: &PartRef,
    limits: &Limits,
) -> Result<Restaged<QuestionsOut>> {
    let (new, out) = restage(sink, &part.sha256, |input, w| {
        strip_questions(input, w, limits)
    })?;
    Ok((part_ref(new), out))
}

fn strip_questions(
    input: Box<dyn Read + '_>,
    w: &mut dyn Write,
    limits: &Limits,
) -> Result<(bool, QuestionsOut)> {
    let mut out = QuestionsOut::default();
    let mut recs = Records::open(checked(input), "questions.xml", limits)?;
    out.max_id = extract::max_id(&recs.root);
    let root_container = strip::root_is_container(&recs.root.name);
    let root_name = recs.root.name.clone();
    let mut rw = Rewriter::new(w, &recs.root)?;
    while let Some((text, rec)) = recs.next_step()? {
        rw.text(text);
        let Some(mut rec) = rec else { continue };
        out.max_id = out.max_id.max(extract::max_id(&rec));
        if root_container {
            out.removed += 1;
            rw.drop_merged();
            continue;
        }
        match strip::strip_record(&mut rec) {
            None => out.removed += 1,
            Some(n) => {
                out.removed += n;
                count(&rec, &root_name, &mut out.bank);
                rw.keep(&rec)?;
            }
        }
    }
    rw.finish(root_container)?;
    Ok((out.removed > 0, out))
}

/// Question categories anywhere and `question`s directly in a `questions`
/// element, as `extract::question_counts` counts them over a whole tree.
fn count(rec: &Element, parent: &str, bank: &mut QuestionBank) {
    if rec.name == "question_category" {
        bank.categories += 1;
    }
    if rec.name == "question" && parent == "questions" {
        bank.questions += 1;
    }
    for c in rec.elems() {
        count(c, &rec.name, bank);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::for_each_entry;
    use crate::xml;

    /// Every fixture's `files.xml` and `questions.xml`: the streamed strip
    /// gives the bytes, ids and counts the tree strip gives.
    #[test]
    fn streamed_strip_matches_the_tree_strip_on_every_fixture() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/mbz");
        let mut seen = 0;
        let mut changed_files = 0;
        for f in std::fs::read_dir(dir).unwrap() {
            let p = f.unwrap().path();
            if p.extension().is_none_or(|e| e != "mbz") {
                continue;
            }
            let limits = Limits::default();
            for_each_entry(std::fs::File::open(&p).unwrap(), &limits, |meta, data| {
                if meta.path != "files.xml" && meta.path != "questions.xml" {
                    return Ok(());
                }
                let mut bytes = Vec::new();
                data.read_to_end(&mut bytes)?;
                let mut tree = xml::parse(&bytes, &meta.path, 64)?;
                let before = tree.digest();
                let mut out = Vec::new();
                if meta.path == "files.xml" {
                    let dropped = strip::strip_files(&mut tree);
                    let (changed, fo) =
                        strip_files(Box::new(&bytes[..]), &mut out, &limits, &HashMap::new())?;
                    assert_eq!(changed, before != tree.digest(), "{}", p.display());
                    assert_eq!(fo.dropped, dropped);
                    assert_eq!(fo.max_id, extract::max_id(&xml::parse(&bytes, "f", 64)?));
                    let kept = tree.elems().filter(|e| e.name == "file").count();
                    assert_eq!(fo.files.len(), kept);
                    changed_files += usize::from(changed);
                } else {
                    let n = strip::strip_part("questions.xml", &mut tree, &HashSet::new());
                    let (changed, qo) = strip_questions(Box::new(&bytes[..]), &mut out, &limits)?;
                    assert_eq!(qo.removed, n);
                    assert_eq!(changed, before != tree.digest(), "{}", p.display());
                    let (c, q) = extract::question_counts(&tree);
                    assert_eq!((qo.bank.categories, qo.bank.questions), (c, q));
                }
                assert_eq!(
                    String::from_utf8(out).unwrap(),
                    String::from_utf8(tree.to_moodle_xml()).unwrap(),
                    "{} {}",
                    p.display(),
                    meta.path
                );
                seen += 1;
                Ok(())
            })
            .unwrap();
        }
        assert!(seen >= 20, "{seen}");
        assert!(changed_files >= 1, "some fixture carries learner files");
    }
}
