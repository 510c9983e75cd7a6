//! The sessions list (SPEC §5.7): for an idnumber, every copy the network knows — platform,
//! course, version, visible, state — gathered from this platform and from each active peer over
//! the signed `GET /rpc/sessions`. A peer that does not answer is listed as unavailable, never
//! an error. A training copy knows where it came from (its deploy edge), so the list can give it
//! its version and say when the catalog holds a newer one. Platforms are matched by key id,
//! never by name (names are not unique, `services::peer_keys`).

use super::peer_keys::Me;
use super::Actor;
use crate::error::AppError;
use crate::platform::{settings, Platform};
use crate::rpc::PeerCaller;
use pf_domain::access::{Capability, Context};
use pf_domain::ids::CourseId;
use pf_store::{CourseQuery, PeerStatus};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// How long a peer may take to list its copies (a page waits for the answers).
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Where a copy came from (its incoming lineage edge).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopySource {
    /// The source platform's name (display).
    pub platform: String,
    /// The source platform's key id (what the list matches by; empty when unknown).
    #[serde(default)]
    pub key: String,
    /// The course there.
    pub course_id: i64,
    /// `publish`, `deploy` or `retrofit`.
    pub operation: String,
}

/// One copy of a course, as `/rpc/sessions` and `course sessions` show it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CopyDoc {
    /// The course id on its platform.
    pub course_id: i64,
    /// Short name.
    pub shortname: String,
    /// Full name.
    pub fullname: String,
    /// Its category there.
    pub category: i64,
    /// Visible.
    pub visible: bool,
    /// The publication version (catalog copies; training copies get their source's).
    #[serde(default)]
    pub version: Option<i64>,
    /// Training platforms: `incoming`, `running`, `closed` or `other` (the session state);
    /// elsewhere the platform's duty (`catalog`, `factory`).
    #[serde(default)]
    pub state: String,
    /// Where it came from, when a transfer made it.
    #[serde(default)]
    pub source: Option<CopySource>,
    /// Set by the list: a newer version exists on the copy's catalog.
    #[serde(default)]
    pub newer_version: Option<i64>,
    /// The names of a hidden copy withheld from a peer that has no part in its lineage
    /// (`services::copies_exposure`).
    #[serde(default)]
    pub names_withheld: bool,
}

/// One platform's answer in the list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PlatformCopies {
    /// The platform's name.
    pub platform: String,
    /// Its key id: this platform's own, or the peer's as recorded at pairing (never what an
    /// answer claims).
    #[serde(default)]
    pub key: String,
    /// The peer id here (null for this platform).
    pub peer_id: Option<i64>,
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why it is unavailable.
    pub error: Option<serde_json::Value>,
    /// Its copies.
    pub copies: Vec<CopyDoc>,
}

/// The sessions list of a course's idnumber.
#[derive(Debug, Clone, Serialize)]
pub struct SessionsList {
    /// The course asked about.
    pub course_id: i64,
    /// Its idnumber.
    pub idnumber: String,
    /// This platform first, then each peer.
    pub platforms: Vec<PlatformCopies>,
}

/// The answer of `GET /rpc/sessions`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LocalCopies {
    /// This platform's name.
    pub platform: String,
    /// This platform's key id.
    #[serde(default)]
    pub key: String,
    /// Its copies.
    pub copies: Vec<CopyDoc>,
}

/// This platform's copies of an idnumber (hidden ones included).
pub async fn local_copies(p: &Platform, idnumber: &str) -> Result<LocalCopies, AppError> {
    let (me, copies) = copies_with_paths(p, idnumber).await?;
    Ok(LocalCopies {
        platform: me.name,
        key: me.key,
        copies: copies.into_iter().map(|(c, _)| c).collect(),
    })
}

/// This platform's copies of an idnumber, each with the key ids of the platforms on its lineage
/// (the ends of the edges that touch it).
pub(crate) async fn copies_with_paths(
    p: &Platform,
    idnumber: &str,
) -> Result<(Me, Vec<(CopyDoc, Vec<String>)>), AppError> {
    let idnumber = idnumber.trim();
    if idnumber.is_empty() || idnumber.len() > 255 {
        return Err(AppError::bad_request("an idnumber is 1 to 255 characters"));
    }
    let me = Me::of(p).await?;
    let duties = p.role().await?.duties();
    let setting = |key: &'static str| async move {
        Ok::<_, AppError>(
            p.store
                .setting(key)
                .await?
                .and_then(|v| v.parse::<i64>().ok()),
        )
    };
    let (incoming, running, closed) = (
        setting(settings::LANDING_CATEGORY).await?,
        setting(settings::RUNNING_CATEGORY).await?,
        setting(settings::CLOSED_CATEGORY).await?,
    );
    let versions: HashMap<i64, i64> = match p.store.publication_series(idnumber).await? {
        Some(s) => s.versions.iter().map(|(n, c, _)| (c.0, *n)).collect(),
        None => HashMap::new(),
    };
    let all = p
        .store
        .courses(CourseQuery {
            include_hidden: true,
            limit: i64::MAX,
            ..CourseQuery::default()
        })
        .await?;
    let mut copies = Vec::new();
    for c in all.into_iter().filter(|c| c.idnumber.as_str() == idnumber) {
        let edges = p.store.lineage(c.id).await?;
        let path: Vec<String> = edges
            .iter()
            .flat_map(|l| {
                [
                    me.key_of(&l.source_key, &l.source_platform),
                    me.key_of(&l.target_key, &l.target_platform),
                ]
            })
            .filter(|k| !k.is_empty())
            .collect();
        let source = edges
            .into_iter()
            .rev()
            .find(|l| l.target_course == c.id.0 && me.is(&l.target_key, &l.target_platform))
            .map(|l| CopySource {
                key: me.key_of(&l.source_key, &l.source_platform),
                platform: l.source_platform,
                course_id: l.source_course,
                operation: l.operation,
            });
        let cat = Some(c.category.0);
        let state = if duties.training {
            if cat == incoming {
                "incoming"
            } else if cat == running {
                "running"
            } else if cat == closed {
                "closed"
            } else {
                "other"
            }
        } else if duties.catalog {
            "catalog"
        } else {
            "factory"
        };
        copies.push((
            CopyDoc {
                course_id: c.id.0,
                shortname: c.shortname.as_str().into(),
                fullname: c.fullname.as_str().into(),
                category: c.category.0,
                visible: c.visible,
                version: versions.get(&c.id.0).copied(),
                state: state.into(),
                source,
                newer_version: None,
                names_withheld: false,
            },
            path,
        ));
    }
    Ok((me, copies))
}

/// Gives training copies their source's version and the newest version their catalog holds,
/// matching a copy's source to the platform with its key (a source recorded without a key is
/// matched by name only when exactly one platform of the list bears it).
fn resolve_versions(platforms: &mut [PlatformCopies]) {
    let mut version_of: HashMap<(String, i64), i64> = HashMap::new();
    let mut newest: HashMap<String, i64> = HashMap::new();
    let mut keys_by_name: HashMap<String, Vec<String>> = HashMap::new();
    for pc in platforms.iter() {
        keys_by_name
            .entry(pc.platform.clone())
            .or_default()
            .push(pc.key.clone());
        for c in &pc.copies {
            if let Some(v) = c.version {
                version_of.insert((pc.key.clone(), c.course_id), v);
                let n = newest.entry(pc.key.clone()).or_insert(v);
                *n = (*n).max(v);
            }
        }
    }
    for pc in platforms.iter_mut() {
        for c in pc.copies.iter_mut() {
            let Some(src) = &c.source else { continue };
            let key = if src.key.is_empty() {
                match keys_by_name.get(&src.platform).map(Vec::as_slice) {
                    Some([only]) => only.clone(),
                    _ => continue,
                }
            } else {
                src.key.clone()
            };
            if key.is_empty() {
                continue;
            }
            if c.version.is_none() {
                c.version = version_of.get(&(key.clone(), src.course_id)).copied();
            }
            if let (Some(k), Some(n)) = (c.version, newest.get(&key)) {
                if *n > k && c.state != "catalog" {
                    c.newer_version = Some(*n);
                }
            }
        }
    }
}

/// The sessions list of a course: needs one of `publishflow:publish`, `publishflow:deploy`,
/// `publishflow:manage` or `course:update` on it (people who follow a learning path).
pub async fn sessions_list(
    p: &Platform,
    actor: &Actor,
    course: CourseId,
) -> Result<SessionsList, AppError> {
    let record = p.store.course(course).await?;
    let mut allowed = false;
    for cap in [
        Capability::Publish,
        Capability::Deploy,
        Capability::Manage,
        Capability::CourseUpdate,
    ] {
        allowed = allowed || p.can(actor, cap, Context::Course(course)).await?;
    }
    if !allowed {
        return Err(AppError::forbidden(Capability::Deploy));
    }
    if record.idnumber.is_empty() {
        return Err(AppError::bad_request(
            "the course has no idnumber: run `course index` first",
        ));
    }
    let idnumber = record.idnumber.as_str().to_string();
    let mine = local_copies(p, &idnumber).await?;
    let mut platforms = vec![PlatformCopies {
        platform: mine.platform,
        key: mine.key,
        peer_id: None,
        status: "ok".into(),
        error: None,
        copies: mine.copies,
    }];
    let query = serde_urlencoded::to_string([("idnumber", idnumber.as_str())])
        .map_err(AppError::internal)?;
    let path = format!("/rpc/sessions?{query}");
    let caller = PeerCaller::new(p)?;
    let peers: Vec<_> = p
        .store
        .peers()
        .await?
        .into_iter()
        .filter(|r| r.status == PeerStatus::Active)
        .collect();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, peer) in peers.iter().enumerate() {
        let (caller, peer, path) = (caller.clone(), peer.clone(), path.clone());
        tasks.spawn(async move {
            let ask = caller.get_json::<LocalCopies>(&peer, &path, None);
            let answer = match tokio::time::timeout(ASK_TIMEOUT, ask).await {
                Ok(answer) => answer,
                Err(_) => Err(AppError::new(
                    pf_api::ErrorCode::PeerUnreachable,
                    format!("peer {} did not answer in time", peer.name),
                )),
            };
            (i, answer)
        });
    }
    let mut answers: Vec<Option<Result<LocalCopies, AppError>>> =
        peers.iter().map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        let (i, answer) = done.map_err(AppError::internal)?;
        answers[i] = Some(answer);
    }
    let answers = answers
        .into_iter()
        .map(|a| a.unwrap_or_else(|| Err(AppError::internal("a peer query vanished"))));
    for (peer, answer) in peers.iter().zip(answers) {
        platforms.push(match answer {
            Ok(a) => PlatformCopies {
                platform: a.platform,
                key: peer.key_id.clone(),
                peer_id: Some(peer.id.0),
                status: "ok".into(),
                error: None,
                copies: a.copies,
            },
            Err(e) => PlatformCopies {
                platform: peer.name.clone(),
                key: peer.key_id.clone(),
                peer_id: Some(peer.id.0),
                status: "unavailable".into(),
                error: Some(serde_json::json!({ "code": e.code.as_str(), "message": e.message })),
                copies: Vec::new(),
            },
        });
    }
    resolve_versions(&mut platforms);
    Ok(SessionsList {
        course_id: course.0,
        idnumber,
        platforms,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A copy; its source is (platform key, course there); the key's first word is its name.
    fn copy(id: i64, version: Option<i64>, state: &str, source: Option<(&str, i64)>) -> CopyDoc {
        CopyDoc {
            course_id: id,
            shortname: format!("c{id}"),
            fullname: String::new(),
            category: 1,
            visible: true,
            version,
            state: state.into(),
            source: source.map(|(k, c)| CopySource {
                platform: k.split('#').next().unwrap_or(k).into(),
                key: k.into(),
                course_id: c,
                operation: "deploy".into(),
            }),
            newer_version: None,
            names_withheld: false,
        }
    }

    fn platform(key: &str, copies: Vec<CopyDoc>) -> PlatformCopies {
        PlatformCopies {
            platform: key.split('#').next().unwrap_or(key).into(),
            key: key.into(),
            peer_id: Some(1),
            status: "ok".into(),
            error: None,
            copies,
        }
    }

    #[test]
    fn a_training_copy_of_version_k_learns_of_k_plus_one() {
        let mut list = vec![
            platform(
                "cat#1",
                vec![
                    copy(10, Some(1), "catalog", Some(("fac#1", 1))),
                    copy(11, Some(2), "catalog", Some(("fac#1", 1))),
                ],
            ),
            platform(
                "train#1",
                vec![
                    copy(5, None, "running", Some(("cat#1", 10))),
                    copy(6, None, "incoming", Some(("cat#1", 11))),
                ],
            ),
        ];
        resolve_versions(&mut list);
        let t = &list[1].copies;
        assert_eq!((t[0].version, t[0].newer_version), (Some(1), Some(2)));
        assert_eq!((t[1].version, t[1].newer_version), (Some(2), None));
        assert_eq!(list[0].copies[0].newer_version, None);
    }

    #[test]
    fn two_catalogs_of_one_name_are_told_apart_by_their_keys() {
        // Both catalogs are named "cat" and hold version 1 as their course 10; only the first
        // holds version 2. A copy deployed from the second is up to date.
        let mut list = vec![
            platform(
                "cat#1",
                vec![
                    copy(10, Some(1), "catalog", None),
                    copy(11, Some(2), "catalog", None),
                ],
            ),
            platform("cat#2", vec![copy(10, Some(1), "catalog", None)]),
            platform(
                "train#1",
                vec![
                    copy(5, None, "running", Some(("cat#2", 10))),
                    copy(6, None, "running", Some(("cat#1", 10))),
                ],
            ),
        ];
        resolve_versions(&mut list);
        let t = &list[2].copies;
        assert_eq!((t[0].version, t[0].newer_version), (Some(1), None));
        assert_eq!((t[1].version, t[1].newer_version), (Some(1), Some(2)));
        // A source recorded without a key is matched by name only when the name is unique.
        let mut keyless = copy(7, None, "running", Some(("cat#1", 11)));
        keyless.source.as_mut().unwrap().key.clear();
        list[2].copies = vec![keyless];
        resolve_versions(&mut list);
        assert_eq!(list[2].copies[0].version, None);
        list.remove(1);
        resolve_versions(&mut list);
        assert_eq!(list[1].copies[0].version, Some(2));
    }
}
