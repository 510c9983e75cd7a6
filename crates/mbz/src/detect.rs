//! Moodle's own format detection, and the §7 restore invariants, as checks.
//!
//! [`detect`] does what Moodle does before a restore: the first two bytes
//! choose tar.gz or zip, then the first 200 bytes of `moodle_backup.xml`
//! must contain the XML declaration, `<moodle_backup>` and `<information>`
//! literally. [`check_invariants`] goes further and checks what our writer
//! promises (mbz-format.md §7); tests use both to stand in for a restore.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use flate2::read::GzDecoder;
use serde::{Deserialize, Serialize};

use crate::container::{for_each_entry, ContainerKind};
use crate::error::{MbzError, Result};
use crate::limits::Limits;
use crate::xml;

/// What Moodle's detection concluded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Detection {
    /// Container chosen from the first two bytes.
    pub container: ContainerKind,
    /// `moodle2` when the 200-byte check passes, `unknown` otherwise.
    pub format: String,
}

/// Run Moodle's detection on the archive at `path`.
pub fn detect(path: &Path) -> Result<Detection> {
    let mut head: Option<Vec<u8>> = None;
    let container = for_each_entry(File::open(path)?, &Limits::default(), |meta, data| {
        if meta.path == "moodle_backup.xml" {
            let mut b = Vec::new();
            data.take(200).read_to_end(&mut b)?;
            head = Some(b);
        }
        Ok(())
    })?;
    let head = head.ok_or(MbzError::MissingManifest)?;
    Ok(Detection {
        container,
        format: if moodle2_head(&head) {
            "moodle2"
        } else {
            "unknown"
        }
        .into(),
    })
}

/// Moodle's check on the first 200 bytes of `moodle_backup.xml`.
pub(crate) fn moodle2_head(head: &[u8]) -> bool {
    let head = &head[..head.len().min(200)];
    let s = String::from_utf8_lossy(head);
    [
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>",
        "<moodle_backup>",
        "<information>",
    ]
    .iter()
    .all(|needle| s.contains(needle))
}

struct RawEntry {
    name: String,
    typeflag: u8,
    magic_ok: bool,
    size: u64,
    data: Option<Vec<u8>>,
}

fn octal(f: &[u8]) -> u64 {
    let s: String = f
        .iter()
        .take_while(|&&b| b != 0 && b != b' ')
        .map(|&b| b as char)
        .collect();
    u64::from_str_radix(s.trim(), 8).unwrap_or(u64::MAX)
}

/// Walk a tar.gz header by header (plain ustar only), keeping small files.
fn raw_tar(path: &Path) -> Result<Vec<RawEntry>> {
    let mut r = GzDecoder::new(BufReader::new(File::open(path)?));
    let mut out = Vec::new();
    let mut h = [0u8; 512];
    loop {
        r.read_exact(&mut h)
            .map_err(|e| MbzError::Corrupt(e.to_string()))?;
        if h.iter().all(|&b| b == 0) {
            break;
        }
        let cstr = |f: &[u8]| {
            String::from_utf8_lossy(&f[..f.iter().position(|&b| b == 0).unwrap_or(f.len())])
                .into_owned()
        };
        let (name, prefix) = (cstr(&h[..100]), cstr(&h[345..500]));
        let name = if prefix.is_empty() {
            name
        } else {
            format!("{prefix}/{name}")
        };
        let size = octal(&h[124..136]);
        let padded = size.div_ceil(512) * 512;
        let keep = name.ends_with(".xml") || name == ".ARCHIVE_INDEX" || name.starts_with("files/");
        let data = if keep && size < (64 << 20) {
            let mut d = vec![0u8; usize::try_from(padded).unwrap_or(0)];
            r.read_exact(&mut d)
                .map_err(|e| MbzError::Corrupt(e.to_string()))?;
            d.truncate(usize::try_from(size).unwrap_or(0));
            Some(d)
        } else {
            std::io::copy(&mut (&mut r).take(padded), &mut std::io::sink())?;
            None
        };
        out.push(RawEntry {
            name,
            typeflag: h[156],
            magic_ok: &h[257..263] == b"ustar\0" && &h[263..265] == b"00",
            size,
            data,
        });
    }
    Ok(out)
}

/// Check an archive our writer produced against mbz-format.md §7.
/// Returns the list of violations (empty = all invariants hold).
pub fn check_invariants(path: &Path) -> Result<Vec<String>> {
    let mut p = Vec::new();
    let mut f = File::open(path)?;
    let mut magic = [0u8; 2];
    f.read_exact(&mut magic)?;
    f.rewind()?;
    if magic != [0x1f, 0x8b] {
        return Ok(vec!["not gzip-compressed".into()]);
    }
    if detect(path)?.format != "moodle2" {
        p.push("Moodle's 200-byte detection fails".into());
    }
    let entries = raw_tar(path)?;
    let files: BTreeMap<&str, &RawEntry> = entries
        .iter()
        .filter(|e| e.typeflag == b'0')
        .map(|e| (e.name.as_str(), e))
        .collect();
    let text = |n: &str| {
        files
            .get(n)
            .and_then(|e| e.data.as_ref())
            .map(|d| String::from_utf8_lossy(d).into_owned())
    };
    let mut seen = BTreeSet::new();
    for e in &entries {
        if !e.magic_ok {
            p.push(format!("{}: not a plain ustar header", e.name));
        }
        if e.typeflag != b'0' && e.typeflag != b'5' {
            p.push(format!("{}: entry type {:?}", e.name, e.typeflag as char));
        }
        if !e.name.is_ascii() || e.name.starts_with("./") || e.name.starts_with('/') {
            p.push(format!("{}: bad entry name", e.name));
        }
        if !seen.insert(e.name.clone()) {
            p.push(format!("{}: stored twice", e.name));
        }
    }
    // The index: first, exact.
    match entries.first() {
        Some(e) if e.name == ".ARCHIVE_INDEX" => {
            let idx = text(".ARCHIVE_INDEX").unwrap_or_default();
            let mut lines = idx.lines();
            let head = lines.next().unwrap_or("");
            let rest: Vec<&str> = lines.collect();
            if head != format!("Moodle archive file index. Count: {}", entries.len() - 1) {
                p.push(format!(
                    "index header {head:?} does not match {} entries",
                    entries.len() - 1
                ));
            }
            for (line, e) in rest.iter().zip(&entries[1..]) {
                let want = if e.typeflag == b'5' {
                    format!("{}\td\t0\t?", e.name)
                } else {
                    format!("{}\tf\t{}\t", e.name, e.size)
                };
                if !line.starts_with(&want) {
                    p.push(format!(
                        "index line {line:?} does not match entry {}",
                        e.name
                    ));
                }
            }
            if rest.len() != entries.len() - 1 {
                p.push("index line count differs from the entries".into());
            }
        }
        _ => p.push(".ARCHIVE_INDEX is not the first entry".into()),
    }
    for req in [
        "moodle_backup.xml",
        "files.xml",
        "roles.xml",
        "groups.xml",
        "scales.xml",
        "outcomes.xml",
        "questions.xml",
        "course/course.xml",
        "course/roles.xml",
        "course/enrolments.xml",
        "course/inforef.xml",
    ] {
        if !files.contains_key(req) {
            p.push(format!("{req} is missing"));
        }
    }
    for (name, e) in &files {
        if let Some(sha) = name
            .strip_prefix("files/")
            .and_then(|r| r.split_once('/'))
            .map(|x| x.1)
        {
            if let Some(d) = &e.data {
                if crate::staging::sha1_hex(d) != sha {
                    p.push(format!("{name}: SHA-1 differs from its name"));
                }
            }
        }
        if name.ends_with(".xml") {
            if let Some(d) = &e.data {
                if !d.starts_with(xml::PROLOG.trim_end().as_bytes()) {
                    p.push(format!("{name}: does not start with the XML declaration"));
                }
            }
        }
    }
    let Some(mb) = text("moodle_backup.xml") else {
        return Ok(p);
    };
    let root = xml::parse(mb.as_bytes(), "moodle_backup.xml", 64)?;
    let info = root.child("information");
    let settings: BTreeMap<String, String> = info
        .and_then(|i| i.child("settings"))
        .map(|s| {
            s.elems()
                .map(|e| {
                    (
                        e.child_text("name").unwrap_or_default(),
                        e.child_text("value").unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    for s in ["users", "anonymize"] {
        if settings.get(s).map(String::as_str) != Some("0") {
            p.push(format!("root setting {s} is not 0"));
        }
    }
    if info
        .and_then(|i| i.at("details/detail/format"))
        .map(|e| e.text())
        .as_deref()
        != Some("moodle2")
    {
        p.push("details/detail/format is not moodle2".into());
    }
    let mut section_of: BTreeMap<String, String> = BTreeMap::new();
    if let Some(c) = info.and_then(|i| i.child("contents")) {
        for a in c.child("activities").into_iter().flat_map(|l| l.elems()) {
            let dir = a.child_text("directory").unwrap_or_default();
            let m = a.child_text("modulename").unwrap_or_default();
            for f in [
                "module.xml",
                &format!("{m}.xml"),
                "grades.xml",
                "roles.xml",
                "inforef.xml",
            ] {
                if !files.contains_key(format!("{dir}/{f}").as_str()) {
                    p.push(format!("{dir}/{f} is missing"));
                }
            }
            let base = dir.rsplit('/').next().unwrap_or("");
            for s in ["included", "userinfo"] {
                match settings.get(&format!("{base}_{s}")) {
                    None => p.push(format!("setting {base}_{s} is missing")),
                    Some(v) if s == "userinfo" && v != "0" => {
                        p.push(format!("setting {base}_userinfo is not 0"))
                    }
                    _ => {}
                }
            }
            section_of.insert(
                a.child_text("moduleid").unwrap_or_default(),
                a.child_text("sectionid").unwrap_or_default(),
            );
        }
        for s in c.child("sections").into_iter().flat_map(|l| l.elems()) {
            let dir = s.child_text("directory").unwrap_or_default();
            let Some(sx) = text(&format!("{dir}/section.xml")) else {
                p.push(format!("{dir}/section.xml is missing"));
                continue;
            };
            let sroot = xml::parse(sx.as_bytes(), &dir, 64)?;
            let sid = sroot.attr("id").unwrap_or_default().to_owned();
            for cm in sroot
                .child_text("sequence")
                .unwrap_or_default()
                .split(',')
                .filter(|x| !x.is_empty())
            {
                if let Some(owner) = section_of.get(cm) {
                    if *owner != sid {
                        p.push(format!(
                            "activity {cm} is in section {sid}'s sequence but says section {owner}"
                        ));
                    }
                }
            }
        }
    }
    Ok(p)
}
