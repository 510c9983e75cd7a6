-- publishflow schema, SQLite flavour. Times are unix seconds (UTC); flags are 0/1 integers;
-- JSON documents are text (the Any driver reads neither BOOLEAN nor JSONB on both backends).

CREATE TABLE settings (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
);

CREATE TABLE categories (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    parent_id  INTEGER REFERENCES categories (id) ON DELETE RESTRICT,
    name       TEXT NOT NULL,
    idnumber   TEXT NOT NULL DEFAULT '',
    visible    INTEGER NOT NULL DEFAULT 1 CHECK (visible IN (0, 1)),
    sort_order INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX categories_idnumber ON categories (idnumber) WHERE idnumber <> '';
CREATE INDEX categories_parent ON categories (parent_id);

CREATE TABLE courses (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    category_id     INTEGER NOT NULL REFERENCES categories (id) ON DELETE RESTRICT,
    fullname        TEXT NOT NULL,
    shortname       TEXT NOT NULL UNIQUE,
    idnumber        TEXT NOT NULL DEFAULT '',
    summary         TEXT NOT NULL DEFAULT '',
    format          TEXT NOT NULL DEFAULT 'topics',
    start_date      INTEGER NOT NULL DEFAULT 0,
    end_date        INTEGER NOT NULL DEFAULT 0,
    lang            TEXT NOT NULL DEFAULT '',
    visible         INTEGER NOT NULL DEFAULT 1 CHECK (visible IN (0, 1)),
    guest_access    INTEGER NOT NULL DEFAULT 0 CHECK (guest_access IN (0, 1)),
    archive_payload TEXT,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    deleted_at      INTEGER
);
CREATE INDEX courses_category ON courses (category_id);
CREATE INDEX courses_idnumber ON courses (idnumber);
CREATE INDEX courses_deleted ON courses (deleted_at);

CREATE TABLE sections (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    number    INTEGER NOT NULL,
    name      TEXT NOT NULL DEFAULT '',
    summary   TEXT NOT NULL DEFAULT '',
    visible   INTEGER NOT NULL DEFAULT 1 CHECK (visible IN (0, 1)),
    payload   TEXT,
    UNIQUE (course_id, number)
);

CREATE TABLE activities (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id  INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    section_id INTEGER NOT NULL REFERENCES sections (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    module     TEXT NOT NULL,
    name       TEXT NOT NULL,
    intro      TEXT NOT NULL DEFAULT '',
    visible    INTEGER NOT NULL DEFAULT 1 CHECK (visible IN (0, 1)),
    payload    TEXT NOT NULL DEFAULT 'null'
);
CREATE INDEX activities_course ON activities (course_id);
CREATE INDEX activities_section ON activities (section_id, position);

CREATE TABLE files (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id   INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    activity_id INTEGER REFERENCES activities (id) ON DELETE CASCADE,
    sha256      TEXT NOT NULL,
    sha1        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    filename    TEXT NOT NULL,
    filepath    TEXT NOT NULL DEFAULT '/',
    mimetype    TEXT NOT NULL DEFAULT '',
    component   TEXT NOT NULL DEFAULT '',
    filearea    TEXT NOT NULL DEFAULT '',
    itemid      INTEGER NOT NULL DEFAULT 0,
    author      TEXT NOT NULL DEFAULT '',
    license     TEXT NOT NULL DEFAULT ''
);
CREATE INDEX files_course ON files (course_id);
CREATE INDEX files_sha256 ON files (sha256);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT NOT NULL,
    home_peer     INTEGER,
    password_hash TEXT,
    email         TEXT NOT NULL DEFAULT '',
    fullname      TEXT NOT NULL DEFAULT '',
    lang          TEXT NOT NULL DEFAULT '',
    disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at    INTEGER NOT NULL,
    CHECK (home_peer IS NULL OR password_hash IS NULL)
);
CREATE UNIQUE INDEX users_local_username ON users (username) WHERE home_peer IS NULL;
CREATE UNIQUE INDEX users_roaming_username ON users (username, home_peer) WHERE home_peer IS NOT NULL;

CREATE TABLE profile_fields (
    key    TEXT PRIMARY KEY NOT NULL,
    editor TEXT NOT NULL CHECK (editor IN ('admin', 'user'))
);

CREATE TABLE profile_values (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key     TEXT NOT NULL REFERENCES profile_fields (key) ON DELETE CASCADE,
    value   TEXT NOT NULL,
    PRIMARY KEY (user_id, key)
);

CREATE TABLE role_assignments (
    user_id     INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    context_key TEXT NOT NULL,
    category_id INTEGER REFERENCES categories (id) ON DELETE CASCADE,
    course_id   INTEGER REFERENCES courses (id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, role, context_key)
);
CREATE INDEX role_assignments_course ON role_assignments (course_id);

CREATE TABLE role_capabilities (
    role       TEXT NOT NULL,
    capability TEXT NOT NULL,
    PRIMARY KEY (role, capability)
);

CREATE TABLE enrolments (
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    course_id  INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    method     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, course_id, method)
);
CREATE INDEX enrolments_course ON enrolments (course_id);

CREATE TABLE sessions (
    id_hash    TEXT PRIMARY KEY NOT NULL,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf_token TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    lang       TEXT
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE failed_logins (
    key TEXT NOT NULL,
    at  INTEGER NOT NULL
);
CREATE INDEX failed_logins_key ON failed_logins (key, at);

CREATE TABLE api_tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX api_tokens_user ON api_tokens (user_id);

CREATE TABLE audit_log (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    peer_id INTEGER,
    job_id  INTEGER,
    result  TEXT NOT NULL,
    details TEXT NOT NULL
);
CREATE INDEX audit_log_at ON audit_log (at);
