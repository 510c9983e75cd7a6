-- Course sessions (SPEC §5.6) and mail (SPEC §7), SQLite flavour.

-- Each close of a course's session; `reopened_at` is set by the next open, which undoes what
-- the closes since the previous open did (role switches, guest access they granted).
CREATE TABLE session_closes (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    course_id     INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    mode          TEXT NOT NULL CHECK (mode IN ('private', 'protected', 'public')),
    guest_granted INTEGER NOT NULL DEFAULT 0 CHECK (guest_granted IN (0, 1)),
    closed_at     INTEGER NOT NULL,
    reopened_at   INTEGER
);
CREATE INDEX session_closes_course ON session_closes (course_id, reopened_at);

-- The student assignments a close switched to disabledstudent: exactly those are switched back.
CREATE TABLE session_switches (
    close_id         INTEGER NOT NULL REFERENCES session_closes (id) ON DELETE CASCADE,
    course_id        INTEGER NOT NULL REFERENCES courses (id) ON DELETE CASCADE,
    user_id          INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    already_disabled INTEGER NOT NULL DEFAULT 0 CHECK (already_disabled IN (0, 1)),
    restored_at      INTEGER,
    PRIMARY KEY (close_id, user_id)
);
CREATE INDEX session_switches_course ON session_switches (course_id, restored_at);

-- Mail waiting for delivery, delivered, or kept when no SMTP server is configured.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    subject         TEXT NOT NULL,
    text_body       TEXT NOT NULL,
    html_body       TEXT NOT NULL,
    headers         TEXT NOT NULL DEFAULT '{}',
    created_at      INTEGER NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    sent_at         INTEGER,
    last_error      TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (sent_at, next_attempt_at);

-- Admin-edited mail templates, per message kind and language (defaults live in the code).
CREATE TABLE mail_templates (
    kind       TEXT NOT NULL,
    lang       TEXT NOT NULL,
    subject    TEXT NOT NULL,
    text_body  TEXT NOT NULL,
    html_body  TEXT NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (kind, lang)
);
