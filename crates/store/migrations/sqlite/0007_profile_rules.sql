-- Profile rules (SPEC §8): conditions on trusted profile fields that grant consult or deploy on
-- a category (and everything below it) or a course; and, per peer, the profile fields this
-- platform's admin trusts from that peer's users.

CREATE TABLE profile_rules (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    context_level TEXT NOT NULL CHECK (context_level IN ('category', 'course')),
    context_id    INTEGER NOT NULL,
    grant_kind    TEXT NOT NULL CHECK (grant_kind IN ('consult', 'deploy')),
    expression    TEXT NOT NULL,
    created_at    INTEGER NOT NULL
);
CREATE INDEX profile_rules_context ON profile_rules (context_level, context_id);

CREATE TABLE trusted_fields (
    peer_id INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    field   TEXT NOT NULL,
    PRIMARY KEY (peer_id, field)
);
