-- Mutualisation (SPEC §8): signed jumps already used (single use, kept until they expire, shared
-- by every replica on this database), and, per roaming account, when it was last seen and the
-- delegation its home gave us at the last jump (presented when we deploy to that home for it).

CREATE TABLE used_jumps (
    jump_id    TEXT PRIMARY KEY,
    expires_at BIGINT NOT NULL
);
CREATE INDEX used_jumps_expiry ON used_jumps (expires_at);

CREATE TABLE roaming_presence (
    user_id            BIGINT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    last_seen          BIGINT NOT NULL,
    delegation         TEXT,
    delegation_id      TEXT,
    delegation_expires BIGINT
);
CREATE INDEX roaming_presence_seen ON roaming_presence (last_seen);
