-- Transport archives (SPEC §5.2): one row per archive of a course, newest counter last.
CREATE TABLE course_archives (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id       INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    counter         INTEGER NOT NULL,
    manifest        TEXT NOT NULL,
    skeleton_sha256 TEXT NOT NULL,
    size            INTEGER NOT NULL,
    sha256          TEXT NOT NULL,
    signature       TEXT,
    origin          TEXT NOT NULL DEFAULT 'made',
    refs            INTEGER NOT NULL DEFAULT 0 CHECK (refs >= 0),
    created_at      INTEGER NOT NULL,
    UNIQUE (course_id, counter)
);
CREATE INDEX course_archives_course ON course_archives (course_id);
