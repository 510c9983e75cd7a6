//! Courses: create, edit, consult, list, trash; sections and activities (light authoring).

use super::{now, Actor};
use crate::error::AppError;
use crate::platform::{settings, Platform};
use pf_domain::access::{Capability, Context};
use pf_domain::course::{Fullname, IdNumber, Shortname};
use pf_domain::ids::{CategoryId, CourseId, SectionId};
use pf_domain::rules::{RuleGrant, RuleVerdict};
use pf_store::{CourseQuery, CourseRecord, CourseUpdate, NewActivity, NewCourse};

/// A course's settings as a person typed them (create and edit).
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct CourseForm {
    /// Full name.
    pub fullname: String,
    /// Short name (unique on the platform).
    pub shortname: String,
    /// Learning-path key; empty until indexed.
    #[serde(default)]
    pub idnumber: String,
    /// Category id.
    pub category: i64,
    /// Summary (HTML, sanitised when shown).
    #[serde(default)]
    pub summary: String,
    /// `topics` or `weeks`.
    #[serde(default)]
    pub format: Option<String>,
    /// Visible to students.
    #[serde(default)]
    pub visible: Option<bool>,
    /// Guests (not logged in) may consult it.
    #[serde(default)]
    pub guest_access: Option<bool>,
    /// Language code, empty for the platform's.
    #[serde(default)]
    pub lang: String,
}

fn parse_format(format: Option<&str>) -> Result<String, AppError> {
    match format.unwrap_or("topics") {
        f @ ("topics" | "weeks") => Ok(f.to_string()),
        other => Err(AppError::bad_request(format!(
            "format '{other}' is not topics or weeks"
        ))),
    }
}

/// Whether this platform offers light authoring (factories, and platforms outside the network).
pub async fn authoring_enabled(p: &Platform) -> Result<bool, AppError> {
    let role = p.role().await?;
    Ok(role.duties().factory || role == pf_domain::platform::PlatformRole::Normal)
}

async fn require_authoring(p: &Platform) -> Result<(), AppError> {
    if authoring_enabled(p).await? {
        Ok(())
    } else {
        Err(AppError::new(
            pf_api::ErrorCode::MissingCapability,
            "authoring happens on factories; this platform receives courses",
        ))
    }
}

/// Creates a course with a general section; needs `course:create` in its category.
pub async fn create(p: &Platform, actor: &Actor, form: CourseForm) -> Result<CourseId, AppError> {
    let fullname = Fullname::parse(&form.fullname)?;
    let shortname = Shortname::parse(&form.shortname)?;
    let idnumber = IdNumber::parse(&form.idnumber)?;
    let format = parse_format(form.format.as_deref())?;
    let category = CategoryId(form.category);
    p.store.category(category).await?;
    p.require(actor, Capability::CourseCreate, Context::Category(category))
        .await?;
    require_authoring(p).await?;
    let start = now();
    let id = p
        .store
        .create_course(NewCourse {
            category,
            fullname,
            shortname: shortname.clone(),
            idnumber,
            summary: form.summary,
            format,
            start_date: start,
            end_date: 0,
            lang: form.lang,
            visible: form.visible.unwrap_or(true),
            guest_access: form.guest_access.unwrap_or(false),
            archive_payload: None,
        })
        .await?;
    p.store.add_section(id, "", true).await?;
    p.audit(
        actor,
        "course.create",
        format!("course:{id}"),
        serde_json::json!({ "shortname": shortname.as_str() }),
    )
    .await?;
    Ok(id)
}

/// Edits a course's settings; needs `course:update` on it (and `course:create` where it moves).
pub async fn update(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
    form: CourseForm,
) -> Result<(), AppError> {
    let fullname = Fullname::parse(&form.fullname)?;
    let shortname = Shortname::parse(&form.shortname)?;
    let idnumber = IdNumber::parse(&form.idnumber)?;
    let format = parse_format(form.format.as_deref())?;
    let current = p.store.course(id).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(id))
        .await?;
    let category = CategoryId(form.category);
    if category != current.category {
        p.store.category(category).await?;
        p.require(actor, Capability::CourseCreate, Context::Category(category))
            .await?;
    }
    p.store
        .update_course(
            id,
            CourseUpdate {
                category: Some(category),
                fullname: Some(fullname),
                shortname: Some(shortname),
                idnumber: Some(idnumber),
                summary: Some(form.summary),
                format: Some(format),
                visible: form.visible,
                guest_access: form.guest_access,
                lang: Some(form.lang),
                ..Default::default()
            },
        )
        .await?;
    p.audit(
        actor,
        "course.update",
        format!("course:{id}"),
        serde_json::Value::Null,
    )
    .await
}

/// Finds a course by the CLI's `COURSE` argument: a numeric id or `shortname:NAME`.
pub async fn resolve(p: &Platform, reference: &str) -> Result<CourseRecord, AppError> {
    if let Some(name) = reference.strip_prefix("shortname:") {
        return Ok(p.store.course_by_shortname(name).await?);
    }
    let id: i64 = reference.parse().map_err(|_| {
        AppError::bad_request(format!(
            "'{reference}' is not a course id or shortname:NAME"
        ))
    })?;
    Ok(p.store.course(CourseId(id)).await?)
}

/// The course if the actor may consult it (visible and `course:view`, or `course:viewhidden`).
pub async fn consult(p: &Platform, actor: &Actor, id: CourseId) -> Result<CourseRecord, AppError> {
    let course = p.store.course(id).await?;
    let ctx = Context::Course(id);
    // Profile rules (SPEC §8) grant consultation of a visible course, and hide it from everyone
    // outside them who does not see hidden courses anyway.
    let rules = super::rules::course_verdict(p, actor, id, RuleGrant::Consult).await?;
    let allowed = match (course.visible, rules) {
        (_, RuleVerdict::Outside) => false,
        (true, RuleVerdict::Granted) => true,
        (true, RuleVerdict::NoRules) => {
            p.can(actor, Capability::CourseView, ctx).await?
                || p.can(actor, Capability::CourseViewHidden, ctx).await?
        }
        (false, _) => p.can(actor, Capability::CourseViewHidden, ctx).await?,
    };
    if allowed {
        Ok(course)
    } else if actor.user.is_none() {
        Err(AppError::new(
            pf_api::ErrorCode::Unauthenticated,
            "please log in to consult this course",
        ))
    } else {
        // Hidden courses are not even acknowledged to people who may not see them.
        Err(AppError::not_found(format!("course {id}")))
    }
}

/// Courses of a category page the actor can see listed (hidden ones only with `viewhidden`).
pub async fn list(
    p: &Platform,
    actor: &Actor,
    category: Option<CategoryId>,
    offset: i64,
    limit: i64,
) -> Result<(Vec<CourseRecord>, i64), AppError> {
    let include_hidden = match category {
        Some(c) => {
            p.can(actor, Capability::CourseViewHidden, Context::Category(c))
                .await?
        }
        None => {
            p.can(actor, Capability::CourseViewHidden, Context::System)
                .await?
        }
    };
    let query = CourseQuery {
        category,
        include_hidden,
        offset,
        limit,
    };
    let total = p.store.count_courses(query.clone()).await?;
    let mut courses = p.store.courses(query).await?;
    let rules = p.store.rules().await?;
    if !rules.is_empty() {
        // Users outside a course's consult rules do not see it at all, in lists either. (The
        // total still counts it: paging stays stable; the page may hold fewer entries.)
        let mut kept = Vec::with_capacity(courses.len());
        for c in courses {
            if super::rules::verdict_among(p, actor, c.id, RuleGrant::Consult, &rules).await?
                != RuleVerdict::Outside
            {
                kept.push(c);
            }
        }
        courses = kept;
    }
    Ok((courses, total))
}

/// Moves a course to the trash (restorable for the retention period); needs `course:update`.
pub async fn trash(p: &Platform, actor: &Actor, id: CourseId) -> Result<(), AppError> {
    p.store.course(id).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(id))
        .await?;
    p.store.trash_course(id, now()).await?;
    p.audit(
        actor,
        "course.trash",
        format!("course:{id}"),
        serde_json::Value::Null,
    )
    .await?;
    let days = p.setting_i64(settings::TRASH_DAYS, 30).await?;
    p.store.purge_trash(now() - days * 86_400).await?;
    Ok(())
}

/// Needs `course:update` on the course and authoring on this platform.
pub async fn require_edit(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
) -> Result<CourseRecord, AppError> {
    let course = p.store.course(id).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(id))
        .await?;
    require_authoring(p).await?;
    Ok(course)
}

/// Checks that a section belongs to the course (ids come from forms).
pub async fn section_of(
    p: &Platform,
    course: CourseId,
    section: SectionId,
) -> Result<pf_store::SectionRecord, AppError> {
    p.store
        .sections(course)
        .await?
        .into_iter()
        .find(|s| s.id == section)
        .ok_or_else(|| AppError::not_found(format!("section {section} in course {course}")))
}

/// Adds an activity to a section after the authoring checks.
pub async fn add_activity(
    p: &Platform,
    actor: &Actor,
    new: NewActivity,
) -> Result<pf_domain::ids::ActivityId, AppError> {
    require_edit(p, actor, new.course).await?;
    section_of(p, new.course, new.section).await?;
    if new.name.trim().is_empty() && new.module != "label" {
        return Err(AppError::bad_request("an activity needs a name"));
    }
    let course = new.course;
    let module = new.module.clone();
    let id = p.store.add_activity(new).await?;
    p.audit(
        actor,
        "activity.create",
        format!("course:{course}"),
        serde_json::json!({ "activity": id.0, "module": module }),
    )
    .await?;
    Ok(id)
}

/// A course as `course show` prints it: outline and files the actor may see.
pub async fn detail_doc(
    p: &Platform,
    actor: &Actor,
    course: &CourseRecord,
) -> Result<pf_api::docs::CourseDetailDoc, AppError> {
    use pf_api::docs::{ActivityDoc, CourseDetailDoc, FileDoc, SectionDoc};
    let see_hidden = p
        .can(
            actor,
            Capability::CourseViewHidden,
            Context::Course(course.id),
        )
        .await?;
    let sections = p.store.sections(course.id).await?;
    let activities = p.store.activities(course.id).await?;
    let files = p.store.files(course.id).await?;
    Ok(CourseDetailDoc {
        course: crate::api::course_doc(course),
        sections: sections
            .iter()
            .filter(|s| s.visible || see_hidden)
            .map(|s| SectionDoc {
                number: s.number,
                name: s.name.clone(),
                visible: s.visible,
            })
            .collect(),
        activities: activities
            .iter()
            .filter(|a| a.visible || see_hidden)
            .map(|a| ActivityDoc {
                module: a.module.clone(),
                name: a.name.clone(),
                section: a.section_number,
                visible: a.visible,
            })
            .collect(),
        files: files
            .iter()
            .filter(|f| f.filename != ".")
            .map(|f| FileDoc {
                sha1: f.sha1.clone(),
                sha256: f.sha256.clone(),
                size: f.size,
                filename: f.filename.clone(),
            })
            .collect(),
    })
}

/// Courses in the trash that can still be restored (administrators only); purges older ones.
pub async fn trash_list(p: &Platform, actor: &Actor) -> Result<Vec<CourseRecord>, AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    let days = p.setting_i64(settings::TRASH_DAYS, 30).await?;
    p.store.purge_trash(now() - days * 86_400).await?;
    Ok(p.store.trashed_courses().await?)
}

/// Takes a course out of the trash (administrators only).
pub async fn restore(p: &Platform, actor: &Actor, id: CourseId) -> Result<(), AppError> {
    p.require(actor, Capability::SiteConfig, Context::System)
        .await?;
    p.store.restore_course(id).await?;
    p.audit(
        actor,
        "course.restore",
        format!("course:{id}"),
        serde_json::Value::Null,
    )
    .await
}

/// Gives the course an idnumber if it has none (SPEC §5.1) and returns it; needs `course:update`.
/// `local` draws a ten-letter code used by no course here; `catalog` needs a catalog's allocation,
/// which is not built yet.
pub async fn index(
    p: &Platform,
    actor: &Actor,
    id: CourseId,
    strategy: &str,
) -> Result<IdNumber, AppError> {
    let record = p.store.course(id).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(id))
        .await?;
    if !record.idnumber.is_empty() {
        return Ok(record.idnumber);
    }
    match strategy {
        "local" => {}
        "catalog" => {
            return Err(AppError::new(
                pf_api::ErrorCode::Failed,
                "the catalog strategy is not available yet; use --strategy local",
            ))
        }
        other => {
            return Err(AppError::bad_request(format!(
                "strategy '{other}' is not local or catalog"
            )))
        }
    }
    let every_course = CourseQuery {
        category: None,
        include_hidden: true,
        offset: 0,
        limit: i64::MAX,
    };
    let taken: Vec<IdNumber> = p
        .store
        .courses(every_course)
        .await?
        .into_iter()
        .map(|c| c.idnumber)
        .collect();
    let code = loop {
        let mut random = [0u8; 10];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let code = IdNumber::local_code(random);
        if !taken.contains(&code) {
            break code;
        }
    };
    p.store
        .update_course(
            id,
            CourseUpdate {
                idnumber: Some(code.clone()),
                ..Default::default()
            },
        )
        .await?;
    let details = serde_json::json!({ "idnumber": code.as_str(), "strategy": strategy });
    p.audit(actor, "course.index", format!("course:{id}"), details)
        .await?;
    Ok(code)
}
