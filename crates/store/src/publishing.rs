//! Publishing (SPEC §5.3, §5.4, §5.8): the one transaction that builds a course received from a
//! peer (course, content, the received archive with its signature, the publication version and
//! the hiding of older versions, the deploying user's enrolment, the lineage edge), publication
//! series on catalogs, lineage edges, and per-course publishing settings (deploy key hash, free
//! category choice).

use crate::courses::insert_arrival;
use crate::error::on_write;
use crate::import::{check_content, insert_content, CourseTree, ImportedCourse};
use crate::{Store, StoreError, StoreResult};
use pf_domain::ids::{CourseId, UserId};
use sqlx::any::AnyRow;
use sqlx::Row;

/// The received archive kept as the new course's current archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedArchive {
    /// The manifest's canonical JSON as the sender signed it (without the signature).
    pub manifest: String,
    /// The skeleton part's key.
    pub skeleton_sha256: String,
    /// Total size of the parts.
    pub size: i64,
    /// SHA-256 of the signing bytes.
    pub sha256: String,
    /// The sender's signature over the signing bytes.
    pub signature: String,
}

/// The publication version a received course becomes (catalogs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewVersion {
    /// The series' idnumber.
    pub idnumber: String,
    /// The source (key id) opening the series if it does not exist yet.
    pub source: String,
    /// The version number.
    pub number: i64,
    /// Courses hidden when this version commits (older versions, on update).
    pub hide: Vec<CourseId>,
}

/// A lineage edge (SPEC §5.8). `local_course` is the course of this platform it touches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lineage {
    /// `publish`, `deploy` or `retrofit`.
    pub operation: String,
    /// Source platform name (for display: names are not unique).
    pub source_platform: String,
    /// Source platform key id (what matching goes by; empty on edges older than migration 15).
    pub source_key: String,
    /// Course id on the source.
    pub source_course: i64,
    /// SHA-256 of the archive's manifest.
    pub archive_sha256: String,
    /// The archive's counter on its maker.
    pub archive_counter: i64,
    /// The publication version, for publications.
    pub version: Option<i64>,
    /// Target platform name (for display).
    pub target_platform: String,
    /// Target platform key id (empty on edges older than migration 15).
    pub target_key: String,
    /// Course id on the target.
    pub target_course: i64,
    /// This platform's course the edge is about (filled in by the receiving transaction).
    pub local_course: i64,
    /// Who (`user@platform`).
    pub actor: String,
    /// The job's idempotency key.
    pub job_key: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// Everything a received course is built from, applied in one transaction.
#[derive(Debug, Clone)]
pub struct ReceivedCourse {
    /// The course (its `visible` says how it arrives).
    pub tree: CourseTree,
    /// The archive it came in.
    pub archive: ReceivedArchive,
    /// The publication version (catalogs), if any.
    pub version: Option<NewVersion>,
    /// An account to enrol with a role (deploys).
    pub enrol: Option<(UserId, String)>,
    /// The lineage edge; `target_course` and `local_course` are filled in.
    pub lineage: Lineage,
}

/// A publication series as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesRecord {
    /// Id.
    pub id: i64,
    /// The idnumber.
    pub idnumber: String,
    /// The owning source (key id).
    pub source: String,
    /// Linked sources.
    pub linked: Vec<String>,
    /// (number, course, visible), oldest first.
    pub versions: Vec<(i64, CourseId, bool)>,
}

async fn insert_lineage(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    l: &Lineage,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO lineage (operation, source_platform, source_course, archive_sha256,
             archive_counter, version, target_platform, target_course, local_course, actor, job_key,
             created_at, source_key, target_key)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)",
    )
    .bind(&l.operation)
    .bind(&l.source_platform)
    .bind(l.source_course)
    .bind(&l.archive_sha256)
    .bind(l.archive_counter)
    .bind(l.version)
    .bind(&l.target_platform)
    .bind(l.target_course)
    .bind(l.local_course)
    .bind(&l.actor)
    .bind(&l.job_key)
    .bind(l.created_at)
    .bind(&l.source_key)
    .bind(&l.target_key)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

fn lineage_row(r: &AnyRow) -> StoreResult<Lineage> {
    Ok(Lineage {
        operation: r.try_get("operation")?,
        source_platform: r.try_get("source_platform")?,
        source_key: r.try_get("source_key")?,
        source_course: r.try_get("source_course")?,
        archive_sha256: r.try_get("archive_sha256")?,
        archive_counter: r.try_get("archive_counter")?,
        version: r.try_get("version")?,
        target_platform: r.try_get("target_platform")?,
        target_key: r.try_get("target_key")?,
        target_course: r.try_get("target_course")?,
        local_course: r.try_get("local_course")?,
        actor: r.try_get("actor")?,
        job_key: r.try_get("job_key")?,
        created_at: r.try_get("created_at")?,
    })
}

impl Store {
    /// Builds a received course in one transaction: the course (arrival naming), its content,
    /// the received archive as its current archive, the publication version (hiding the older
    /// ones), the enrolment and the lineage edge. Nothing is written if any part fails.
    pub async fn receive_course(&self, r: ReceivedCourse) -> StoreResult<ImportedCourse> {
        self.receive_course_holding(r, None).await
    }

    /// [`Store::receive_course`], holding the open transaction for `hold` just before it commits.
    /// Only the kill-during-restore test uses a hold (the server's
    /// `[transfer] test_hold_in_commit_ms` setting): a process killed then must leave nothing.
    pub async fn receive_course_holding(
        &self,
        r: ReceivedCourse,
        hold: Option<std::time::Duration>,
    ) -> StoreResult<ImportedCourse> {
        check_content(&r.tree.sections, &r.tree.files)?;
        let mut tx = self.write_tx().await?;
        let (course, shortname) = insert_arrival(&mut tx, &r.tree.course).await?;
        let ids = insert_content(&mut tx, course, r.tree.sections, r.tree.files).await?;
        let a = &r.archive;
        sqlx::query(
            "INSERT INTO course_archives (course_id, counter, manifest, skeleton_sha256, size,
                 sha256, signature, origin, created_at)
             VALUES ($1, 1, $2, $3, $4, $5, $6, 'received', $7)",
        )
        .bind(course.0)
        .bind(&a.manifest)
        .bind(&a.skeleton_sha256)
        .bind(a.size)
        .bind(&a.sha256)
        .bind(&a.signature)
        .bind(r.lineage.created_at)
        .execute(&mut *tx)
        .await?;
        if let Some(v) = &r.version {
            let existing = sqlx::query("SELECT id FROM publication_series WHERE idnumber = $1")
                .bind(&v.idnumber)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .next();
            let series: i64 = match existing {
                Some(row) => row.try_get(0)?,
                None => sqlx::query(
                    "INSERT INTO publication_series (idnumber, source, created_at)
                     VALUES ($1, $2, $3) RETURNING id",
                )
                .bind(&v.idnumber)
                .bind(&v.source)
                .bind(r.lineage.created_at)
                .fetch_all(&mut *tx)
                .await
                .and_then(|rows| rows.into_iter().next().ok_or(sqlx::Error::RowNotFound))
                .map_err(|e| on_write(e, || format!("series {}", v.idnumber), String::new))?
                .try_get(0)?,
            };
            sqlx::query(
                "INSERT INTO publication_versions (series_id, number, course_id, created_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(series)
            .bind(v.number)
            .bind(course.0)
            .bind(r.lineage.created_at)
            .execute(&mut *tx)
            .await
            .map_err(|e| {
                on_write(
                    e,
                    || format!("version {} of {}", v.number, v.idnumber),
                    String::new,
                )
            })?;
            for old in &v.hide {
                sqlx::query("UPDATE courses SET visible = 0, updated_at = $2 WHERE id = $1")
                    .bind(old.0)
                    .bind(r.lineage.created_at)
                    .execute(&mut *tx)
                    .await?;
            }
        }
        if let Some((user, role)) = &r.enrol {
            sqlx::query(
                "INSERT INTO role_assignments (user_id, role, context_key, category_id, course_id)
                 VALUES ($1, $2, $3, NULL, $4) ON CONFLICT (user_id, role, context_key) DO NOTHING",
            )
            .bind(user.0)
            .bind(role)
            .bind(format!("course:{course}"))
            .bind(course.0)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO enrolments (user_id, course_id, method, created_at)
                 VALUES ($1, $2, 'deploy', $3) ON CONFLICT (user_id, course_id, method) DO NOTHING",
            )
            .bind(user.0)
            .bind(course.0)
            .bind(r.lineage.created_at)
            .execute(&mut *tx)
            .await?;
        }
        let mut edge = r.lineage.clone();
        edge.target_course = course.0;
        edge.local_course = course.0;
        insert_lineage(&mut tx, &edge).await?;
        if let Some(hold) = hold {
            tokio::time::sleep(hold).await;
        }
        tx.commit().await?;
        Ok(ImportedCourse {
            id: course,
            shortname,
            sections: ids.sections,
            activities: ids.activities,
            files: ids.files,
        })
    }

    /// Records a lineage edge (the sender's side of a transfer).
    pub async fn add_lineage(&self, edge: &Lineage) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        insert_lineage(&mut tx, edge).await?;
        tx.commit().await?;
        Ok(())
    }

    /// The lineage edges touching a course of this platform, oldest first.
    pub async fn lineage(&self, course: CourseId) -> StoreResult<Vec<Lineage>> {
        let rows = sqlx::query("SELECT * FROM lineage WHERE local_course = $1 ORDER BY id")
            .bind(course.0)
            .fetch_all(self.pool())
            .await?;
        rows.iter().map(lineage_row).collect()
    }

    /// Where courses of this catalog were published from: the source platform's name of the
    /// publish edge that created each of `courses` (courses not created by a publication are
    /// absent). Lists show it as the course's establishment (SPEC §8).
    pub async fn publication_sources(
        &self,
        courses: &[CourseId],
    ) -> StoreResult<std::collections::HashMap<i64, String>> {
        let mut sources = std::collections::HashMap::new();
        if courses.is_empty() {
            return Ok(sources);
        }
        let ids = courses
            .iter()
            .map(|c| c.0.to_string())
            .collect::<Vec<_>>()
            .join(",");
        // `ids` are integers formatted here, never input.
        let rows = sqlx::query(&format!(
            "SELECT local_course, source_platform FROM lineage
             WHERE operation = 'publish' AND target_course = local_course AND local_course IN ({ids})
             ORDER BY id"
        ))
        .fetch_all(self.pool())
        .await?;
        for row in rows {
            sources
                .entry(row.try_get::<i64, _>("local_course")?)
                .or_insert(row.try_get::<String, _>("source_platform")?);
        }
        Ok(sources)
    }

    /// The edges this platform recorded towards a course of the platform whose key id is `key`
    /// (names are not unique), oldest first.
    pub async fn lineage_to_key(&self, key: &str, course: i64) -> StoreResult<Vec<Lineage>> {
        let rows = sqlx::query(
            "SELECT * FROM lineage WHERE target_key = $1 AND target_course = $2 ORDER BY id",
        )
        .bind(key)
        .bind(course)
        .fetch_all(self.pool())
        .await?;
        rows.iter().map(lineage_row).collect()
    }

    /// Whether a transfer with this job key already left an edge (idempotent senders).
    pub async fn lineage_by_key(&self, job_key: &str) -> StoreResult<Option<Lineage>> {
        let row = sqlx::query("SELECT * FROM lineage WHERE job_key = $1 ORDER BY id LIMIT 1")
            .bind(job_key)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next();
        row.as_ref().map(lineage_row).transpose()
    }

    /// The publication series of an idnumber, if any.
    pub async fn publication_series(&self, idnumber: &str) -> StoreResult<Option<SeriesRecord>> {
        let Some(row) =
            sqlx::query("SELECT id, source FROM publication_series WHERE idnumber = $1")
                .bind(idnumber)
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .next()
        else {
            return Ok(None);
        };
        let id: i64 = row.try_get(0)?;
        let linked = sqlx::query("SELECT source FROM publication_links WHERE series_id = $1")
            .bind(id)
            .fetch_all(self.pool())
            .await?
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<_, _>>()?;
        let versions = sqlx::query(
            "SELECT v.number, v.course_id, c.visible FROM publication_versions v
             JOIN courses c ON c.id = v.course_id WHERE v.series_id = $1 AND c.deleted_at IS NULL
             ORDER BY v.number",
        )
        .bind(id)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| {
            Ok((
                r.try_get::<i64, _>(0)?,
                CourseId(r.try_get(1)?),
                r.try_get::<i64, _>(2)? != 0,
            ))
        })
        .collect::<StoreResult<_>>()?;
        Ok(Some(SeriesRecord {
            id,
            idnumber: idnumber.to_string(),
            source: row.try_get(1)?,
            linked,
            versions,
        }))
    }

    /// Lets another source act on a series (a catalog manager's link).
    pub async fn link_series(&self, idnumber: &str, source: &str) -> StoreResult<()> {
        let series = self
            .publication_series(idnumber)
            .await?
            .ok_or_else(|| StoreError::not_found(format!("series {idnumber}")))?;
        sqlx::query(
            "INSERT INTO publication_links (series_id, source) VALUES ($1, $2)
             ON CONFLICT (series_id, source) DO NOTHING",
        )
        .bind(series.id)
        .bind(source)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Shows or hides courses, all in one transaction.
    pub async fn set_courses_visible(
        &self,
        courses: &[CourseId],
        visible: bool,
        now: i64,
    ) -> StoreResult<()> {
        let mut tx = self.write_tx().await?;
        for c in courses {
            sqlx::query("UPDATE courses SET visible = $2, updated_at = $3 WHERE id = $1")
                .bind(c.0)
                .bind(i64::from(visible))
                .bind(now)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// A course's publishing settings: (deploy key hash, free category choice).
    pub async fn course_publishing(&self, course: CourseId) -> StoreResult<(Option<String>, bool)> {
        let row = sqlx::query(
            "SELECT deploy_key_hash, free_category FROM course_publishing WHERE course_id = $1",
        )
        .bind(course.0)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .next();
        match row {
            None => Ok((None, true)),
            Some(r) => Ok((r.try_get(0)?, r.try_get::<i64, _>(1)? != 0)),
        }
    }

    /// Changes a course's publishing settings (`None` leaves a field as it is; the key is
    /// `Some(None)` to remove it).
    pub async fn set_course_publishing(
        &self,
        course: CourseId,
        deploy_key_hash: Option<Option<String>>,
        free_category: Option<bool>,
    ) -> StoreResult<()> {
        let (old_key, old_free) = self.course_publishing(course).await?;
        let key = deploy_key_hash.unwrap_or(old_key);
        let free = free_category.unwrap_or(old_free);
        sqlx::query(
            "INSERT INTO course_publishing (course_id, deploy_key_hash, free_category)
             VALUES ($1, $2, $3) ON CONFLICT (course_id)
             DO UPDATE SET deploy_key_hash = $2, free_category = $3",
        )
        .bind(course.0)
        .bind(key)
        .bind(i64::from(free))
        .execute(self.pool())
        .await
        .map_err(|e| {
            on_write(
                e,
                || format!("course {course}"),
                || format!("course {course}"),
            )
        })?;
        Ok(())
    }
}

impl Store {
    /// Records the peer a job deals with (the sender of a received transfer).
    pub async fn set_job_peer(
        &self,
        job: pf_domain::ids::JobId,
        peer: pf_domain::ids::PeerId,
    ) -> StoreResult<()> {
        sqlx::query("UPDATE jobs SET peer_id = $2 WHERE id = $1")
            .bind(job.0)
            .bind(peer.0)
            .execute(self.pool())
            .await?;
        Ok(())
    }

    /// Flags a deployed course whose post-deploy hook failed (the course is kept).
    pub async fn flag_hook_failed(&self, course: CourseId) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO course_publishing (course_id, hook_failed) VALUES ($1, 1)
             ON CONFLICT (course_id) DO UPDATE SET hook_failed = 1",
        )
        .bind(course.0)
        .execute(self.pool())
        .await?;
        Ok(())
    }

    /// Whether a course's post-deploy hook failed.
    pub async fn hook_failed(&self, course: CourseId) -> StoreResult<bool> {
        let row = sqlx::query("SELECT hook_failed FROM course_publishing WHERE course_id = $1")
            .bind(course.0)
            .fetch_all(self.pool())
            .await?
            .into_iter()
            .next();
        Ok(match row {
            Some(r) => r.try_get::<i64, _>(0)? != 0,
            None => false,
        })
    }
}
