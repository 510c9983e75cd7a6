//! The sample course `publishflow demo` puts on its factory: a small physics course written for
//! this project (sections, pages, a label, a url, a few files), built through the same services
//! as a person's authoring, so the demo shows what a real course looks like on every platform.

use crate::error::AppError;
use crate::platform::Platform;
use crate::services::courses::{self, CourseForm};
use crate::services::Actor;
use pf_domain::ids::CourseId;
use pf_store::NewActivity;

/// The sample course's short name (used to find it again on a rerun).
pub const SHORTNAME: &str = "DEMO-PHYS-101";

/// The idnumber of the category the sample course goes in.
const SAMPLE_CATEGORY: &str = "pf_sample";

const PAGES: &[(&str, &str, &str)] = &[
    (
        "Motion",
        "What is speed?",
        "<h2>Speed</h2><p>Speed tells how far something goes in a given time: <strong>v = d / t</strong>.</p>\
         <p>A cyclist who rides 30 km in 2 hours has an average speed of 15 km/h.</p>",
    ),
    (
        "Motion",
        "Graphs of motion",
        "<p>On a distance–time graph, a straight line means a constant speed; the steeper the line, \
         the faster the motion.</p><ul><li>flat line: at rest</li><li>rising line: moving away</li></ul>",
    ),
    (
        "Forces",
        "Newton's laws",
        "<ol><li>An object keeps its motion unless a force acts on it.</li>\
         <li><strong>F = m × a</strong></li><li>Every action has an equal and opposite reaction.</li></ol>",
    ),
];

/// A small text file and a small SVG-free PNG (a 1×1 pixel), so the course carries real files.
fn sample_files() -> Vec<(&'static str, &'static str, Vec<u8>)> {
    let png: Vec<u8> = vec![
        0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1f, 0x15, 0xc4, 0x89, 0, 0, 0, 0x0d, 0x49, 0x44,
        0x41, 0x54, 0x78, 0x9c, 0x63, 0xf8, 0xcf, 0xc0, 0xf0, 0x1f, 0, 0x05, 0, 0x01, 0xff, 0x89,
        0x99, 0x3d, 0x1d, 0, 0, 0, 0, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
    ];
    let sheet = "Exercise sheet - Motion\n\n1. A train covers 120 km in 1.5 h. What is its average speed?\n\
                 2. Draw the distance-time graph of a walker at 5 km/h for 2 hours.\n"
        .as_bytes()
        .to_vec();
    vec![
        ("Forces", "exercise-sheet.txt", sheet),
        ("Forces", "pixel.png", png),
    ]
}

/// Creates the sample course in the landing category (or returns it if it exists).
pub async fn ensure_sample_course(p: &Platform, actor: &Actor) -> Result<CourseId, AppError> {
    if let Ok(existing) = p.store.course_by_shortname(SHORTNAME).await {
        return Ok(existing.id);
    }
    // Authored courses live in a category of their own, not in the landing category for arrivals.
    let category = match p
        .store
        .categories()
        .await?
        .into_iter()
        .find(|c| c.idnumber == SAMPLE_CATEGORY)
    {
        Some(c) => c.id,
        None => {
            let new = pf_store::NewCategory {
                parent: None,
                name: "Sample courses".into(),
                idnumber: SAMPLE_CATEGORY.into(),
                visible: true,
            };
            p.store.create_category(new).await?
        }
    };
    let form = CourseForm {
        fullname: "Physics 101: motion and forces".into(),
        shortname: SHORTNAME.into(),
        idnumber: String::new(),
        category: category.0,
        summary: "<p>A short sample course written for the publishflow demo: publish it, deploy it, retrofit it.</p>".into(),
        format: Some("topics".into()),
        visible: Some(true),
        guest_access: Some(false),
        lang: String::new(),
    };
    let course = courses::create(p, actor, form).await?;
    let general = p
        .store
        .sections(course)
        .await?
        .first()
        .map(|s| s.id)
        .ok_or_else(|| AppError::internal("no general section"))?;
    let mut sections = Vec::new();
    for name in ["Motion", "Forces"] {
        sections.push((name, p.store.add_section(course, name, true).await?.id));
    }
    let section = |name: &str| {
        sections
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, id)| *id)
            .unwrap_or(general)
    };
    let activity =
        |section, module: &str, name: &str, intro: &str, payload: serde_json::Value| NewActivity {
            course,
            section,
            module: module.into(),
            name: name.into(),
            intro: intro.into(),
            visible: true,
            payload,
        };
    courses::add_activity(
        p,
        actor,
        activity(
            general,
            "label",
            "Welcome",
            "<p><em>Welcome!</em> Start with the Motion section.</p>",
            serde_json::json!({}),
        ),
    )
    .await?;
    courses::add_activity(
        p,
        actor,
        activity(
            general,
            "url",
            "PhET simulations",
            "",
            serde_json::json!({ "externalurl": "https://phet.colorado.edu/" }),
        ),
    )
    .await?;
    for (sec, name, html) in PAGES {
        courses::add_activity(
            p,
            actor,
            activity(
                section(sec),
                "page",
                name,
                "",
                serde_json::json!({ "content": html }),
            ),
        )
        .await?;
    }
    for (sec, filename, bytes) in sample_files() {
        let id = courses::add_activity(
            p,
            actor,
            activity(
                section(sec),
                "resource",
                filename,
                "",
                serde_json::json!({}),
            ),
        )
        .await?;
        let content_hash = sha1_hex(&bytes);
        let blobs = p.blobs.clone();
        let stored = tokio::task::spawn_blocking(move || blobs.put(&mut bytes.as_slice()))
            .await
            .map_err(AppError::internal)?
            .map_err(AppError::internal)?;
        let upload = crate::upload::StoredUpload {
            filename: filename.into(),
            sha256: stored.sha256,
            sha1: content_hash,
            size: stored.size as i64,
            mimetype: crate::upload::guess_mimetype(filename).into(),
        };
        crate::upload::attach(p, course, Some(id), upload).await?;
    }
    Ok(course)
}

fn sha1_hex(bytes: &[u8]) -> String {
    use sha1::Digest;
    hex::encode(sha1::Sha1::digest(bytes))
}
