//! The blob store: atomic content-addressed writes, verified reads, promotion, garbage collection.

use crate::harness::{course, each_backend};
use pf_store::blob::{open_store, sha256_of, BlobStore, LocalBlobStore, GC_MIN_AGE};
use pf_store::{NewFile, StoreError};
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const ABC: &str = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn read_all(store: &dyn BlobStore, key: &str) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    store.open(key).unwrap().read_to_end(&mut out)?;
    Ok(out)
}

fn age(path: &Path, by: Duration) {
    File::options()
        .append(true)
        .open(path)
        .unwrap()
        .set_modified(SystemTime::now() - by)
        .unwrap();
}

fn blob_path(root: &Path, key: &str) -> std::path::PathBuf {
    root.join(&key[..2]).join(&key[2..4]).join(key)
}

#[test]
fn blobs_are_stored_by_sha256_privately() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("blobs");
    let store = LocalBlobStore::open(&root).unwrap();
    let r = store.put(&mut &b"abc"[..]).unwrap();
    assert_eq!((r.sha256.as_str(), r.size), (ABC, 3));
    assert_eq!(store.put(&mut io::empty()).unwrap().sha256, EMPTY);
    assert_eq!(
        store.put(&mut &b"abc"[..]).unwrap(),
        r,
        "same content, same key"
    );
    assert_eq!(read_all(&store, ABC).unwrap(), b"abc");
    assert_eq!(read_all(&store, EMPTY).unwrap(), b"");
    assert!(store.contains(ABC).unwrap());
    assert_eq!(store.size(ABC).unwrap(), 3);

    let path = blob_path(&root, ABC);
    assert!(path.is_file());
    assert_eq!(mode(&path), 0o600);
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(path.parent().unwrap()), 0o700);
    assert_eq!(mode(&store.staging_dir()), 0o700);
    assert_eq!(
        fs::read_dir(store.staging_dir()).unwrap().count(),
        0,
        "no temporary file left"
    );
    let keys: Vec<_> = store
        .list()
        .unwrap()
        .into_iter()
        .map(|b| b.sha256)
        .collect();
    assert_eq!(keys, vec![ABC.to_string(), EMPTY.to_string()]);

    let missing = "0".repeat(64);
    assert!(matches!(
        store.open(&missing),
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        store.size(&missing),
        Err(StoreError::NotFound { .. })
    ));
    assert!(!store.contains(&missing).unwrap());
    for bad in ["../../etc/passwd", "ABC", &ABC.to_uppercase(), &ABC[..63]] {
        assert!(
            matches!(store.open(bad), Err(StoreError::Invalid(_))),
            "{bad}"
        );
        assert!(
            matches!(store.contains(bad), Err(StoreError::Invalid(_))),
            "{bad}"
        );
    }
    assert!(store.delete(ABC).unwrap());
    assert!(!store.delete(ABC).unwrap());
    assert!(!store.contains(ABC).unwrap());
}

#[test]
fn large_blobs_stream_through() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let data: Vec<u8> = (0..3_000_000_u32).map(|i| (i % 251) as u8).collect();
    let r = store.put(&mut &data[..]).unwrap();
    assert_eq!(r.size, data.len() as u64);
    assert_eq!(r, sha256_of(&mut &data[..]).unwrap());
    assert_eq!(read_all(&store, &r.sha256).unwrap(), data);
}

#[test]
fn a_corrupted_blob_is_never_served_silently() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let r = store.put(&mut &b"the original content"[..]).unwrap();
    let path = blob_path(dir.path(), &r.sha256);
    fs::write(&path, b"the 0riginal content").unwrap();
    let err = read_all(&store, &r.sha256).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData);
    assert!(err.to_string().contains(&r.sha256));

    fs::write(&path, b"the original").unwrap();
    assert_eq!(
        read_all(&store, &r.sha256).unwrap_err().kind(),
        io::ErrorKind::InvalidData,
        "truncated"
    );

    // Errors stick: a caller that ignores one cannot read on to a clean end.
    let mut reader = store.open(&r.sha256).unwrap();
    let mut sink = Vec::new();
    assert!(reader.read_to_end(&mut sink).is_err());
    assert!(reader.read(&mut [0; 8]).is_err());

    // Writing the content again repairs it.
    store.put(&mut &b"the original content"[..]).unwrap();
    assert_eq!(
        read_all(&store, &r.sha256).unwrap(),
        b"the original content"
    );
}

#[test]
fn staged_files_are_promoted_after_a_second_hash() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
    let staged = store.staging_dir().join("import-1");
    fs::write(&staged, b"abc").unwrap();
    age(&staged, Duration::from_secs(10 * 24 * 3600));

    let wrong = "1".repeat(64);
    assert!(matches!(
        store.promote(&staged, &wrong),
        Err(StoreError::Mismatch { key, found }) if key == wrong && found == ABC
    ));
    assert!(staged.exists(), "a refused file stays where it was");
    assert!(matches!(
        store.promote(&staged, "nope"),
        Err(StoreError::Invalid(_))
    ));

    let r = store.promote(&staged, ABC).unwrap();
    assert_eq!((r.sha256.as_str(), r.size), (ABC, 3));
    assert!(!staged.exists());
    let path = blob_path(store.root(), ABC);
    assert_eq!(mode(&path), 0o600);
    assert_eq!(read_all(&store, ABC).unwrap(), b"abc");
    let info = store.list().unwrap().remove(0);
    assert!(
        info.modified > SystemTime::now() - Duration::from_secs(3600),
        "a promoted blob counts as new"
    );

    // From another directory too (same file system: a rename; else a copy).
    let outside = dir.path().join("outside");
    File::create(&outside).unwrap().write_all(b"xyz").unwrap();
    let xyz = sha256_of(&mut &b"xyz"[..]).unwrap();
    assert_eq!(store.promote(&outside, &xyz.sha256).unwrap(), xyz);
    assert!(!outside.exists());
}

#[test]
fn a_batch_is_promoted_whole_or_not_at_all() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path().join("blobs")).unwrap();
    let stage = |name: &str, bytes: &[u8]| {
        let path = store.staging_dir().join(name);
        fs::write(&path, bytes).unwrap();
        age(&path, Duration::from_secs(10 * 24 * 3600));
        (path, sha256_of(&mut &bytes[..]).unwrap().sha256)
    };
    let mut batch = vec![
        stage("a", b"abc"),
        stage("b", b"second"),
        stage("c", b"abc"),
    ];
    // One wrong hash refuses the batch before anything moves.
    let mut wrong = batch.clone();
    wrong[1].1 = "1".repeat(64);
    assert!(matches!(
        store.promote_batch(&wrong),
        Err(StoreError::Mismatch { key, .. }) if key == "1".repeat(64)
    ));
    assert!(batch.iter().all(|(p, _)| p.exists()), "nothing moved");
    assert!(store.list().unwrap().is_empty());
    // Otherwise every file lands under its key, private and new; a repeated key once.
    let refs = store.promote_batch(&batch).unwrap();
    assert_eq!(refs.iter().map(|r| r.size).collect::<Vec<_>>(), [3, 6, 3]);
    assert!(batch.iter().all(|(p, _)| !p.exists()), "staging emptied");
    let listed = store.list().unwrap();
    assert_eq!(listed.len(), 2);
    for info in &listed {
        assert_eq!(mode(&blob_path(store.root(), &info.sha256)), 0o600);
        assert!(info.modified > SystemTime::now() - Duration::from_secs(3600));
    }
    assert_eq!(read_all(&store, ABC).unwrap(), b"abc");
    batch.truncate(0);
    assert!(store.promote_batch(&batch).unwrap().is_empty());
}

#[test]
fn gc_deletes_only_old_unreferenced_blobs() {
    let dir = tempfile::tempdir().unwrap();
    let store = LocalBlobStore::open(dir.path()).unwrap();
    let kept = store.put(&mut &b"referenced"[..]).unwrap();
    let recent = store.put(&mut &b"recent orphan"[..]).unwrap();
    let old = store.put(&mut &b"old orphan"[..]).unwrap();
    let two_days = Duration::from_secs(2 * 24 * 3600);
    age(&blob_path(dir.path(), &kept.sha256), two_days);
    age(&blob_path(dir.path(), &old.sha256), two_days);
    let stale_tmp = store.staging_dir().join("put-crashed");
    fs::write(&stale_tmp, b"partial").unwrap();
    age(&stale_tmp, two_days);

    let referenced: HashSet<String> = [kept.sha256.clone()].into();
    let report = store
        .gc(&referenced, SystemTime::now() - GC_MIN_AGE)
        .unwrap();
    assert_eq!(
        (report.deleted, report.freed_bytes, report.kept_recent),
        (1, old.size, 1)
    );
    assert!(store.contains(&kept.sha256).unwrap());
    assert!(store.contains(&recent.sha256).unwrap());
    assert!(!store.contains(&old.sha256).unwrap());
    assert!(!stale_tmp.exists());
}

#[test]
fn blob_locations_are_parsed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_store(&format!("file://{}", dir.path().join("b").display())).unwrap();
    assert_eq!(store.put(&mut &b"abc"[..]).unwrap().sha256, ABC);
    assert!(open_store(dir.path().join("c").to_str().unwrap()).is_ok());
    assert!(matches!(
        open_store("s3://bucket/prefix"),
        Err(StoreError::Url(_))
    ));
}

#[tokio::test]
async fn gc_keeps_what_file_rows_reference() {
    each_backend(|db| async move {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobStore::open(dir.path()).unwrap();
        let used = blobs.put(&mut &b"used by a course"[..]).unwrap();
        let orphan = blobs.put(&mut &b"orphan"[..]).unwrap();
        let (_, c) = course(&db.store, "GC").await;
        db.store
            .add_file(NewFile {
                course: c,
                activity: None,
                sha256: used.sha256.clone(),
                sha1: "a".repeat(40),
                size: i64::try_from(used.size).unwrap(),
                filename: "f.txt".into(),
                filepath: "/".into(),
                mimetype: "text/plain".into(),
                component: "course".into(),
                filearea: "summary".into(),
                itemid: 0,
                author: String::new(),
                license: String::new(),
            })
            .await
            .unwrap();
        let referenced = db.store.referenced_blobs().await.unwrap();
        let future = SystemTime::now() + Duration::from_secs(60);
        let report = blobs.gc(&referenced, future).unwrap();
        assert_eq!(report.deleted, 1);
        assert!(blobs.contains(&used.sha256).unwrap());
        assert!(!blobs.contains(&orphan.sha256).unwrap());
    })
    .await;
}
