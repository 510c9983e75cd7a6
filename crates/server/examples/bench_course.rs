//! Generates the benchmark course of `scripts/bench-publish` on a platform's data dir (the
//! server may run: the store is shared). Not a test.
//!
//! `bench_course DATA_DIR make TOTAL_BYTES [SMALL_FILES]` — a course `BENCH` with `SMALL_FILES`
//! (default 3000) small files of 1–64 KiB plus four large pseudo-random "videos" making up the
//! rest of `TOTAL_BYTES`; prints `{"course_id": …}`.
//! `bench_course DATA_DIR change` — adds one 1 MiB file of fresh bytes to `BENCH` (the edit an
//! `update` then carries); prints `{"changed_bytes": …}`.
//! `bench_course DATA_DIR parts` — the blob paths (`ab/cd/KEY`) of `BENCH`'s newest archive's
//! parts, one a line (the manifest's size on stderr).
//!
//! Contents come from a xorshift generator, so they do not compress and no two files share
//! a blob.

use pf_domain::ids::CourseId;
use pf_server::platform::Platform;
use pf_server::services::courses::{self, CourseForm};
use pf_server::services::{Actor, Via};
use std::io::Read;

/// `len` pseudo-random bytes from `seed`, as a reader.
struct Noise {
    state: u64,
    left: u64,
}

impl Read for Noise {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = (buf.len() as u64).min(self.left) as usize;
        for chunk in buf[..n].chunks_mut(8) {
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            chunk.copy_from_slice(&self.state.to_le_bytes()[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

async fn add_file(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    section: pf_domain::ids::SectionId,
    name: &str,
    seed: u64,
    size: u64,
) {
    let activity = courses::add_activity(
        p,
        actor,
        pf_store::NewActivity {
            course,
            section,
            module: "resource".into(),
            name: name.into(),
            intro: String::new(),
            visible: true,
            payload: serde_json::json!({}),
        },
    )
    .await
    .expect("add an activity");
    let blobs = p.blobs.clone();
    let (stored, sha1) = tokio::task::spawn_blocking(move || {
        // One pass for the SHA-1 Moodle keeps, one for the blob store (same bytes, same seed).
        let mut sha1 = <sha1::Sha1 as sha1::Digest>::new();
        let mut noise = Noise {
            state: seed | 1,
            left: size,
        };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = noise.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            sha1::Digest::update(&mut sha1, &buf[..n]);
        }
        let stored = blobs
            .put(&mut Noise {
                state: seed | 1,
                left: size,
            })
            .expect("store a blob");
        (stored, hex::encode(sha1::Digest::finalize(sha1)))
    })
    .await
    .unwrap();
    let upload = pf_server::upload::StoredUpload {
        filename: name.into(),
        sha256: stored.sha256,
        sha1,
        size: stored.size as i64,
        mimetype: pf_server::upload::guess_mimetype(name).into(),
    };
    pf_server::upload::attach(p, course, Some(activity), upload)
        .await
        .expect("attach a file");
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_course DATA_DIR make TOTAL_BYTES [SMALL_FILES] | DATA_DIR change | DATA_DIR parts";
    let dir = std::path::PathBuf::from(args.get(1).expect(usage));
    let p = Platform::open(&dir).await.expect("open the data dir");
    let admin_name = pf_domain::user::Username::parse("admin").unwrap();
    let admin = p
        .store
        .local_user(&admin_name)
        .await
        .expect("the admin account");
    let actor = Actor::user(admin, Via::Cli);
    match args.get(2).map(String::as_str) {
        Some("make") => {
            let total: u64 = args.get(3).and_then(|s| s.parse().ok()).expect(usage);
            let small: u64 = args.get(4).and_then(|s| s.parse().ok()).unwrap_or(3000);
            let categories = p.store.categories().await.unwrap();
            let form = CourseForm {
                fullname: "Benchmark course".into(),
                shortname: "BENCH".into(),
                idnumber: String::new(),
                category: categories[0].id.0,
                summary: "<p>generated</p>".into(),
                format: Some("topics".into()),
                visible: Some(true),
                guest_access: Some(false),
                lang: String::new(),
            };
            let course = courses::create(&p, &actor, form).await.expect("create");
            let section = p.store.sections(course).await.unwrap()[0].id;
            let mut used = 0u64;
            for i in 0..small {
                let size = 1024 + (i * 7919 % 63) * 1024;
                add_file(
                    &p,
                    &actor,
                    course,
                    section,
                    &format!("note-{i:05}.txt"),
                    1000 + i,
                    size,
                )
                .await;
                used += size;
            }
            let video = total.saturating_sub(used) / 4;
            for i in 0..4u64 {
                add_file(
                    &p,
                    &actor,
                    course,
                    section,
                    &format!("video-{i}.mp4"),
                    77 + i,
                    video,
                )
                .await;
            }
            println!(
                "{}",
                serde_json::json!({ "course_id": course.0, "small_bytes": used, "video_bytes": video * 4 })
            );
        }
        Some("change") => {
            let course = p
                .store
                .course_by_shortname("BENCH")
                .await
                .expect("the BENCH course");
            let section = p.store.sections(course.id).await.unwrap()[0].id;
            let seed = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64;
            add_file(
                &p,
                &actor,
                course.id,
                section,
                "handout-v2.bin",
                seed,
                1 << 20,
            )
            .await;
            println!("{}", serde_json::json!({ "changed_bytes": 1u64 << 20 }));
        }
        Some("parts") => {
            // The newest archive's manifest: its size and its parts' blob paths.
            let course = p
                .store
                .course_by_shortname("BENCH")
                .await
                .expect("the BENCH course");
            let newest = &p.store.archives(course.id).await.unwrap()[0];
            let m = pf_mbz::TransportManifest::parse(newest.manifest.as_bytes(), u64::MAX).unwrap();
            eprintln!(
                "manifest {} bytes, {} parts",
                newest.manifest.len(),
                m.parts.len()
            );
            for part in &m.parts {
                let k = &part.sha256;
                println!("{}/{}/{k}", &k[0..2], &k[2..4]);
            }
        }
        _ => panic!("{usage}"),
    }
}
