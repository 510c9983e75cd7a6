-- Jobs (SPEC §5): every operation is a persisted row, claimed by one runner with a conditional
-- UPDATE, with progress columns any replica can read. An idempotency key runs at most once.

CREATE TABLE jobs (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    kind             TEXT NOT NULL,
    idempotency_key  TEXT NOT NULL UNIQUE,
    state            TEXT NOT NULL DEFAULT 'queued',
    params           TEXT NOT NULL DEFAULT '{}',
    result           TEXT,
    error_code       TEXT,
    error_message    TEXT,
    actor            TEXT NOT NULL,
    actor_user_id    INTEGER,
    peer_id          INTEGER,
    serial_key       TEXT,
    throttle_class   TEXT,
    transport        TEXT,
    bytes_done       INTEGER NOT NULL DEFAULT 0,
    bytes_total      INTEGER NOT NULL DEFAULT 0,
    steps_done       INTEGER NOT NULL DEFAULT 0,
    steps_total      INTEGER NOT NULL DEFAULT 0,
    step             TEXT NOT NULL DEFAULT '',
    attempts         INTEGER NOT NULL DEFAULT 0,
    max_attempts     INTEGER NOT NULL DEFAULT 5,
    run_after        INTEGER NOT NULL DEFAULT 0,
    cancel_requested INTEGER NOT NULL DEFAULT 0 CHECK (cancel_requested IN (0, 1)),
    runner           TEXT,
    heartbeat_at     INTEGER,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    finished_at      INTEGER
);
CREATE INDEX jobs_claimable ON jobs (state, run_after);
CREATE INDEX jobs_serial ON jobs (serial_key, state);
