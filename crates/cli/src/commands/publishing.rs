//! `publish`, `deploy`, `retrofit` (jobs run by the server; `--wait` follows them),
//! `publication status`, `course lineage` and `course set`.

use super::jobs::{finished, follow};
use crate::output::{emit, table};
use crate::publish_args::{DeployArgs, JobFlags, PublicationCommand, PublishArgs, RetrofitArgs};
use pf_domain::admission::Operation;
use pf_domain::publication::PublishMode;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::jobs::JobDoc;
use pf_server::services::publishing::ops::{self, OperationRequest};
use pf_server::services::{courses, Actor};
use std::path::PathBuf;

async fn run(
    p: &Platform,
    actor: &Actor,
    op: Operation,
    req: OperationRequest,
    flags: JobFlags,
    json: bool,
) -> Result<(), AppError> {
    let job = ops::start(p, actor, op, req).await?;
    if !flags.wait {
        let doc = JobDoc::from(&job);
        emit(json, &doc, || {
            format!("job {} ({}) {}", doc.id, doc.kind, doc.state)
        });
        return Ok(());
    }
    let doc = follow(p, actor, job.id).await?;
    emit(json, &doc, || {
        let mut out = format!("job {} ({}) {}", doc.id, doc.kind, doc.state);
        if let Some(r) = &doc.result {
            out.push_str(&format!("\nresult: {r}"));
        }
        out
    });
    finished(&doc)
}

/// `publish COURSE [--catalog PEER] [--mode M]`.
pub async fn publish(
    p: &Platform,
    actor: &Actor,
    args: PublishArgs,
    json: bool,
) -> Result<(), AppError> {
    let mode: PublishMode = args.mode.parse()?;
    let course = courses::resolve(p, &args.course).await?;
    let req = OperationRequest {
        course: course.id.0,
        peer: args.catalog,
        mode: Some(mode),
        idempotency_key: args.job.idempotency_key.clone(),
        ..OperationRequest::default()
    };
    run(p, actor, Operation::Publish, req, args.job, json).await
}

/// `deploy COURSE --to PEER [--category ID] [--key-file F]`.
pub async fn deploy(
    p: &Platform,
    actor: &Actor,
    args: DeployArgs,
    json: bool,
) -> Result<(), AppError> {
    let key = match &args.key_file {
        Some(f) => Some(super::read_password_file(f)?),
        None => None,
    };
    if args.to == "all" {
        return super::catalog::deploy_all(p, actor, args, key, json).await;
    }
    let course = courses::resolve(p, &args.course).await?;
    let req = OperationRequest {
        course: course.id.0,
        accept_terms: args.accept_terms,
        peer: Some(args.to),
        category: args.category,
        deploy_key: key,
        idempotency_key: args.job.idempotency_key.clone(),
        ..OperationRequest::default()
    };
    run(p, actor, Operation::Deploy, req, args.job, json).await
}

/// `retrofit COURSE [--to PEER]`.
pub async fn retrofit(
    p: &Platform,
    actor: &Actor,
    args: RetrofitArgs,
    json: bool,
) -> Result<(), AppError> {
    let course = courses::resolve(p, &args.course).await?;
    let req = OperationRequest {
        course: course.id.0,
        peer: args.to,
        idempotency_key: args.job.idempotency_key.clone(),
        ..OperationRequest::default()
    };
    run(p, actor, Operation::Retrofit, req, args.job, json).await
}

/// `publication status COURSE`.
pub async fn publication(
    p: &Platform,
    actor: &Actor,
    cmd: PublicationCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        PublicationCommand::Status { course } => {
            let course = courses::resolve(p, &course).await?;
            let doc = ops::publication_status(p, actor, course.id).await?;
            emit(json, &doc, || {
                let rows = doc["catalogs"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|c| {
                                vec![
                                    c["platform"].as_str().unwrap_or("").to_string(),
                                    c["status"].as_str().unwrap_or("").to_string(),
                                    c["versions"].as_array().map_or(0, Vec::len).to_string(),
                                ]
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                table(&["CATALOG", "STATUS", "VERSIONS"], rows)
            });
        }
        PublicationCommand::Link { idnumber, peer } => {
            let peer = pf_server::services::peers::resolve(p, &peer).await?;
            ops::link_series(p, actor, &idnumber, &peer).await?;
            emit(
                json,
                &serde_json::json!({ "idnumber": idnumber, "linked": peer.name }),
                || format!("{} may now act on {idnumber}", peer.name),
            );
        }
    }
    Ok(())
}

/// `course lineage COURSE`.
pub async fn lineage(
    p: &Platform,
    actor: &Actor,
    course: &str,
    json: bool,
) -> Result<(), AppError> {
    let course = courses::resolve(p, course).await?;
    let docs = ops::lineage(p, actor, course.id).await?;
    emit(json, &docs, || {
        let rows = docs
            .iter()
            .map(|d| {
                vec![
                    d.operation.clone(),
                    format!("{}:{}", d.source.platform, d.source.course_id),
                    format!("{}:{}", d.target.platform, d.target.course_id),
                    d.version.map(|v| v.to_string()).unwrap_or_default(),
                    d.actor.clone(),
                    d.created.clone(),
                ]
            })
            .collect();
        table(&["OPERATION", "FROM", "TO", "VERSION", "WHO", "WHEN"], rows)
    });
    Ok(())
}

/// `course set COURSE [--deploy-key-file F | --no-deploy-key] [--free-category on|off]`.
pub async fn set(
    p: &Platform,
    actor: &Actor,
    course: &str,
    deploy_key_file: Option<PathBuf>,
    no_deploy_key: bool,
    free_category: Option<String>,
) -> Result<(), AppError> {
    let free = match free_category.as_deref() {
        None => None,
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(other) => {
            return Err(AppError::bad_request(format!(
                "--free-category is on or off, not '{other}'"
            )))
        }
    };
    let key = match (deploy_key_file, no_deploy_key) {
        (Some(f), _) => Some(Some(super::read_password_file(&f)?)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    let course = courses::resolve(p, course).await?;
    ops::set_course(p, actor, course.id, key, free).await
}
