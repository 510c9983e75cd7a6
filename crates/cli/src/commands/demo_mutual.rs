//! `publishflow demo --mutualisation`: sharing between establishments (SPEC §8) on one machine —
//! a common catalog (`common`) and two establishments (`lycee-a`, `lycee-b`, factory_training),
//! paired; one course published from each; profile rules on the catalog with the fields it
//! trusts from each establishment; and a demo teacher on lycee-a with an assigned category, who
//! can log in, jump to the catalog, find a shared course, press one button and land on their
//! own copy.
//!
//! Like the default demo, the platforms live in `DIR/<name>` and are reused on a rerun (nothing
//! is published or added twice); passwords are kept in `DIR/logins.json` (0600).

use super::demo::{open_all, pair_network, read_logins, serve_all, write_logins};
use crate::args::DemoArgs;
use pf_domain::access::{Context, RoleName};
use pf_domain::admission::Operation;
use pf_domain::platform::PlatformRole;
use pf_domain::rules::RuleGrant;
use pf_domain::user::{FieldEditor, Username};
use pf_server::error::AppError;
use pf_server::platform::Platform;
use pf_server::services::publishing::ops::{self, OperationRequest};
use pf_server::services::users::{self, UserForm};
use pf_server::services::{courses, profile, rules, Actor, Via};
use pf_store::{CourseQuery, NewActivity, NewCategory};
use std::io::Write;

/// The network: name, role, port offset from `--base-port`.
const PLATFORMS: &[(&str, PlatformRole, u16)] = &[
    ("common", PlatformRole::Catalog, 0),
    ("lycee-a", PlatformRole::FactoryTraining, 1),
    ("lycee-b", PlatformRole::FactoryTraining, 2),
];
/// The catalog invites each establishment.
const PAIRS: &[(usize, usize)] = &[(0, 1), (0, 2)];
/// The demo teacher of lycee-a.
const TEACHER: &str = "teacher";
/// The idnumber of the teacher's assigned category on lycee-a.
const ASSIGNED: &str = "MARTIN";
/// The fields the rules read, admin-managed at home and trusted by the catalog.
const FIELDS: &[&str] = &["establishment_type", "discipline"];

async fn admin(p: &Platform) -> Result<Actor, AppError> {
    let user = p.store.local_user(&Username::parse("admin")?).await?;
    Ok(Actor::user(user, Via::Cli))
}

/// Runs the mutualisation demo until Ctrl-C or SIGTERM.
pub async fn demo(args: DemoArgs) -> Result<(), AppError> {
    let dir = args.dir.as_path();
    let mut logins = read_logins(dir);
    let running = open_all(dir, args.base_port, PLATFORMS, &mut logins).await?;
    let (a, b) = (running[1].2.clone(), running[2].2.clone());
    let course_a = pf_server::sample::ensure_sample_course(&a, &admin(&a).await?).await?;
    courses::index(&a, &admin(&a).await?, course_a, "local").await?;
    let course_b = maths_course(&b).await?;
    let key = format!("lycee-a/{TEACHER}");
    if !logins.contains_key(&key) {
        let password = teacher(&a).await?;
        logins.insert(key.clone(), password);
        write_logins(dir, &logins)?;
    }
    let served = serve_all(running)?;
    let handles = &served.handles;
    pair_network(handles, PAIRS).await?;
    let cat = &handles[0].2;
    let on_cat_a = published(cat, &a, course_a).await?;
    let on_cat_b = published(cat, &b, course_b).await?;
    share(cat, &[(&a, on_cat_a), (&b, on_cat_b)]).await?;

    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "publishflow demo --mutualisation: a common catalog and two establishments (Ctrl-C stops them)\n"
    )?;
    for (name, url, _) in handles {
        let password = logins
            .get(name)
            .map(String::as_str)
            .unwrap_or("(set before; see your notes)");
        writeln!(out, "  {name:<8} {url:<24} login: admin / {password}")?;
    }
    let (a_url, cat_url) = (&handles[1].1, &handles[0].1);
    let teacher_pw = logins.get(&key).map(String::as_str).unwrap_or("?");
    writeln!(
        out,
        "\nTry it as a teacher of lycee-a (establishment_type=lycee, discipline=physics, assigned category {ASSIGNED}):\n\
         1. Log in on {a_url}/login as {TEACHER} / {teacher_pw}\n\
         2. On the front page, press \"Go to\" common: you arrive on the catalog, signed in as yourself.\n\
         3. Open the shared course {cat_url}/course/{on_cat_a} (the maths course of lycee-b, {cat_url}/course/{on_cat_b}, is for maths teachers: you may consult it, not deploy it).\n\
         4. Press \"Deploy to my platform\"; when the job is done, press \"Open my copy on my platform\".\n\
         Your copy is on lycee-a, hidden, in your category {ASSIGNED}. The rules are on {cat_url}/admin/rules (admin)."
    )?;
    out.flush()?;
    drop(out);
    served.until_signal().await;
    Ok(())
}

/// lycee-b's course: a small maths course with an idnumber (made once).
async fn maths_course(p: &Platform) -> Result<pf_domain::ids::CourseId, AppError> {
    const SHORTNAME: &str = "DEMO-MATHS-FN";
    let actor = admin(p).await?;
    if let Ok(c) = p.store.course_by_shortname(SHORTNAME).await {
        return Ok(c.id);
    }
    let category = p
        .store
        .create_category(NewCategory {
            parent: None,
            name: "Shared courses".into(),
            idnumber: "SHARED".into(),
            visible: true,
        })
        .await?;
    let form = courses::CourseForm {
        fullname: "Maths: functions and graphs".into(),
        shortname: SHORTNAME.into(),
        idnumber: String::new(),
        category: category.0,
        summary: "<p>A sample course of lycee-b, shared on the common platform.</p>".into(),
        format: Some("topics".into()),
        visible: Some(true),
        guest_access: Some(false),
        lang: String::new(),
    };
    let course = courses::create(p, &actor, form).await?;
    let section = p
        .store
        .sections(course)
        .await?
        .first()
        .map(|s| s.id)
        .ok_or_else(|| AppError::internal("no general section"))?;
    courses::add_activity(
        p,
        &actor,
        NewActivity {
            course,
            section,
            module: "label".into(),
            name: "Welcome".into(),
            intro: "<p>Plot <em>f(x) = x²</em> and describe what you see.</p>".into(),
            visible: true,
            payload: serde_json::json!({}),
        },
    )
    .await?;
    courses::index(p, &actor, course, "local").await?;
    Ok(course)
}

/// The demo teacher of lycee-a: admin-managed profile fields, an assigned category where they
/// may create courses. Returns the password.
async fn teacher(p: &Platform) -> Result<String, AppError> {
    let actor = admin(p).await?;
    for field in FIELDS.iter().chain(&["assigned_category"]) {
        profile::define(p, &actor, field, FieldEditor::Admin).await?;
    }
    let category = match p
        .store
        .categories()
        .await?
        .into_iter()
        .find(|c| c.idnumber == ASSIGNED)
    {
        Some(c) => c.id,
        None => {
            p.store
                .create_category(NewCategory {
                    parent: None,
                    name: "Ms Martin's courses".into(),
                    idnumber: ASSIGNED.into(),
                    visible: true,
                })
                .await?
        }
    };
    let password = pf_server::password::generate();
    let form = UserForm {
        username: TEACHER.into(),
        password: Some(password.clone()),
        email: format!("{TEACHER}@lycee-a.example"),
        fullname: "Claire Martin".into(),
        lang: String::new(),
        roles: vec![(RoleName::CourseCreator, Context::Category(category))],
        profile: vec![
            ("establishment_type".into(), "lycee".into()),
            ("discipline".into(), "physics".into()),
            ("assigned_category".into(), ASSIGNED.into()),
        ],
    };
    match p.store.local_user(&Username::parse(TEACHER)?).await {
        // A rerun after logins.json lost the password: a new one.
        Ok(u) => {
            let hash = pf_server::password::hash(&password)?;
            p.store.set_password_hash(u.id, &hash).await?;
        }
        Err(_) => {
            users::create(p, &actor, form).await?;
        }
    }
    Ok(password)
}

/// The catalog's copy of an establishment's course: published now, or found from an earlier run.
async fn published(
    cat: &Platform,
    home: &Platform,
    course: pf_domain::ids::CourseId,
) -> Result<i64, AppError> {
    let idnumber = home.store.course(course).await?.idnumber;
    let all = cat
        .store
        .courses(CourseQuery {
            include_hidden: true,
            limit: i64::MAX,
            ..CourseQuery::default()
        })
        .await?;
    if let Some(c) = all.iter().find(|c| c.idnumber == idnumber) {
        return Ok(c.id.0);
    }
    let actor = admin(home).await?;
    let request = OperationRequest {
        course: course.0,
        peer: Some("common".into()),
        mode: None,
        category: None,
        deploy_key: None,
        idempotency_key: None,
        accept_terms: false,
    };
    let job = ops::start(home, &actor, Operation::Publish, request).await?;
    let doc = super::jobs::follow(home, &actor, job.id).await?;
    super::jobs::finished(&doc)?;
    doc.result
        .as_ref()
        .and_then(|r| r["course_id"].as_i64())
        .ok_or_else(|| AppError::internal("the publication made no course"))
}

/// The catalog's rules (once) and the fields it trusts from each establishment: lycee-a's
/// course for every lycée, deployable by maths and physics teachers; lycee-b's for every lycée,
/// deployable by maths teachers only.
async fn share(cat: &Platform, courses: &[(&Platform, i64); 2]) -> Result<(), AppError> {
    let actor = admin(cat).await?;
    let peers = cat.store.peers().await?;
    for (home, _) in courses {
        let key = home.identity.key_id();
        if let Some(peer) = peers.iter().find(|p| p.key_id == key.as_str()) {
            rules::trust(cat, &actor, peer.id, &FIELDS.join(",")).await?;
        }
    }
    if !cat.store.rules().await?.is_empty() {
        return Ok(());
    }
    let [(_, a), (_, b)] = courses;
    let wanted = [
        (*a, RuleGrant::Consult, "establishment_type = lycee"),
        (*a, RuleGrant::Deploy, "discipline in [maths, physics]"),
        (*b, RuleGrant::Consult, "establishment_type = lycee"),
        (*b, RuleGrant::Deploy, "discipline = maths"),
    ];
    for (course, grant, rule) in wanted {
        let context = Context::Course(pf_domain::ids::CourseId(course));
        rules::add(cat, &actor, context, grant, rule).await?;
    }
    Ok(())
}
