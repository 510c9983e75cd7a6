//! `course …`.

use crate::args::CourseCommand;
use crate::output::{emit, table};
use pf_api::docs::Created;
use pf_server::api::course_doc;
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::courses::{self, CourseForm};
use pf_server::services::Actor;

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
        CourseCommand::Index {
            course,
            strategy,
            catalog,
            meta,
        } => super::catalog::index(p, actor, &course, &strategy, catalog, meta, json).await?,
        CourseCommand::Sessions { course } => {
            super::catalog::sessions(p, actor, &course, json).await?
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
