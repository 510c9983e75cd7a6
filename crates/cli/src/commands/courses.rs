//! `course …`.

use crate::args::CourseCommand;
use crate::output::{emit, table};
use pf_api::docs::Created;
use pf_domain::access::{Capability, Context};
use pf_domain::course::IdNumber;
use pf_server::api::course_doc;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::courses::{self, CourseForm};
use pf_server::services::Actor;
use rand::RngCore;

/// Runs a `course` command.
pub async fn course(
    p: &Platform,
    actor: &Actor,
    cmd: CourseCommand,
    json: bool,
) -> Result<(), AppError> {
    match cmd {
        CourseCommand::Import {
            file,
            category,
            into,
        } => super::archives::import(p, actor, &file, category, into, json).await?,
        CourseCommand::Lineage { course } => {
            super::publishing::lineage(p, actor, &course, json).await?
        }
        CourseCommand::Set {
            course,
            deploy_key_file,
            no_deploy_key,
            free_category,
        } => {
            super::publishing::set(
                p,
                actor,
                &course,
                deploy_key_file,
                no_deploy_key,
                free_category,
            )
            .await?
        }
        CourseCommand::Export { course, output } => {
            super::archives::export(p, actor, &course, &output, json).await?
        }
        CourseCommand::List => {
            let (list, _) = courses::list(p, actor, None, 0, i64::MAX).await?;
            let docs: Vec<_> = list.iter().map(course_doc).collect();
            emit(json, &docs, || {
                let rows = docs
                    .iter()
                    .map(|c| {
                        vec![
                            c.id.to_string(),
                            c.shortname.clone(),
                            c.idnumber.clone(),
                            c.category.to_string(),
                            if c.visible { "yes" } else { "no" }.into(),
                            c.fullname.clone(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "ID",
                        "SHORTNAME",
                        "IDNUMBER",
                        "CATEGORY",
                        "VISIBLE",
                        "FULLNAME",
                    ],
                    rows,
                )
            });
        }
        CourseCommand::Show { course } => {
            let record = courses::resolve(p, &course).await?;
            let record = courses::consult(p, actor, record.id).await?;
            let doc = courses::detail_doc(p, actor, &record).await?;
            emit(json, &doc, || {
                let mut out = format!(
                    "{} ({}) in category {}\n",
                    doc.course.fullname, doc.course.shortname, doc.course.category
                );
                for s in &doc.sections {
                    out.push_str(&format!(
                        "section {} {}{}\n",
                        s.number,
                        s.name,
                        if s.visible { "" } else { " [hidden]" }
                    ));
                    for a in doc.activities.iter().filter(|a| a.section == s.number) {
                        out.push_str(&format!(
                            "  {}: {}{}\n",
                            a.module,
                            a.name,
                            if a.visible { "" } else { " [hidden]" }
                        ));
                    }
                }
                out.push_str(&format!("{} files\n", doc.files.len()));
                out
            });
        }
        CourseCommand::Index { course, strategy } => {
            let record = courses::resolve(p, &course).await?;
            p.require(actor, Capability::CourseUpdate, Context::Course(record.id))
                .await?;
            let idnumber = match strategy.as_str() {
                _ if !record.idnumber.is_empty() => record.idnumber.clone(),
                "local" => index_local(p, actor, &record).await?,
                "catalog" => {
                    return Err(AppError::new(pf_api::ErrorCode::Failed, "the catalog strategy needs a paired catalog: the network is not available in this version yet"));
                }
                other => {
                    return Err(AppError::bad_request(format!(
                        "strategy '{other}' is not local or catalog"
                    )))
                }
            };
            emit(
                json,
                &serde_json::json!({ "idnumber": idnumber.as_str() }),
                || format!("idnumber {idnumber}"),
            );
        }
        CourseCommand::Add {
            fullname,
            shortname,
            category,
            idnumber,
        } => {
            let form = CourseForm {
                fullname,
                shortname,
                idnumber,
                category,
                ..Default::default()
            };
            let id = courses::create(p, actor, form).await?;
            emit(json, &Created { id: id.0 }, || {
                format!("created course {id}")
            });
        }
    }
    Ok(())
}

/// Draws 10-letter codes until one is used by no course of this platform.
async fn index_local(
    p: &Platform,
    actor: &Actor,
    record: &pf_store::CourseRecord,
) -> Result<IdNumber, AppError> {
    let every_course = pf_store::CourseQuery {
        category: None,
        include_hidden: true,
        offset: 0,
        limit: i64::MAX,
    };
    let all = p.store.courses(every_course).await?;
    let code = loop {
        let mut random = [0u8; 10];
        rand::rngs::OsRng.fill_bytes(&mut random);
        let code = IdNumber::local_code(random);
        if !all.iter().any(|c| c.idnumber == code) {
            break code;
        }
    };
    p.store
        .update_course(
            record.id,
            pf_store::CourseUpdate {
                idnumber: Some(code.clone()),
                ..Default::default()
            },
        )
        .await?;
    p.audit(
        actor,
        "course.index",
        format!("course:{}", record.id),
        serde_json::json!({ "idnumber": code.as_str(), "strategy": "local" }),
    )
    .await?;
    Ok(code)
}
