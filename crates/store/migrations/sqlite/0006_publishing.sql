-- Publishing (SPEC §5.3, §5.4, §5.8): publication series on catalogs (one per idnumber, owned by
-- the source that opened it, with the versions it restored and the sources a manager linked),
-- lineage edges recorded by every transfer on both sides, and per-course publishing settings.

CREATE TABLE publication_series (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    idnumber   TEXT NOT NULL UNIQUE,
    source     TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE publication_links (
    series_id INTEGER NOT NULL REFERENCES publication_series (id) ON DELETE CASCADE,
    source    TEXT NOT NULL,
    PRIMARY KEY (series_id, source)
);

CREATE TABLE publication_versions (
    series_id  INTEGER NOT NULL REFERENCES publication_series (id) ON DELETE CASCADE,
    number     INTEGER NOT NULL,
    course_id  INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (series_id, number)
);
CREATE INDEX publication_versions_course ON publication_versions (course_id);

CREATE TABLE lineage (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    operation       TEXT NOT NULL,
    source_platform TEXT NOT NULL,
    source_course   INTEGER NOT NULL,
    archive_sha256  TEXT NOT NULL,
    archive_counter INTEGER NOT NULL,
    version         INTEGER,
    target_platform TEXT NOT NULL,
    target_course   INTEGER NOT NULL,
    local_course    INTEGER NOT NULL,
    actor           TEXT NOT NULL,
    job_key         TEXT NOT NULL,
    created_at      INTEGER NOT NULL
);
CREATE INDEX lineage_local ON lineage (local_course);

CREATE TABLE course_publishing (
    course_id       INTEGER PRIMARY KEY REFERENCES courses (id) ON DELETE CASCADE,
    deploy_key_hash TEXT,
    free_category   INTEGER NOT NULL DEFAULT 1 CHECK (free_category IN (0, 1)),
    hook_failed     INTEGER NOT NULL DEFAULT 0 CHECK (hook_failed IN (0, 1))
);
