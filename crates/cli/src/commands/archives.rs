//! `course import`, `course export` and `archive …`: Moodle archives in and out of the platform.

use crate::args::ArchiveCommand;
use crate::output::{emit, table};
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::archives::transport::{self, ArchiveDoc};
use pf_server::services::archives::{export, import};
use pf_server::services::courses;
use pf_server::services::Actor;
use std::path::Path;

/// Runs `course import`.
pub async fn import(
    p: &Platform,
    actor: &Actor,
    file: &Path,
    category: Option<i64>,
    into: Option<String>,
    json: bool,
) -> Result<(), AppError> {
    if !file.is_file() {
        return Err(AppError::bad_request(format!(
            "{} is not a readable file",
            file.display()
        )));
    }
    let into = match into {
        Some(reference) => Some(courses::resolve(p, &reference).await?.id),
        None => None,
    };
    let target = import::ImportTarget {
        category: category.map(pf_domain::ids::CategoryId),
        into,
    };
    let outcome = import::import_file(p, actor, file, target).await?;
    emit(json, &outcome, || {
        let mut out = format!(
            "imported course {} as {}\n",
            outcome.course_id, outcome.shortname
        );
        for w in &outcome.warnings {
            out.push_str(&format!("warning: {w}\n"));
        }
        out
    });
    Ok(())
}

/// Runs `course export`.
pub async fn export(
    p: &Platform,
    actor: &Actor,
    course: &str,
    output: &Path,
    json: bool,
) -> Result<(), AppError> {
    let record = courses::resolve(p, course).await?;
    let size = export::export_to_file(p, actor, record.id, output).await?;
    let doc = serde_json::json!({
        "course_id": record.id.0,
        "path": output.display().to_string(),
        "size": size,
    });
    emit(json, &doc, || {
        format!("wrote {} ({size} bytes)", output.display())
    });
    Ok(())
}

/// Runs an `archive` command.
pub async fn archive(
    p: &Platform,
    actor: &Actor,
    cmd: ArchiveCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        ArchiveCommand::Make { course } => {
            let record = courses::resolve(p, &course).await?;
            let made = transport::make(p, actor, record.id).await?;
            let doc = ArchiveDoc::from(&made);
            emit(json, &doc, || {
                format!(
                    "made archive {} (counter {}, {} bytes, sha256 {})",
                    doc.id, doc.counter, doc.size, doc.sha256
                )
            });
        }
        ArchiveCommand::List { course } => {
            let record = courses::resolve(p, &course).await?;
            let docs: Vec<ArchiveDoc> = transport::list(p, actor, record.id)
                .await?
                .iter()
                .map(ArchiveDoc::from)
                .collect();
            emit(json, &docs, || {
                let rows = docs
                    .iter()
                    .map(|d| {
                        vec![
                            d.id.to_string(),
                            d.counter.to_string(),
                            d.size.to_string(),
                            d.created.clone(),
                            d.sha256.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "COUNTER", "SIZE", "CREATED", "SHA256"], rows)
            });
        }
    }
    Ok(())
}
