//! Hostile archives, built here byte by byte, and a seeded fuzz loop.
//! Each case asserts the specific error and that nothing was left in the
//! staging area or written anywhere else in the scratch root.

use std::io::{Cursor, Write};
use std::path::Path;

use pf_mbz::*;

const MANIFEST: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<moodle_backup>\n  <information>\n    <name>t.mbz</name>\n    <backup_version>2022112800</backup_version>\n    <original_course_id>2</original_course_id>\n    <details>\n      <detail backup_id=\"x\">\n        <type>course</type>\n        <format>moodle2</format>\n        <mode>10</mode>\n      </detail>\n    </details>\n    <contents>\n      <course>\n        <courseid>2</courseid>\n        <title>T</title>\n        <directory>course</directory>\n      </course>\n    </contents>\n    <settings>\n    </settings>\n  </information>\n</moodle_backup>";
const COURSE: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<course id=\"2\" contextid=\"20\">\n  <shortname>T</shortname>\n  <fullname>Test</fullname>\n  <visible>1</visible>\n</course>";
const FILES: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<files>\n</files>";

fn base_parts() -> Vec<(Vec<u8>, u8, Vec<u8>)> {
    vec![
        (
            b"moodle_backup.xml".to_vec(),
            b'0',
            MANIFEST.as_bytes().to_vec(),
        ),
        (b"files.xml".to_vec(), b'0', FILES.as_bytes().to_vec()),
        (
            b"course/course.xml".to_vec(),
            b'0',
            COURSE.as_bytes().to_vec(),
        ),
    ]
}

fn header(name: &[u8], typeflag: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    h[..name.len()].copy_from_slice(name);
    h[100..108].copy_from_slice(b"0000644\0");
    h[108..116].copy_from_slice(b"0000000\0");
    h[116..124].copy_from_slice(b"0000000\0");
    h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
    h[136..148].copy_from_slice(b"00000000000\0");
    h[156] = typeflag;
    h[157..157 + link.len()].copy_from_slice(link);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].fill(b' ');
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    h
}

fn tar(entries: &[(Vec<u8>, u8, Vec<u8>)]) -> Vec<u8> {
    let mut t = Vec::new();
    for (name, tf, data) in entries {
        let link: &[u8] = if matches!(tf, b'1' | b'2') {
            b"/etc/passwd"
        } else {
            b""
        };
        t.extend_from_slice(&header(name, *tf, data.len() as u64, link));
        t.extend_from_slice(data);
        t.resize(t.len().div_ceil(512) * 512, 0);
    }
    t.extend_from_slice(&[0u8; 1024]);
    t
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn tgz(extra: Vec<(Vec<u8>, u8, Vec<u8>)>) -> Vec<u8> {
    let mut all = base_parts();
    all.extend(extra);
    gz(&tar(&all))
}

fn zip(entries: &[(&str, Option<u32>, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (name, mode, data) in entries {
        let mut o = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated);
        if let Some(m) = mode {
            o = o.unix_permissions(*m);
        }
        if mode.is_some_and(|m| m & 0o170000 == 0o120000) {
            w.add_symlink(*name, "/etc/passwd", o).unwrap();
        } else {
            w.start_file(*name, o).unwrap();
            w.write_all(data).unwrap();
        }
    }
    w.finish().unwrap().into_inner()
}

/// Import `bytes` in a fresh scratch root; check nothing is left behind.
fn run_with(bytes: Vec<u8>, limits: &Limits) -> Result<ImportedArchive, MbzError> {
    let root = tempfile::tempdir().unwrap();
    let scratch = root.path().join("scratch");
    let mut st = DirStaging::new(&scratch).unwrap();
    let res = import(Cursor::new(bytes), limits, &mut st);
    let top: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        top,
        vec![std::ffi::OsString::from("scratch")],
        "something was written outside scratch"
    );
    if res.is_err() {
        assert_empty(&scratch);
    }
    res
}

fn run(bytes: Vec<u8>) -> Result<ImportedArchive, MbzError> {
    run_with(bytes, &Limits::default())
}

fn assert_empty(dir: &Path) {
    let left: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "staging not cleaned: {left:?}");
}

#[test]
fn the_minimal_archive_is_fine() {
    let a = run(tgz(vec![])).unwrap();
    assert_eq!(a.course.fields.shortname, "T");
}

#[test]
fn traversal_is_refused() {
    let e = run(tgz(vec![(
        b"../evil.xml".to_vec(),
        b'0',
        b"<a></a>".to_vec(),
    )]))
    .unwrap_err();
    assert!(
        matches!(e, MbzError::UnsafePath { reason, .. } if reason.contains("parent")),
        "{e}"
    );
    let e = run(tgz(vec![(
        b"course/../../evil".to_vec(),
        b'0',
        b"x".to_vec(),
    )]))
    .unwrap_err();
    assert!(matches!(e, MbzError::UnsafePath { .. }), "{e}");
}

#[test]
fn absolute_paths_are_refused() {
    let e = run(tgz(vec![(b"/tmp/evil".to_vec(), b'0', b"x".to_vec())])).unwrap_err();
    assert!(
        matches!(
            e,
            MbzError::UnsafePath {
                reason: "absolute path",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn drive_letters_are_refused() {
    let e = run(tgz(vec![(b"C:/evil".to_vec(), b'0', b"x".to_vec())])).unwrap_err();
    assert!(matches!(e, MbzError::UnsafePath { .. }), "{e}");
}

#[test]
fn backslashes_are_refused() {
    let e = run(tgz(vec![(b"..\\evil".to_vec(), b'0', b"x".to_vec())])).unwrap_err();
    assert!(
        matches!(
            e,
            MbzError::UnsafePath {
                reason: "backslash in path",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn symlinks_are_refused() {
    let e = run(tgz(vec![(b"files/link".to_vec(), b'2', Vec::new())])).unwrap_err();
    assert!(
        matches!(
            e,
            MbzError::ForbiddenEntryType {
                kind: "symbolic link",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn hard_links_are_refused() {
    let e = run(tgz(vec![(b"files/link".to_vec(), b'1', Vec::new())])).unwrap_err();
    assert!(
        matches!(
            e,
            MbzError::ForbiddenEntryType {
                kind: "hard link",
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn devices_and_fifos_are_refused() {
    for (tf, kind) in [
        (b'3', "character device"),
        (b'4', "block device"),
        (b'6', "fifo"),
    ] {
        let e = run(tgz(vec![(b"dev".to_vec(), tf, Vec::new())])).unwrap_err();
        assert!(
            matches!(e, MbzError::ForbiddenEntryType { kind: k, .. } if k == kind),
            "{e}"
        );
    }
}

#[test]
fn zip_symlinks_and_traversal_are_refused() {
    let ok: Vec<(&str, Option<u32>, &[u8])> = vec![
        ("moodle_backup.xml", None, MANIFEST.as_bytes()),
        ("files.xml", None, FILES.as_bytes()),
        ("course/course.xml", None, COURSE.as_bytes()),
    ];
    assert!(run(zip(&ok)).is_ok());
    let mut bad = ok.clone();
    bad.push(("evil", Some(0o120777), b""));
    let e = run(zip(&bad)).unwrap_err();
    assert!(
        matches!(
            e,
            MbzError::ForbiddenEntryType {
                kind: "symbolic link",
                ..
            }
        ),
        "{e}"
    );
    let mut bad = ok.clone();
    bad.push(("../evil", None, b"x"));
    let e = run(zip(&bad)).unwrap_err();
    assert!(matches!(e, MbzError::UnsafePath { .. }), "{e}");
}

#[test]
fn decompression_bombs_are_refused() {
    let zeros = vec![0u8; 8 << 20];
    let limits = Limits {
        bomb_threshold_bytes: 1 << 20,
        ..Limits::default()
    };
    let e = run_with(
        tgz(vec![(b"course/big.bin".to_vec(), b'0', zeros.clone())]),
        &limits,
    )
    .unwrap_err();
    assert!(matches!(e, MbzError::Bomb { .. }), "{e}");
    // The absolute cap applies whatever the ratio.
    let limits = Limits {
        max_total_bytes: 1 << 20,
        ..Limits::default()
    };
    let e = run_with(
        tgz(vec![(b"course/big.bin".to_vec(), b'0', zeros.clone())]),
        &limits,
    )
    .unwrap_err();
    assert!(matches!(e, MbzError::Bomb { .. }), "{e}");
    // Zip bombs too.
    let limits = Limits {
        bomb_threshold_bytes: 1 << 20,
        ..Limits::default()
    };
    let z = zip(&[
        ("moodle_backup.xml", None, MANIFEST.as_bytes()),
        ("files/big", None, &zeros),
    ]);
    let e = run_with(z, &limits).unwrap_err();
    assert!(matches!(e, MbzError::Bomb { .. }), "{e}");
}

fn with_manifest(xml: &str) -> Vec<u8> {
    let mut all = base_parts();
    all[0].2 = xml.as_bytes().to_vec();
    gz(&tar(&all))
}

#[test]
fn entity_expansion_is_refused() {
    let lol = "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;\">]>\n<moodle_backup><information>&lol2;</information></moodle_backup>";
    let e = run(with_manifest(lol)).unwrap_err();
    assert!(
        matches!(&e, MbzError::Xml { reason, .. } if reason.contains("DOCTYPE")),
        "{e}"
    );
}

#[test]
fn external_entities_are_refused() {
    let xxe = "<?xml version=\"1.0\"?>\n<!DOCTYPE m [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>\n<moodle_backup><information>&x;</information></moodle_backup>";
    let e = run(with_manifest(xxe)).unwrap_err();
    assert!(
        matches!(&e, MbzError::Xml { reason, .. } if reason.contains("DOCTYPE")),
        "{e}"
    );
    // An undeclared entity is refused too.
    let e = run(with_manifest(
        "<moodle_backup><information>&x;</information></moodle_backup>",
    ))
    .unwrap_err();
    assert!(matches!(&e, MbzError::Xml { .. }), "{e}");
}

#[test]
fn absurd_nesting_is_refused() {
    let deep = format!(
        "<moodle_backup>{}{}</moodle_backup>",
        "<a>".repeat(10_000),
        "</a>".repeat(10_000)
    );
    let e = run(with_manifest(&deep)).unwrap_err();
    assert!(
        matches!(&e, MbzError::Xml { reason, .. } if reason.contains("nesting")),
        "{e}"
    );
}

#[test]
fn invalid_utf8_names_are_refused() {
    let e = run(tgz(vec![(
        b"course/\xff\xfe.xml".to_vec(),
        b'0',
        b"<a></a>".to_vec(),
    )]))
    .unwrap_err();
    assert!(matches!(e, MbzError::InvalidName(_)), "{e}");
}

#[test]
fn truncated_gzip_is_refused() {
    let full = tgz(vec![(b"course/x.bin".to_vec(), b'0', vec![7u8; 100_000])]);
    for cut in [full.len() - 4, full.len() / 2, 20] {
        let e = run(full[..cut].to_vec()).unwrap_err();
        assert!(
            matches!(e, MbzError::Corrupt(_) | MbzError::TruncatedEntry(_)),
            "cut {cut}: {e}"
        );
    }
}

#[test]
fn truncated_zip_is_refused() {
    let z = zip(&[
        ("moodle_backup.xml", None, MANIFEST.as_bytes()),
        ("files.xml", None, FILES.as_bytes()),
    ]);
    let e = run(z[..z.len() - 30].to_vec()).unwrap_err();
    assert!(matches!(e, MbzError::Corrupt(_)), "{e}");
}

#[test]
fn a_header_promising_more_bytes_is_refused() {
    let mut t = tar(&base_parts());
    t.truncate(t.len() - 1024);
    t.extend_from_slice(&header(b"course/liar.bin", b'0', 100_000, b""));
    t.extend_from_slice(&[1u8; 512]);
    let e = run(gz(&t)).unwrap_err();
    assert!(
        matches!(e, MbzError::TruncatedEntry(ref p) if p == "course/liar.bin"),
        "{e}"
    );
}

#[test]
fn a_missing_manifest_is_refused() {
    let mut all = base_parts();
    all.remove(0);
    let e = run(gz(&tar(&all))).unwrap_err();
    assert!(matches!(e, MbzError::MissingManifest), "{e}");
}

#[test]
fn duplicate_entries_are_refused() {
    let e = run(tgz(vec![(
        b"files.xml".to_vec(),
        b'0',
        FILES.as_bytes().to_vec(),
    )]))
    .unwrap_err();
    assert!(
        matches!(e, MbzError::DuplicateEntry(ref p) if p == "files.xml"),
        "{e}"
    );
    let e = run(tgz(vec![(
        b"./files.xml".to_vec(),
        b'0',
        FILES.as_bytes().to_vec(),
    )]))
    .unwrap_err();
    assert!(matches!(e, MbzError::DuplicateEntry(_)), "{e}");
}

#[test]
fn a_blob_with_the_wrong_sha1_is_refused() {
    let name = b"files/aa/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".to_vec();
    let e = run(tgz(vec![(name, b'0', b"not that".to_vec())])).unwrap_err();
    assert!(matches!(e, MbzError::BlobHashMismatch { .. }), "{e}");
}

#[test]
fn a_missing_blob_is_a_warning() {
    let files = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<files>\n  <file id=\"5\">\n    <contenthash>0123456789abcdef0123456789abcdef01234567</contenthash>\n    <contextid>20</contextid>\n    <component>course</component>\n    <filearea>summary</filearea>\n    <itemid>0</itemid>\n    <filepath>/</filepath>\n    <filename>a.png</filename>\n    <userid>$@NULL@$</userid>\n    <filesize>3</filesize>\n  </file>\n</files>";
    let mut all = base_parts();
    all[1].2 = files.as_bytes().to_vec();
    let a = run(gz(&tar(&all))).unwrap();
    assert_eq!(a.warnings.len(), 1, "{:?}", a.warnings);
    assert!(a.warnings[0].contains("file_missing_in_backup"));
    assert_eq!(a.course.files.len(), 1);
}

#[test]
fn fuzzed_archives_never_panic_or_escape() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/fixtures/mbz");
    let mut seeds: Vec<Vec<u8>> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.extension().is_some_and(|e| e == "mbz")
                && std::fs::metadata(p).unwrap().len() < 64_000
        })
        .map(|p| std::fs::read(p).unwrap())
        .collect();
    seeds.push(tgz(vec![]));
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let start = std::time::Instant::now();
    let mut runs = 0;
    while start.elapsed() < std::time::Duration::from_secs(4) || runs < 50 {
        let seed = &seeds[(rnd() % seeds.len() as u64) as usize];
        let mut b = seed.clone();
        match rnd() % 4 {
            0 => {
                for _ in 0..1 + rnd() % 8 {
                    let i = (rnd() % b.len() as u64) as usize;
                    b[i] ^= 1 << (rnd() % 8);
                }
            }
            1 => b.truncate((rnd() % b.len() as u64) as usize),
            2 => {
                let n = (rnd() % 2048) as usize;
                b = (0..n).map(|_| rnd() as u8).collect();
            }
            _ => {
                // Flip bits inside the decompressed tar and recompress, to
                // reach the tar and XML layers past the gzip CRC.
                if seed[..2] == [0x1f, 0x8b] {
                    let mut raw = Vec::new();
                    use std::io::Read;
                    if flate2::read::GzDecoder::new(&seed[..])
                        .read_to_end(&mut raw)
                        .is_ok()
                        && !raw.is_empty()
                    {
                        for _ in 0..1 + rnd() % 4 {
                            let i = (rnd() % raw.len() as u64) as usize;
                            raw[i] = rnd() as u8;
                        }
                        b = gz(&raw);
                    }
                }
            }
        }
        let _ = run(b.clone());
        let _ = scan(Cursor::new(b), &Limits::default());
        runs += 1;
    }
    assert!(runs >= 50);
}
