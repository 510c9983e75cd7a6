//! `jobs list|show|watch|cancel`, and the `--wait` follower operations share.

use crate::args::JobsCommand;
use crate::output::{emit, table};
use pf_domain::ids::JobId;
use pf_domain::job::JobState;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::jobs::{self, JobDoc};
use pf_server::services::Actor;
use std::io::{IsTerminal, Write};
use std::time::Duration;

/// Runs a `jobs` command.
pub async fn jobs(
    p: &Platform,
    actor: &Actor,
    cmd: JobsCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        JobsCommand::List => {
            let docs: Vec<JobDoc> = jobs::list(p, actor, 200)
                .await?
                .iter()
                .map(JobDoc::from)
                .collect();
            emit(json, &docs, || {
                let rows = docs
                    .iter()
                    .map(|j| {
                        vec![
                            j.id.to_string(),
                            j.kind.clone(),
                            j.state.clone(),
                            j.progress.step.clone(),
                            j.actor.clone(),
                            j.created.clone(),
                        ]
                    })
                    .collect();
                table(&["ID", "KIND", "STATE", "STEP", "ACTOR", "CREATED"], rows)
            });
        }
        JobsCommand::Show { id } => {
            let doc = JobDoc::from(&jobs::show(p, actor, JobId(id)).await?);
            emit(json, &doc, || describe(&doc));
        }
        JobsCommand::Watch { id } => {
            let doc = follow(p, actor, JobId(id)).await?;
            emit(json, &doc, || describe(&doc));
            return finished(&doc);
        }
        JobsCommand::Cancel { id } => {
            let doc = JobDoc::from(&jobs::cancel(p, actor, JobId(id)).await?);
            emit(json, &doc, || format!("job {id}: {}", doc.state));
        }
    }
    Ok(())
}

fn describe(j: &JobDoc) -> String {
    let mut out = format!("job {} ({}) {}: {}", j.id, j.kind, j.state, j.progress.step);
    if let Some(e) = &j.error {
        out.push_str(&format!("\nerror: {}: {}", e.code, e.message));
    }
    if let Some(r) = &j.result {
        out.push_str(&format!("\nresult: {r}"));
    }
    out
}

/// Exit status of a followed job: 0 when done, 1 (with its error) otherwise.
pub fn finished(doc: &JobDoc) -> Result<(), AppError> {
    if doc.state == JobState::Done.as_str() {
        return Ok(());
    }
    let why = doc
        .error
        .as_ref()
        .map(|e| format!("{}: {}", e.code, e.message))
        .unwrap_or_else(|| doc.state.clone());
    Err(AppError::new(
        pf_api::ErrorCode::Failed,
        format!("job {} ended {}: {why}", doc.id, doc.state),
    ))
}

/// Follows a job until it ends, drawing progress on stderr (a bar on a terminal, plain lines
/// otherwise); returns the final document.
pub async fn follow(p: &Platform, actor: &Actor, id: JobId) -> Result<JobDoc, AppError> {
    let tty = std::io::stderr().is_terminal();
    let mut last = String::new();
    loop {
        let job = jobs::show(p, actor, id).await?;
        let doc = JobDoc::from(&job);
        let line = progress_line(&doc, job.progress.fraction());
        let mut err = std::io::stderr().lock();
        if tty {
            let _ = write!(err, "\r\x1b[2K{line}");
        } else if line != last {
            let _ = writeln!(err, "{line}");
        }
        let _ = err.flush();
        last = line;
        if job.state.is_terminal() {
            if tty {
                let _ = writeln!(err);
            }
            return Ok(doc);
        }
        drop(err);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn progress_line(doc: &JobDoc, fraction: f64) -> String {
    const WIDTH: usize = 30;
    let filled = (fraction * WIDTH as f64).round() as usize;
    let bar: String = "#".repeat(filled.min(WIDTH)) + &"-".repeat(WIDTH - filled.min(WIDTH));
    format!(
        "job {} [{bar}] {:>3}% {} {}",
        doc.id,
        (fraction * 100.0).round() as i64,
        doc.state,
        doc.progress.step
    )
}
