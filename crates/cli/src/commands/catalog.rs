//! `course index --strategy catalog`, `course sessions`, `deploy --to all` and
//! `session open|close --on PEER` (catalog indexing, the sessions list, deployeverywhere and
//! remote sessions).

use super::jobs::{finished, follow};
use crate::catalog_args::IndexMetaArgs;
use crate::output::{emit, table};
use crate::publish_args::DeployArgs;
use pf_api::sessions::SessionDoc;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::catalog::{index_via_catalog, IndexMeta};
use pf_server::services::copies::sessions_list;
use pf_server::services::jobs::JobDoc;
use pf_server::services::publishing::everywhere::deploy_everywhere;
use pf_server::services::publishing::ops::OperationRequest;
use pf_server::services::remote_sessions::{self, RemoteAction};
use pf_server::services::{courses, Actor};

/// `course index COURSE [--strategy local|catalog] [--catalog PEER] [metadata…]`.
pub async fn index(
    p: &Platform,
    actor: &Actor,
    course: &str,
    strategy: &str,
    catalog: Option<String>,
    meta: IndexMetaArgs,
    json: bool,
) -> Result<(), AppError> {
    if strategy != "catalog" && (catalog.is_some() || meta.any()) {
        return Err(AppError::bad_request(
            "--catalog and the metadata flags go with --strategy catalog",
        ));
    }
    let terms = match &meta.terms_file {
        Some(f) => std::fs::read_to_string(f)
            .map_err(|e| AppError::bad_request(format!("cannot read {}: {e}", f.display())))?,
        None => String::new(),
    };
    let record = courses::resolve(p, course).await?;
    let idnumber = if strategy == "catalog" {
        let meta = IndexMeta {
            authors: meta.authors.unwrap_or_default(),
            licence: meta.licence.unwrap_or_default(),
            terms,
            level: meta.level.unwrap_or_default(),
            discipline: meta.discipline.unwrap_or_default(),
            summary: meta.summary.unwrap_or_default(),
        };
        index_via_catalog(p, actor, record.id, catalog.as_deref(), meta).await?
    } else {
        courses::index(p, actor, record.id, strategy).await?
    };
    emit(
        json,
        &serde_json::json!({ "idnumber": idnumber.as_str() }),
        || format!("idnumber {idnumber}"),
    );
    Ok(())
}

/// `course sessions COURSE`.
pub async fn sessions(
    p: &Platform,
    actor: &Actor,
    course: &str,
    json: bool,
) -> Result<(), AppError> {
    let record = courses::resolve(p, course).await?;
    let list = sessions_list(p, actor, record.id).await?;
    emit(json, &list, || {
        let mut rows = Vec::new();
        for pc in &list.platforms {
            if pc.status != "ok" {
                rows.push(vec![
                    pc.platform.clone(),
                    "-".into(),
                    "-".into(),
                    "-".into(),
                    pc.status.clone(),
                ]);
            }
            for c in &pc.copies {
                let mut version = c.version.map(|v| format!("v{v}")).unwrap_or_default();
                if let Some(n) = c.newer_version {
                    version.push_str(&format!(" (v{n} exists)"));
                }
                rows.push(vec![
                    pc.platform.clone(),
                    format!("{} {}", c.course_id, c.shortname),
                    version,
                    if c.visible { "yes" } else { "no" }.into(),
                    c.state.clone(),
                ]);
            }
        }
        table(&["PLATFORM", "COURSE", "VERSION", "VISIBLE", "STATE"], rows)
    });
    Ok(())
}

/// `deploy COURSE --to all …`: one job per training platform that admits it; prints the jobs
/// (an array), followed to their ends with `--wait` (exit 1 unless every one ended done).
pub async fn deploy_all(
    p: &Platform,
    actor: &Actor,
    args: DeployArgs,
    key: Option<String>,
    json: bool,
) -> Result<(), AppError> {
    let course = courses::resolve(p, &args.course).await?;
    let req = OperationRequest {
        course: course.id.0,
        category: args.category,
        deploy_key: key,
        idempotency_key: args.job.idempotency_key.clone(),
        accept_terms: args.accept_terms,
        ..OperationRequest::default()
    };
    let jobs = deploy_everywhere(p, actor, req).await?;
    let mut docs: Vec<JobDoc> = jobs.iter().map(JobDoc::from).collect();
    if args.job.wait {
        for d in docs.iter_mut() {
            *d = follow(p, actor, pf_domain::ids::JobId(d.id)).await?;
        }
    }
    emit(json, &docs, || {
        let rows = docs
            .iter()
            .map(|d| vec![d.id.to_string(), d.kind.clone(), d.state.clone()])
            .collect();
        table(&["JOB", "KIND", "STATE"], rows)
    });
    if args.job.wait {
        for d in &docs {
            finished(d)?;
        }
    }
    Ok(())
}

/// `session open|close COURSE --on PEER`: a catalog runs the session of a course it deployed.
pub async fn remote_session(
    p: &Platform,
    actor: &Actor,
    peer: &str,
    course: &str,
    action: RemoteAction,
) -> Result<SessionDoc, AppError> {
    let course: i64 = course
        .parse()
        .map_err(|_| AppError::bad_request("with --on, COURSE is the course id on that peer"))?;
    remote_sessions::request(p, actor, peer, course, action).await
}
