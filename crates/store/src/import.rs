//! Whole-course arrival in one transaction: a restore (import, publish, deploy, retrofit) builds
//! the course with its sections, activities and file rows and commits it at once, so nobody ever
//! sees half a course. Blobs must already be in the blob store (written before the rows).

use crate::activities::{append as append_activity, NewActivity};
use crate::courses::{insert_arrival, NewCourse};
use crate::files::{check_hashes, insert as insert_file, NewFile};
use crate::sections::{append as append_section, NewSection};
use crate::{Store, StoreError, StoreResult};
use pf_domain::course::Shortname;
use pf_domain::ids::{ActivityId, CourseId, SectionId};

/// A course to build in one transaction.
#[derive(Debug, Clone, PartialEq)]
pub struct CourseTree {
    /// The course; its short name is renumbered if taken (arrival rule).
    pub course: NewCourse,
    /// Its sections in order: the first becomes section 0.
    pub sections: Vec<TreeSection>,
    /// Its files.
    pub files: Vec<TreeFile>,
}

/// A section of a [`CourseTree`].
#[derive(Debug, Clone, PartialEq)]
pub struct TreeSection {
    /// Name.
    pub name: String,
    /// Summary HTML.
    pub summary: String,
    /// Visible to students.
    pub visible: bool,
    /// The archive layer's remaining settings.
    pub payload: serde_json::Value,
    /// Its activities in order.
    pub activities: Vec<TreeActivity>,
}

/// An activity of a [`TreeSection`].
#[derive(Debug, Clone, PartialEq)]
pub struct TreeActivity {
    /// Module name.
    pub module: String,
    /// Name.
    pub name: String,
    /// Intro HTML.
    pub intro: String,
    /// Visible to students.
    pub visible: bool,
    /// The module's remaining settings.
    pub payload: serde_json::Value,
}

/// A file of a [`CourseTree`]: `file.course` and `file.activity` are ignored and filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeFile {
    /// The activity it belongs to, as (section index, activity index) in the tree; `None` for a
    /// course-level file.
    pub activity: Option<(usize, usize)>,
    /// Everything else about the file.
    pub file: NewFile,
}

/// What [`Store::import_course`] created, with ids in the tree's order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedCourse {
    /// The course.
    pub id: CourseId,
    /// The short name it got (different from the requested one when that was taken).
    pub shortname: Shortname,
    /// Section ids, in tree order.
    pub sections: Vec<SectionId>,
    /// Activity ids per section, in tree order.
    pub activities: Vec<Vec<ActivityId>>,
    /// File row ids, in tree order.
    pub files: Vec<i64>,
}

/// Ids of the content written by [`insert_content`], in tree order.
pub(crate) struct ContentIds {
    pub(crate) sections: Vec<SectionId>,
    pub(crate) activities: Vec<Vec<ActivityId>>,
    pub(crate) files: Vec<i64>,
}

/// Refuses a tree whose files are not well formed or point to activities it does not have.
pub(crate) fn check_content(sections: &[TreeSection], files: &[TreeFile]) -> StoreResult<()> {
    for f in files {
        check_hashes(&f.file)?;
        if let Some((s, a)) = f.activity {
            if sections
                .get(s)
                .is_none_or(|sec| sec.activities.get(a).is_none())
            {
                return Err(StoreError::Invalid(format!(
                    "file '{}' points to activity {a} of section {s}, which the course does not have",
                    f.file.filename
                )));
            }
        }
    }
    Ok(())
}

/// Writes sections, activities and file rows of `course` inside the caller's transaction.
pub(crate) async fn insert_content(
    tx: &mut sqlx::Transaction<'static, sqlx::Any>,
    course: CourseId,
    sections: Vec<TreeSection>,
    files: Vec<TreeFile>,
) -> StoreResult<ContentIds> {
    let mut ids = ContentIds {
        sections: Vec::with_capacity(sections.len()),
        activities: Vec::with_capacity(sections.len()),
        files: Vec::with_capacity(files.len()),
    };
    for s in sections {
        let new = NewSection {
            course,
            name: s.name,
            summary: s.summary,
            visible: s.visible,
            payload: s.payload,
        };
        let section = append_section(tx, &new).await?.id;
        let mut activity_ids = Vec::with_capacity(s.activities.len());
        for a in s.activities {
            let new = NewActivity {
                course,
                section,
                module: a.module,
                name: a.name,
                intro: a.intro,
                visible: a.visible,
                payload: a.payload,
            };
            activity_ids.push(append_activity(tx, &new).await?);
        }
        ids.sections.push(section);
        ids.activities.push(activity_ids);
    }
    for f in files {
        let activity = f.activity.map(|(s, a)| ids.activities[s][a]);
        ids.files.push(
            insert_file(
                tx,
                &NewFile {
                    course,
                    activity,
                    ..f.file
                },
            )
            .await?,
        );
    }
    Ok(ids)
}

impl Store {
    /// Builds a whole arriving course in one transaction (see the module docs). Nothing is
    /// written if any part is refused.
    pub async fn import_course(&self, tree: CourseTree) -> StoreResult<ImportedCourse> {
        check_content(&tree.sections, &tree.files)?;
        let mut tx = self.write_tx().await?;
        let (course, shortname) = insert_arrival(&mut tx, &tree.course).await?;
        let ids = insert_content(&mut tx, course, tree.sections, tree.files).await?;
        tx.commit().await?;
        Ok(ImportedCourse {
            id: course,
            shortname,
            sections: ids.sections,
            activities: ids.activities,
            files: ids.files,
        })
    }
}
