//! Catalog indexing (SPEC §5.1): the `catalog` strategy of `course index`, both sides of the
//! signed `POST /rpc/index` call, the search over names and indexing metadata, and the terms of
//! use a deployer accepts.
//!
//! A factory asks a catalog (acting for its user, admitted like a publication) to allocate an
//! idnumber unique on that catalog, prefixed with the catalog's short name; the catalog keeps the
//! descriptive metadata under that idnumber (`Store::reserve_index`), so every version published
//! under it carries them, and the factory keeps its own copy (`Store::put_index`).

use super::admission::{admit, landing_context, remote_label};
use super::{courses, now, Actor};
use crate::error::AppError;
use crate::platform::Platform;
use crate::rpc::PeerCaller;
use pf_api::ErrorCode;
use pf_domain::access::{Capability, Context};
use pf_domain::admission::Operation;
use pf_domain::course::IdNumber;
use pf_domain::ids::CourseId;
use pf_domain::user::Username;
use pf_store::{CourseRecord, CourseUpdate, IndexEntry, NewAudit, PeerRecord};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Longest metadata field, in characters (summary and terms).
const MAX_LONG: usize = 20_000;
/// Longest short metadata field (authors, licence, level, discipline).
const MAX_SHORT: usize = 1_000;

/// The descriptive metadata recorded with a catalog idnumber.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexMeta {
    /// Authors.
    #[serde(default)]
    pub authors: String,
    /// Licence.
    #[serde(default)]
    pub licence: String,
    /// Terms of use a deployer must accept (empty: none).
    #[serde(default)]
    pub terms: String,
    /// Level.
    #[serde(default)]
    pub level: String,
    /// Discipline.
    #[serde(default)]
    pub discipline: String,
    /// Summary.
    #[serde(default)]
    pub summary: String,
}

impl IndexMeta {
    /// Trims every field and checks its length and characters (no control characters but line
    /// breaks and tabs in the long fields).
    pub fn parse(self) -> Result<IndexMeta, AppError> {
        let field = |name: &str, v: String, max: usize, multiline: bool| {
            let v = v.trim().to_string();
            if v.chars().count() > max {
                return Err(AppError::bad_request(format!(
                    "{name} is longer than {max} characters"
                )));
            }
            let bad = |c: char| c.is_control() && !(multiline && matches!(c, '\n' | '\r' | '\t'));
            if v.chars().any(bad) {
                return Err(AppError::bad_request(format!(
                    "{name} holds control characters"
                )));
            }
            Ok(v)
        };
        Ok(IndexMeta {
            authors: field("authors", self.authors, MAX_SHORT, false)?,
            licence: field("licence", self.licence, MAX_SHORT, false)?,
            terms: field("terms", self.terms, MAX_LONG, true)?,
            level: field("level", self.level, MAX_SHORT, false)?,
            discipline: field("discipline", self.discipline, MAX_SHORT, false)?,
            summary: field("summary", self.summary, MAX_LONG, true)?,
        })
    }

    fn entry(&self, idnumber: &str, source: &str) -> IndexEntry {
        IndexEntry {
            idnumber: idnumber.into(),
            source: source.into(),
            authors: self.authors.clone(),
            licence: self.licence.clone(),
            terms: self.terms.clone(),
            level: self.level.clone(),
            discipline: self.discipline.clone(),
            summary: self.summary.clone(),
            created_at: now(),
        }
    }
}

/// The body of `POST /rpc/index`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocateRequest {
    /// The course's full name on the factory (audited).
    pub fullname: String,
    /// The metadata to keep.
    pub meta: IndexMeta,
    /// The capabilities the acting user holds on the course (admission (b)).
    #[serde(default)]
    pub asserted: Vec<Capability>,
}

/// The answer of `POST /rpc/index`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Allocated {
    /// The allocated idnumber.
    pub idnumber: String,
    /// The catalog's name.
    pub catalog: String,
}

/// The prefix of a catalog's idnumbers: its short name, letters and digits only, upper case.
pub fn catalog_prefix(name: &str) -> String {
    let p: String = name
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(20)
        .collect::<String>()
        .to_ascii_uppercase();
    if p.is_empty() {
        "CATALOG".into()
    } else {
        p
    }
}

/// `course index COURSE --strategy catalog [--catalog PEER]`: asks the catalog for an idnumber
/// and records it with the metadata; a course that has one keeps it.
pub async fn index_via_catalog(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
    catalog: Option<&str>,
    meta: IndexMeta,
) -> Result<IdNumber, AppError> {
    let record = p.store.course(course).await?;
    p.require(actor, Capability::CourseUpdate, Context::Course(course))
        .await?;
    let meta = meta.parse()?;
    if !record.idnumber.is_empty() {
        return Ok(record.idnumber);
    }
    let peer = super::publishing::ops::target_peer(p, Operation::Publish, catalog).await?;
    let user = actor
        .user
        .as_ref()
        .ok_or_else(|| AppError::forbidden(Capability::CourseUpdate))?;
    let body = AllocateRequest {
        fullname: record.fullname.as_str().into(),
        meta: meta.clone(),
        asserted: super::publishing::send::source_capabilities(
            p,
            actor,
            Operation::Publish,
            course,
        )
        .await?,
    };
    let answer: Allocated = PeerCaller::new(p)?
        .post_json(&peer, "/rpc/index", &body, Some(&user.username))
        .await?;
    let code = IdNumber::parse(&answer.idnumber)
        .map_err(|e| AppError::new(ErrorCode::Failed, format!("{} answered: {e}", peer.name)))?;
    p.store
        .put_index(&meta.entry(code.as_str(), &peer.key_id))
        .await?;
    p.store
        .update_course(
            course,
            CourseUpdate {
                idnumber: Some(code.clone()),
                ..Default::default()
            },
        )
        .await?;
    let details = serde_json::json!({ "idnumber": code.as_str(), "strategy": "catalog", "catalog": peer.name });
    p.audit(actor, "course.index", format!("course:{course}"), details)
        .await?;
    Ok(code)
}

/// The catalog's side of `POST /rpc/index`: admitted like a publication (dry run: no account is
/// made), then an idnumber unique here is reserved with the metadata.
pub async fn allocate(
    p: &Platform,
    peer: &PeerRecord,
    username: &Username,
    req: AllocateRequest,
) -> Result<Allocated, AppError> {
    if !p.role().await?.duties().catalog {
        return Err(AppError::new(
            ErrorCode::NotAdmitted,
            "this platform is not a catalog: it allocates no idnumbers",
        ));
    }
    let meta = req.meta.parse()?;
    let context = landing_context(p, Operation::Publish, None, None).await?;
    admit(
        p,
        peer,
        username,
        Operation::Publish,
        context,
        &req.asserted,
        false,
    )
    .await?;
    let name = p.name().await?;
    let prefix = catalog_prefix(&name);
    for _ in 0..32 {
        let mut random = [0u8; 10];
        rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut random);
        let code = format!("{prefix}-{}", IdNumber::local_code(random));
        let code = IdNumber::parse(&code)?;
        if p.store
            .reserve_index(&meta.entry(code.as_str(), &peer.key_id))
            .await?
        {
            let at = now();
            p.store
                .append_audit(NewAudit {
                    at,
                    actor: remote_label(username, peer),
                    action: "index.allocate".into(),
                    target: format!("idnumber:{code}"),
                    peer: Some(peer.id),
                    job: None,
                    result: "ok".into(),
                    details: serde_json::json!({ "fullname": req.fullname }),
                })
                .await?;
            return Ok(Allocated {
                idnumber: code.as_str().into(),
                catalog: name,
            });
        }
    }
    Err(AppError::internal("no free idnumber after 32 draws"))
}

/// The source (key id) an idnumber was allocated to on this catalog, if it was: before its
/// first publication the series belongs to that source (others get `idnumber_taken`).
pub async fn reserved_by(p: &Platform, idnumber: &str) -> Result<Option<String>, AppError> {
    if !p.role().await?.duties().catalog {
        return Ok(None);
    }
    Ok(p.store
        .index_entry(idnumber)
        .await?
        .map(|e| e.source)
        .filter(|s| !s.is_empty()))
}

/// The indexing metadata of a course (by its idnumber), when it has some here.
pub async fn meta_of(p: &Platform, course: &CourseRecord) -> Result<Option<IndexEntry>, AppError> {
    if course.idnumber.is_empty() {
        return Ok(None);
    }
    Ok(p.store.index_entry(course.idnumber.as_str()).await?)
}

/// The terms of use of a course a catalog deploys, when it has some (a factory's own copy of
/// the metadata does not gate its deploys for test).
pub async fn terms_of(p: &Platform, course: &CourseRecord) -> Result<Option<IndexEntry>, AppError> {
    if !p.role().await?.duties().catalog {
        return Ok(None);
    }
    meta_of(p, course).await
}

/// Refuses a deploy of a course whose terms of use were not accepted.
pub async fn check_terms(
    p: &Platform,
    course: &CourseRecord,
    accepted: bool,
) -> Result<(), AppError> {
    match terms_of(p, course).await? {
        Some(e) if !e.terms.is_empty() && !accepted => Err(AppError::bad_request(
            "this course has terms of use: read them and accept them to deploy (--accept-terms)",
        )),
        _ => Ok(()),
    }
}

fn matches(words: &[String], c: &CourseRecord, meta: Option<&IndexEntry>) -> bool {
    let mut hay = format!(
        "{} {} {} {}",
        c.fullname.as_str(),
        c.shortname.as_str(),
        c.idnumber.as_str(),
        c.summary
    );
    if let Some(e) = meta {
        for f in [&e.authors, &e.licence, &e.level, &e.discipline, &e.summary] {
            hay.push(' ');
            hay.push_str(f);
        }
    }
    let hay = hay.to_lowercase();
    words.iter().all(|w| hay.contains(w.as_str()))
}

/// The courses the actor may see listed whose names, idnumber, summary or indexing metadata hold
/// every word of `q` (case-insensitive); a page of them and their count.
pub async fn search(
    p: &Platform,
    actor: &Actor,
    q: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<CourseRecord>, i64), AppError> {
    let words: Vec<String> = q
        .split_whitespace()
        .take(16)
        .map(str::to_lowercase)
        .collect();
    let (all, _) = courses::list(p, actor, None, 0, i64::MAX).await?;
    let meta: HashMap<String, IndexEntry> = p
        .store
        .index_entries()
        .await?
        .into_iter()
        .map(|e| (e.idnumber.clone(), e))
        .collect();
    let found: Vec<CourseRecord> = all
        .into_iter()
        .filter(|c| matches(&words, c, meta.get(c.idnumber.as_str())))
        .collect();
    let total = found.len() as i64;
    let page = found
        .into_iter()
        .skip(offset.max(0) as usize)
        .take(limit.max(0) as usize)
        .collect();
    Ok((page, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prefix_is_the_catalogs_short_name() {
        assert_eq!(catalog_prefix("cat"), "CAT");
        assert_eq!(catalog_prefix("Main catalog #2"), "MAINCATALOG2");
        assert_eq!(catalog_prefix("--"), "CATALOG");
    }

    #[test]
    fn metadata_is_trimmed_and_bounded() {
        let ok = IndexMeta {
            authors: "  Ada ".into(),
            terms: "line one\nline two".into(),
            ..Default::default()
        }
        .parse()
        .unwrap();
        assert_eq!(ok.authors, "Ada");
        let bad = IndexMeta {
            level: "a\nb".into(),
            ..Default::default()
        };
        assert!(bad.parse().is_err());
        let long = IndexMeta {
            authors: "x".repeat(MAX_SHORT + 1),
            ..Default::default()
        };
        assert!(long.parse().is_err());
    }
}
