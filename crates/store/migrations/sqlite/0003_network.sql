-- The network (SPEC §5.9, §6): paired peers and their grants, pairing codes, request nonces,
-- synced remote category trees and explicit identity links.

CREATE TABLE peers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    url        TEXT NOT NULL,
    public_key TEXT NOT NULL,
    key_id     TEXT NOT NULL UNIQUE,
    role       TEXT,
    status     TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'disabled', 'removed')),
    created_at INTEGER NOT NULL,
    last_scan  INTEGER,
    last_error TEXT
);

CREATE TABLE peer_grants (
    peer_id INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    grant_name TEXT NOT NULL CHECK (grant_name IN ('publish', 'deploy', 'retrofit', 'sessions')),
    PRIMARY KEY (peer_id, grant_name)
);

CREATE TABLE pairing_codes (
    digest          TEXT PRIMARY KEY NOT NULL,
    proof_key       TEXT,
    created_at      INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    failed_attempts INTEGER NOT NULL DEFAULT 0,
    used_at         INTEGER
);

CREATE TABLE rpc_nonces (
    caller     TEXT NOT NULL,
    nonce      TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (caller, nonce)
);
CREATE INDEX rpc_nonces_expires ON rpc_nonces (expires_at);

CREATE TABLE remote_categories (
    peer_id   INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    remote_id INTEGER NOT NULL,
    parent_id INTEGER,
    name      TEXT NOT NULL,
    idnumber  TEXT NOT NULL DEFAULT '',
    path      TEXT NOT NULL,
    sort_order INTEGER NOT NULL,
    PRIMARY KEY (peer_id, remote_id)
);

CREATE TABLE identity_links (
    username   TEXT NOT NULL,
    peer_id    INTEGER NOT NULL REFERENCES peers (id) ON DELETE CASCADE,
    user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (username, peer_id)
);
