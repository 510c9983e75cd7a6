//! The receiver's side of a transfer: accepting an offer (signature first, then the caps,
//! admission in the landing context, the publication plan) and the `receive` job that pulls,
//! restores from the parts ([`super::restore`]) and commits the course in one transaction.

use super::pull::{self, Source};
use super::transport;
use super::{verify_manifest, Offer, CURATION, DEPLOY_ROLE};
use crate::error::AppError;
use crate::jobs::{JobContext, JobError, JobFuture, JobHandler};
use crate::platform::Platform;
use crate::services::admission::{admit, landing_context};
use crate::services::archives::import::course_tree;
use crate::services::archives::Scratch;
use crate::services::jobs::{enqueue, JobRequest};
use crate::services::{now, Actor, Via};
use pf_api::ErrorCode;
use pf_domain::access::Context;
use pf_domain::admission::Operation;
use pf_domain::course::IdNumber;
use pf_domain::ids::{CourseId, PeerId, UserId};
use pf_domain::job::{JobState, Progress};
use pf_domain::publication::{self, Plan, PublishMode, Refusal, Series, Version};
use pf_domain::user::Username;
use pf_store::{JobRecord, Lineage, NewVersion, PeerRecord, ReceivedArchive, ReceivedCourse};
use serde::{Deserialize, Serialize};

/// The job kind of the receiving side.
pub const KIND: &str = "receive";

/// What the receiving job needs (its params).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Params {
    pub(crate) offer: Offer,
    pub(crate) peer: i64,
    pub(crate) account: i64,
    /// The acting user's username on the calling peer (the account may be a linked local one).
    pub(crate) username: String,
    pub(crate) actor: String,
    pub(crate) category: i64,
    /// Set when the peer acts for one of our own users under our delegation (SPEC §8): the id
    /// of that delegation; the account is then our local user.
    #[serde(default)]
    pub(crate) delegation: Option<String>,
}

/// A refusal of the publication rules as the error users see.
pub fn refusal(r: Refusal, idnumber: &str) -> AppError {
    let (code, message) = match r {
        Refusal::NoIdnumber => (
            ErrorCode::BadRequest,
            "the course has no idnumber: index it first".to_string(),
        ),
        Refusal::IdnumberTaken => (
            ErrorCode::IdnumberTaken,
            format!("idnumber {idnumber} belongs to another source's series"),
        ),
        Refusal::AlreadyPublished => (
            ErrorCode::AlreadyPublished,
            format!("{idnumber} is already published: use republish or update"),
        ),
        Refusal::NotPublished => (
            ErrorCode::UnknownRecord,
            format!("{idnumber} is not published here"),
        ),
    };
    AppError::new(code, message)
}

/// The catalog's plan for a publication request from `source` (a peer's key id).
pub async fn plan_for(
    p: &Platform,
    mode: PublishMode,
    idnumber: &str,
    source: &str,
) -> Result<Plan, AppError> {
    let series = p.store.publication_series(idnumber).await?.map(|s| Series {
        owner: s.source,
        linked: s.linked,
        versions: s
            .versions
            .iter()
            .map(|(number, course, visible)| Version {
                number: *number,
                course: *course,
                visible: *visible,
            })
            .collect(),
    });
    // An idnumber this catalog allocated belongs to the source that asked for it (SPEC §5.1).
    let series = match series {
        None => crate::services::catalog::reserved_by(p, idnumber)
            .await?
            .map(|owner| Series {
                owner,
                linked: Vec::new(),
                versions: Vec::new(),
            }),
        some => some,
    };
    let curated = p.setting_i64(CURATION, 0).await? == 1;
    publication::plan(mode, idnumber, source, series.as_ref(), curated)
        .map_err(|r| refusal(r, idnumber))
}

/// Accepts an offer from `peer` for its user `username`: verifies, admits, and enqueues (or finds,
/// for a retried offer) the receiving job.
pub async fn accept_offer(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
    offer: Offer,
) -> Result<JobRecord, AppError> {
    let manifest = verify_manifest(p, &peer.public_key, &offer.manifest, &offer.signature).await?;
    if let Ok(existing) = p.store.job_by_key(&offer.idempotency_key).await {
        if existing.kind == KIND && existing.peer == Some(peer.id) {
            return Ok(existing);
        }
        return Err(AppError::new(
            ErrorCode::Conflict,
            "this idempotency key names another operation here",
        ));
    }
    if offer.operation == Operation::Sessions {
        return Err(AppError::bad_request("sessions are not transfers"));
    }
    let category = match offer.operation {
        Operation::Deploy => offer.category,
        _ => None,
    };
    let context = landing_context(p, offer.operation, category, None).await?;
    let Context::Category(category) = context else {
        return Err(AppError::internal("a transfer lands in a category"));
    };
    let admission = admit(
        p,
        peer,
        username,
        offer.operation,
        context,
        &offer.asserted,
        true,
    )
    .await?;
    let account = admission
        .account
        .ok_or_else(|| AppError::internal("admitted without an account"))?;
    let serial = if offer.operation == Operation::Publish {
        let mode = offer.mode.unwrap_or(PublishMode::Publish);
        plan_for(p, mode, &manifest.idnumber, &peer.key_id).await?;
        Some(format!("series:{}", manifest.idnumber))
    } else {
        None
    };
    let actor = Actor::user(account.clone(), Via::Api);
    let key = offer.idempotency_key.clone();
    let params = Params {
        offer,
        peer: peer.id.0,
        account: account.id.0,
        username: username.to_string(),
        actor: admission.label,
        category: category.0,
        delegation: None,
    };
    let (job, _) = enqueue(
        p,
        &actor,
        JobRequest {
            kind: KIND.into(),
            params: serde_json::to_value(&params).map_err(AppError::internal)?,
            idempotency_key: Some(key),
            serial_key: serial,
            throttle_class: Some("restore".into()),
        },
    )
    .await?;
    p.store.set_job_peer(job.id, peer.id).await?;
    Ok(p.store.job(job.id).await?)
}

/// The `receive` job.
pub struct Receive;

impl JobHandler for Receive {
    fn run(&self, ctx: JobContext) -> JobFuture {
        Box::pin(async move { run(ctx).await })
    }
}

fn result_of(
    p_name: &str,
    course: i64,
    shortname: &str,
    version: Option<i64>,
) -> serde_json::Value {
    serde_json::json!({ "platform": p_name, "course_id": course, "shortname": shortname, "version": version })
}

async fn run(ctx: JobContext) -> Result<serde_json::Value, JobError> {
    let p = ctx.platform.clone();
    let job = ctx.job().clone();
    let params: Params = serde_json::from_value(job.params.clone())
        .map_err(|e| JobError::Final(AppError::internal(e)))?;
    let me = p.name().await?;
    // Idempotent: a commit that happened before a crash is found by its job key.
    if let Some(edge) = p.store.lineage_by_key(&job.idempotency_key).await? {
        let course = p.store.course(CourseId(edge.target_course)).await?;
        return Ok(result_of(
            &me,
            course.id.0,
            course.shortname.as_str(),
            edge.version,
        ));
    }
    let peer = p.store.peer(PeerId(params.peer)).await?;
    let offer = &params.offer;
    let manifest = verify_manifest(&p, &peer.public_key, &offer.manifest, &offer.signature).await?;
    // Recheck the acting user's admission now that the job starts.
    let account = p.store.user(UserId(params.account)).await?;
    let username = Username::parse(&params.username)?;
    let context = Context::Category(pf_domain::ids::CategoryId(params.category));
    if params.delegation.is_some() {
        // Our own user, under our delegation: they need `course:create` there, as for every deploy.
        let actor = Actor::user(account.clone(), Via::Api);
        p.require(&actor, pf_domain::access::Capability::CourseCreate, context)
            .await?;
    } else {
        admit(
            &p,
            &peer,
            &username,
            offer.operation,
            context,
            &offer.asserted,
            false,
        )
        .await?;
    }
    let (version, visible) = match offer.operation {
        Operation::Publish => {
            let mode = offer.mode.unwrap_or(PublishMode::Publish);
            match plan_for(&p, mode, &manifest.idnumber, &peer.key_id).await? {
                Plan::Restore {
                    number,
                    visible,
                    hide,
                } => (
                    Some(NewVersion {
                        idnumber: manifest.idnumber.clone(),
                        source: peer.key_id.clone(),
                        number,
                        hide,
                    }),
                    visible,
                ),
                _ => {
                    return Err(JobError::Final(AppError::bad_request(
                        "this mode moves no archive",
                    )))
                }
            }
        }
        _ => (None, false),
    };
    let missing = pull::missing_parts(&p, &manifest)?;
    let needed: u64 = missing.iter().map(|x| x.size).sum();
    pull::check_free_space(&p, needed)?;
    let mut choice =
        transport::choose(&p.config.transfer, &offer.transports, manifest.total_size());
    ctx.enter(JobState::Transferring).await?;
    let mut progress = Progress {
        bytes_done: 0,
        bytes_total: needed as i64,
        steps_done: 0,
        steps_total: missing.len() as i64 + 1,
        step: format!("pulling {} parts from {}", missing.len(), peer.name),
    };
    ctx.progress(&progress).await?;
    let staging = pull::staging_for(&p, &job.idempotency_key)?;
    let mut source = Source {
        peer: &peer,
        archive: offer.archive,
        ticket: offer.ticket.clone(),
    };
    progress =
        transport::pull_parts(&ctx, &mut choice, &mut source, &missing, &staging, progress).await?;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    ctx.check_cancel().await?;
    ctx.enter(JobState::Restoring).await?;
    tracing::info!(job = %job.id, parts = missing.len(), bytes = needed, "parts pulled; restoring");
    progress.step = "restoring".into();
    ctx.progress(&progress).await?;
    let promoted = super::restore::from_parts(&p, &manifest).await?;
    tracing::info!(job = %job.id, "archive imported; committing");
    let mut tree = course_tree(&promoted.archive, context_category(context))?;
    tree.course.visible = visible;
    tree.course.idnumber = IdNumber::parse(&manifest.idnumber)?;
    let enrol = if offer.operation == Operation::Deploy {
        let role = p
            .store
            .setting(DEPLOY_ROLE)
            .await?
            .unwrap_or_else(|| "editingteacher".into());
        Some((account.id, role))
    } else {
        None
    };
    let version_number = version.as_ref().map(|v| v.number);
    let skeleton = manifest
        .skeleton_part()
        .map(|x| x.sha256.clone())
        .unwrap_or_default();
    // Tests only (`[transfer] test_hold_*`): a pause here lets a test cancel the running job;
    // one inside the transaction lets a test kill the process in the middle of the restore.
    let ms = |v: u64| (v > 0).then(|| std::time::Duration::from_millis(v));
    if let Some(pause) = ms(p.config.transfer.test_hold_before_commit_ms) {
        tokio::time::sleep(pause).await;
    }
    let hold = ms(p.config.transfer.test_hold_in_commit_ms);
    if let Some(hold) = hold {
        tracing::warn!(job = %job.id, ?hold, "test setting: holding the restore transaction open");
    }
    // A cancel that arrives from here on is too late: the course commits and the job ends done.
    ctx.check_cancel().await?;
    progress.step = "committing".into();
    ctx.progress(&progress).await?;
    let created = p
        .store
        .receive_course_holding(
            ReceivedCourse {
                tree,
                archive: ReceivedArchive {
                    manifest: offer.manifest.clone(),
                    skeleton_sha256: skeleton,
                    size: manifest.total_size() as i64,
                    sha256: manifest.whole_sha256(),
                    signature: offer.signature.clone(),
                },
                version,
                enrol,
                lineage: Lineage {
                    operation: super::kind_of(offer.operation).into(),
                    source_platform: peer.name.clone(),
                    source_key: peer.key_id.clone(),
                    source_course: offer.source_course,
                    archive_sha256: manifest.whole_sha256(),
                    archive_counter: manifest.archive_counter as i64,
                    version: version_number,
                    target_platform: me.clone(),
                    target_key: p.identity.key_id().to_string(),
                    target_course: 0,
                    local_course: 0,
                    actor: params.actor.clone(),
                    job_key: job.idempotency_key.clone(),
                    created_at: now(),
                },
            },
            hold,
        )
        .await?;
    p.audit(
        &Actor::user(account, Via::Api),
        &format!("{}.receive", super::kind_of(offer.operation)),
        format!("course:{}", created.id),
        serde_json::json!({
            "job": job.id.0, "key": job.idempotency_key, "peer": peer.name,
            "source_course": offer.source_course, "archive": manifest.whole_sha256(),
            "version": version_number, "parts_pulled": missing.len(), "bytes_pulled": needed,
            "transport": transport::name(choice.transport), "notes": choice.notes,
            "had_users": promoted.archive.base.info.had_users,
        }),
    )
    .await?;
    let hook = if offer.operation == Operation::Deploy {
        after_deploy(
            &p,
            &created,
            &manifest,
            context_category(context),
            &peer.name,
            &params.actor,
        )
        .await?
    } else {
        None
    };
    if offer.operation == Operation::Retrofit {
        if let Err(e) = super::notify::retrofitted(&p, created.id, &params.actor).await {
            tracing::warn!(course = %created.id, error = %e.message, "could not tell the authors");
        }
    }
    progress.steps_done = progress.steps_total;
    progress.step = "done".into();
    ctx.progress(&progress).await?;
    let mut result = result_of(
        &me,
        created.id.0,
        created.shortname.as_str(),
        version_number,
    );
    if let Some(h) = hook {
        result["hook"] = h;
    }
    if !choice.notes.is_empty() {
        result["notes"] = serde_json::json!(choice.notes);
    }
    Ok(result)
}

/// Runs the post-deploy hook (with the archive reassembled as a `.mbz` for a hook program);
/// a failure flags the course (kept) and is reported, never fatal.
pub(super) async fn after_deploy(
    p: &Platform,
    created: &pf_store::ImportedCourse,
    manifest: &pf_mbz::TransportManifest,
    category: pf_domain::ids::CategoryId,
    source: &str,
    user: &str,
) -> Result<Option<serde_json::Value>, AppError> {
    let category = p.store.category(category).await?;
    let scratch = Scratch::new(p)?;
    let mbz = scratch.path().join("deployed.mbz");
    if super::hook::wants_mbz(p) {
        super::assemble_to(p, manifest, &mbz).await?;
    }
    let input = super::hook::HookInput {
        course_id: created.id.0,
        idnumber: &manifest.idnumber,
        category_idnumber: category.idnumber.as_str(),
        source,
        user,
        mbz: &mbz,
    };
    let Some(doc) = super::hook::run(p, input).await? else {
        return Ok(None);
    };
    if doc["ok"] != true {
        p.store.flag_hook_failed(created.id).await?;
    }
    p.store
        .append_audit(pf_store::NewAudit {
            at: now(),
            actor: user.to_string(),
            action: "deploy.hook".into(),
            target: format!("course:{}", created.id),
            peer: None,
            job: None,
            result: if doc["ok"] == true {
                "ok".into()
            } else {
                "hook_failed".into()
            },
            details: serde_json::json!({ "status": doc["status"], "error": doc["error"] }),
        })
        .await?;
    Ok(Some(doc))
}

fn context_category(c: Context) -> pf_domain::ids::CategoryId {
    match c {
        Context::Category(id) => id,
        _ => pf_domain::ids::CategoryId(0),
    }
}
