//! Import/export benchmark against `tar xzf` + `sync` and `tar czf`.
//!
//! `cargo run --release -p pf-mbz --example bench -- --size-gib 1 [--files N]`
//! Generates a course (`--files` small files, 3000 by default, plus a few
//! 300 MB pseudo-random "videos") in a temp dir (`BENCH_DIR` or the system
//! temp dir), then times each side and prints ratios and the peak RSS
//! (VmHWM) of the import and of the export, each measured from a reset
//! (`/proc/self/clear_refs`). With `BENCH_KEEP` set the scratch dir is
//! kept (to profile the import of its `input.mbz` again).

use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use pf_mbz::{export, import_file, DirStaging, ExportCourse, Limits};
use sha1::Digest;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn fill(&mut self, b: &mut [u8]) {
        for c in b.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}

/// Reset the peak RSS to the current RSS (Linux ≥ 4.0).
fn reset_hwm() {
    let _ = fs::write("/proc/self/clear_refs", "5");
}

fn vm_rss_kib() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn vm_hwm_kib() -> u64 {
    let s = fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Write a blob into `files/xx/<sha1>` and return its files.xml record.
fn blob(
    root: &Path,
    id: usize,
    name: &str,
    mime: &str,
    data: &mut dyn FnMut(&mut dyn Write) -> u64,
) -> String {
    let tmp = root.join("files/tmp");
    let mut h = sha1::Sha1::new();
    let size;
    {
        struct Tee<'a>(BufWriter<File>, &'a mut sha1::Sha1);
        impl Write for Tee<'_> {
            fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
                self.1.update(b);
                self.0.write_all(b)?;
                Ok(b.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                self.0.flush()
            }
        }
        let mut t = Tee(BufWriter::new(File::create(&tmp).unwrap()), &mut h);
        size = data(&mut t);
        t.flush().unwrap();
    }
    let sha = hex::encode(h.finalize());
    fs::create_dir_all(root.join(format!("files/{}", &sha[..2]))).unwrap();
    fs::rename(&tmp, root.join(format!("files/{}/{}", &sha[..2], sha))).unwrap();
    format!(
        "  <file id=\"{id}\">\n    <contenthash>{sha}</contenthash>\n    <contextid>50</contextid>\n    <component>mod_folder</component>\n    <filearea>content</filearea>\n    <itemid>0</itemid>\n    <filepath>/</filepath>\n    <filename>{name}</filename>\n    <userid>$@NULL@$</userid>\n    <filesize>{size}</filesize>\n    <mimetype>{mime}</mimetype>\n    <status>0</status>\n    <timecreated>0</timecreated>\n    <timemodified>0</timemodified>\n    <source>{name}</source>\n    <author>$@NULL@$</author>\n    <license>$@NULL@$</license>\n    <sortorder>0</sortorder>\n    <repositorytype>$@NULL@$</repositorytype>\n    <repositoryid>$@NULL@$</repositoryid>\n    <reference>$@NULL@$</reference>\n  </file>\n"
    )
}

fn generate(root: &Path, size: u64, small_count: u64) {
    let x = |s: &str| format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{s}");
    fs::create_dir_all(root.join("course")).unwrap();
    fs::create_dir_all(root.join("sections/section_10")).unwrap();
    fs::create_dir_all(root.join("activities/folder_20")).unwrap();
    fs::create_dir_all(root.join("files")).unwrap();
    let manifest = "<moodle_backup>\n  <information>\n    <name>bench.mbz</name>\n    <moodle_version>2022112800</moodle_version>\n    <moodle_release>4.1</moodle_release>\n    <backup_version>2022112800</backup_version>\n    <backup_release>4.1</backup_release>\n    <backup_date>0</backup_date>\n    <original_course_id>2</original_course_id>\n    <original_course_fullname>Bench</original_course_fullname>\n    <original_course_shortname>B</original_course_shortname>\n    <original_course_contextid>40</original_course_contextid>\n    <details>\n      <detail backup_id=\"b\">\n        <type>course</type>\n        <format>moodle2</format>\n        <mode>10</mode>\n      </detail>\n    </details>\n    <contents>\n      <activities>\n        <activity>\n          <moduleid>20</moduleid>\n          <sectionid>10</sectionid>\n          <modulename>folder</modulename>\n          <title>Files</title>\n          <directory>activities/folder_20</directory>\n        </activity>\n      </activities>\n      <sections>\n        <section>\n          <sectionid>10</sectionid>\n          <title>0</title>\n          <directory>sections/section_10</directory>\n        </section>\n      </sections>\n      <course>\n        <courseid>2</courseid>\n        <title>B</title>\n        <directory>course</directory>\n      </course>\n    </contents>\n    <settings>\n      <setting>\n        <level>root</level>\n        <name>users</name>\n        <value>0</value>\n      </setting>\n    </settings>\n  </information>\n</moodle_backup>";
    fs::write(root.join("moodle_backup.xml"), x(manifest)).unwrap();
    fs::write(root.join("course/course.xml"), x("<course id=\"2\" contextid=\"40\">\n  <shortname>B</shortname>\n  <fullname>Bench</fullname>\n  <visible>1</visible>\n</course>")).unwrap();
    fs::write(root.join("sections/section_10/section.xml"), x("<section id=\"10\">\n  <number>0</number>\n  <name>$@NULL@$</name>\n  <summary></summary>\n  <sequence>20</sequence>\n  <visible>1</visible>\n</section>")).unwrap();
    fs::write(root.join("activities/folder_20/module.xml"), x("<module id=\"20\">\n  <modulename>folder</modulename>\n  <sectionid>10</sectionid>\n  <sectionnumber>0</sectionnumber>\n  <visible>1</visible>\n</module>")).unwrap();
    fs::write(root.join("activities/folder_20/folder.xml"), x("<activity id=\"30\" moduleid=\"20\" modulename=\"folder\" contextid=\"50\">\n  <folder id=\"30\">\n    <name>Files</name>\n    <intro></intro>\n  </folder>\n</activity>")).unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut records = BufWriter::new(File::create(root.join("files.xml")).unwrap());
    records.write_all(x("<files>\n").as_bytes()).unwrap();
    let videos = (size / 3 / (300 << 20)).clamp(1, 3);
    let video_bytes = videos * (300 << 20);
    let small_total = size.saturating_sub(video_bytes);
    let small_each = (small_total / small_count).max(1024);
    let words = [
        "moodle ",
        "course ",
        "learning ",
        "quiz ",
        "<p>",
        "</p>\n",
        "section ",
        "activity ",
    ];
    for i in 0..small_count {
        let n = small_each / 2 + rng.next() % small_each;
        let compressible = i % 2 == 0;
        let mut r = Rng(rng.next() | 1);
        records
            .write_all(
                blob(
                    root,
                    1000 + i as usize,
                    &format!("f{i}.txt"),
                    "text/plain",
                    &mut |w| {
                        let mut left = n;
                        let mut buf = vec![0u8; 4096];
                        while left > 0 {
                            let k = buf.len().min(left as usize);
                            if compressible {
                                let mut o = 0;
                                while o < k {
                                    let wd = words[(r.next() % 8) as usize].as_bytes();
                                    let c = wd.len().min(k - o);
                                    buf[o..o + c].copy_from_slice(&wd[..c]);
                                    o += c;
                                }
                            } else {
                                r.fill(&mut buf[..k]);
                            }
                            w.write_all(&buf[..k]).unwrap();
                            left -= k as u64;
                        }
                        n
                    },
                )
                .as_bytes(),
            )
            .unwrap();
    }
    for v in 0..videos {
        let mut r = Rng(rng.next() | 1);
        records
            .write_all(
                blob(
                    root,
                    1_000_000_000 + v as usize,
                    &format!("video{v}.mp4"),
                    "video/mp4",
                    &mut |w| {
                        let mut buf = vec![0u8; 1 << 20];
                        for _ in 0..300 {
                            r.fill(&mut buf);
                            w.write_all(&buf).unwrap();
                        }
                        300 << 20
                    },
                )
                .as_bytes(),
            )
            .unwrap();
    }
    records.write_all(b"</files>").unwrap();
    records.flush().unwrap();
    for f in [
        "roles.xml",
        "groups.xml",
        "scales.xml",
        "outcomes.xml",
        "questions.xml",
    ] {
        fs::write(root.join(f), x("<root>\n</root>")).unwrap();
    }
}

fn time(label: &str, f: impl FnOnce()) -> f64 {
    let t = Instant::now();
    f();
    let s = t.elapsed().as_secs_f64();
    println!("{label:<28} {s:8.2} s");
    s
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "{cmd}");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let gib: f64 = args
        .iter()
        .position(|a| a == "--size-gib")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(1.0);
    let size = (gib * f64::from(1u32 << 30)) as u64;
    let files: u64 = args
        .iter()
        .position(|a| a == "--files")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000);
    let dir = std::env::var_os("BENCH_DIR")
        .map_or_else(std::env::temp_dir, Into::into)
        .join(format!("pf-mbz-bench-{}", std::process::id()));
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    println!(
        "generating {gib} GiB, {files} small files, in {}",
        dir.display()
    );
    generate(&src, size, files);
    println!(
        "files.xml {} bytes",
        fs::metadata(src.join("files.xml")).map_or(0, |m| m.len())
    );
    sh("sync");
    let d = dir.display();
    let t_c = time("tar czf", || {
        sh(&format!("cd {d}/src && tar czf {d}/input.mbz ."))
    });
    let t_x = time("tar xzf + sync", || {
        sh(&format!(
            "mkdir {d}/x && tar xzf {d}/input.mbz -C {d}/x && sync"
        ))
    });
    // `x` stays until the end: deleting 200 000 files just before the
    // import would make ext4 search past the freshly freed inodes for every
    // file the import creates (`recently_deleted`), a cost `tar xzf` did not
    // pay.
    reset_hwm();
    let rss0 = vm_rss_kib();
    let mut stage = DirStaging::new(dir.join("stage")).unwrap();
    let mut imported = None;
    let t_i = time("import + sync", || {
        let t = Instant::now();
        imported =
            Some(import_file(&dir.join("input.mbz"), &Limits::default(), &mut stage).unwrap());
        println!("  (import alone {:.2} s)", t.elapsed().as_secs_f64());
        sh("sync");
    });
    let hwm_import = vm_hwm_kib();
    let a = imported.unwrap();
    println!(
        "imported: {} file records, {} blobs",
        a.course.files.len(),
        a.blobs.len()
    );
    let course = ExportCourse::from(a);
    reset_hwm();
    let rss1 = vm_rss_kib();
    let t_e = time("export", || {
        let out = std::io::BufWriter::new(File::create(dir.join("out.mbz")).unwrap());
        export(&course, &stage, out).unwrap();
    });
    let in_size = fs::metadata(dir.join("input.mbz")).unwrap().len();
    let out_size = fs::metadata(dir.join("out.mbz")).unwrap().len();
    println!("input.mbz {in_size} bytes, export {out_size} bytes");
    println!(
        "import / (tar xzf + sync) = {:.2}  (target <= 1.25)",
        t_i / t_x
    );
    println!(
        "export / tar czf          = {:.2}  (target <= 1.00)",
        t_e / t_c
    );
    println!(
        "peak RSS (VmHWM) import {} MiB (from {} MiB), export {} MiB (from {} MiB, the imported model held); target < 100",
        hwm_import / 1024,
        rss0 / 1024,
        vm_hwm_kib() / 1024,
        rss1 / 1024
    );
    if std::env::var_os("BENCH_KEEP").is_none() {
        let _ = fs::remove_dir_all(&dir);
    }
}
